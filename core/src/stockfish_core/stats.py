"""Counters and latency samples kept per connector, cheap enough for the hot path."""

from __future__ import annotations

import array
import collections
import logging
import math
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ConnectorStats", "LatencySamples", "RateLimitedLog", "percentile"]


def percentile(sorted_values: list[int] | list[float], q: float) -> float | None:
    """The q-th percentile (0..100) of already sorted values, nearest-rank."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q / 100.0 * len(sorted_values)) - 1))
    return float(sorted_values[rank])


class LatencySamples:
    """The most recent ``size`` samples in nanoseconds; percentiles on demand.

    The samples are machine integers in a ring (8 bytes each, where a deque of Python
    ints costs about 40): the memory grows with the first ``size`` samples, then stays.
    """

    __slots__ = ("_ring", "_next", "size", "count")

    def __init__(self, size: int = 10_000) -> None:
        if size < 1:
            raise ValueError(f"LatencySamples needs room for at least one sample, not {size}")
        self._ring = array.array("q")
        self._next = 0
        self.size = size
        self.count = 0

    def add(self, value_ns: int) -> None:
        ring = self._ring
        if len(ring) < self.size:
            ring.append(value_ns)
        else:
            ring[self._next] = value_ns
            self._next = (self._next + 1) % self.size
        self.count += 1

    def __len__(self) -> int:
        return len(self._ring)

    @property
    def samples(self) -> list[int]:
        """The samples kept, oldest first."""
        ring = self._ring
        return [*ring[self._next:], *ring[:self._next]]

    def recent(self, n: int) -> list[int]:
        """The latest ``n`` samples (fewer if fewer were taken), newest first."""
        ring = self._ring
        n = min(n, len(ring))
        end = self._next if len(ring) == self.size else len(ring)
        out = [ring[(end - 1 - i) % len(ring)] for i in range(n)]
        return out

    def summary(self) -> dict[str, float | int | None]:
        """count, p50, p90, p99 and max, in microseconds."""
        values = sorted(self._ring)
        us = 1e3

        def at(q: float) -> float | None:
            v = percentile(values, q)
            return None if v is None else round(v / us, 1)

        return {
            "count": self.count,
            "p50_us": at(50),
            "p90_us": at(90),
            "p99_us": at(99),
            "max_us": round(values[-1] / us, 1) if values else None,
        }


class ConnectorStats:
    """Everything counted for one connector. Plain attributes: the hot path increments
    them directly."""

    __slots__ = (
        "updates_received", "updates_delivered", "by_type", "standby", "gaps", "lost",
        "duplicates", "out_of_order", "reordered", "restarts", "data_errors",
        "data_errors_by_reason", "venue_errors", "resubscribes", "stale_failovers",
        "stale_alerts", "orders_submitted", "orders_acknowledged",
        "orders_filled", "orders_cancelled", "orders_rejected", "orders_errored", "fills",
        "duplicate_fills",
        "fill_disagreements", "reconciled_fills",
        "position_checks", "position_differences", "external_executions",
        "reconnect_attempts", "reconnects", "disconnects", "last_update_ns", "connected_at_ns",
        "data_latency", "ack_latency", "fill_latency",
    )

    def __init__(self) -> None:
        self.updates_received = 0
        self.updates_delivered = 0
        self.by_type: dict[str, int] = collections.defaultdict(int)
        #: Updates of a symbol that another, preferred, feed is delivering.
        self.standby = 0
        #: Sequence accounting (stockfish_core.sequencing), counted once whether the
        #: manager or the plugin runs the sequencer: holes in the sequence, the numbers
        #: lost in them, messages dropped as already seen, messages that arrived ahead of
        #: a missing one (held back), held messages delivered in order, new streams
        #: (a restarted publisher) recognised.
        self.gaps = 0
        self.lost = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.reordered = 0
        self.restarts = 0
        #: Updates that could not be used (a plugin's report, or an update the manager
        #: could not process), and how many of each reason.
        self.data_errors = 0
        self.data_errors_by_reason: dict[str, int] = {}
        self.venue_errors = 0
        #: Liveness: stale subscriptions re-subscribed, moved to another feed, alerted.
        self.resubscribes = 0
        self.stale_failovers = 0
        self.stale_alerts = 0
        self.orders_submitted = 0
        self.orders_acknowledged = 0
        self.orders_filled = 0
        self.orders_cancelled = 0
        self.orders_rejected = 0
        #: Orders the venue reported in ERROR (e.g. acknowledged, then unknown to it).
        self.orders_errored = 0
        self.fills = 0
        self.duplicate_fills = 0
        #: Reports whose fills the core refused, or whose CumQty disagreed with the core's
        #: count (each answered by a STATUS request, at most one per order at a time).
        self.fill_disagreements = 0
        #: Fills made from a venue's CumQty and AvgPx for executions not heard of.
        self.reconciled_fills = 0
        #: Venue state: positions compared with the venue, differences found (each
        #: reported once), executions at the venue of orders not placed through the
        #: manager.
        self.position_checks = 0
        self.position_differences = 0
        self.external_executions = 0
        self.reconnect_attempts = 0
        self.reconnects = 0
        self.disconnects = 0
        self.last_update_ns = 0
        self.connected_at_ns = 0
        #: Venue timestamp to receive time, for venues that stamp their messages.
        self.data_latency = LatencySamples()
        #: Order sent to first acknowledgement (or reject) from the venue.
        self.ack_latency = LatencySamples()
        #: Order sent to its final fill.
        self.fill_latency = LatencySamples()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, LatencySamples):
                out[name] = value.summary()
            elif isinstance(value, dict):
                out[name] = dict(value)
            else:
                out[name] = value
        return out


class RateLimitedLog:
    """Log at most ``burst`` lines per key per ``interval`` seconds; count the rest.

    The first line after a quiet period says how many were suppressed meanwhile. At most
    ``max_keys`` keys are remembered (a key may carry a name from the wire): beyond it,
    the windows of keys quiet for a whole interval are forgotten, then the oldest; a line
    suppressed in a forgotten window is counted in ``forgotten_suppressed``.
    """

    def __init__(self, logger: logging.Logger, *, interval: float = 10.0, burst: int = 1,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 1_024) -> None:
        self.logger = logger
        self.interval = interval
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self.forgotten_suppressed = 0
        self._windows: dict[str, list[float]] = {}

    def log(self, level: int, key: str, msg: str, *args: Any) -> bool:
        """Log unless this key is over its budget; return whether it was logged."""
        now = self.clock()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.interval:
            suppressed = int(window[2]) if window is not None else 0
            if window is None and len(self._windows) >= self.max_keys:
                self._forget(now)
            self._windows[key] = [now, 1, 0]
            if suppressed:
                msg += " (%d similar messages suppressed in the last %.0fs)"
                args = (*args, suppressed, self.interval)
            self.logger.log(level, msg, *args, stacklevel=2)
            return True
        if window[1] < self.burst:
            window[1] += 1
            self.logger.log(level, msg, *args, stacklevel=2)
            return True
        window[2] += 1
        return False

    def _forget(self, now: float) -> None:
        """Make room: drop windows older than the interval, else the oldest quarter."""
        windows = self._windows
        old = [k for k, w in windows.items() if now - w[0] >= self.interval]
        if len(old) < max(1, self.max_keys // 4):
            old = list(windows)[:max(1, self.max_keys // 4)]
        for key in old:
            self.forgotten_suppressed += int(windows.pop(key)[2])

    @property
    def keys(self) -> int:
        """How many keys are remembered."""
        return len(self._windows)
