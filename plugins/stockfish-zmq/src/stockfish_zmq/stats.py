"""Counters of one connector (``connector.state.stats``) and rate-limited logging."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["FeedStats", "RateLimitedLog"]


@attrs.define
class FeedStats:
    """What the connector has seen since it was created (kept across reconnects)."""

    #: Raw messages handed to normalize, and batches they came in.
    received: int = 0
    batches: int = 0
    #: Updates produced.
    delivered: int = 0
    #: Messages for symbols or types nobody subscribed to (a topic prefix match).
    filtered: int = 0
    #: Bad messages of every kind; ``errors_by_code`` splits them (malformed, invalid...).
    data_errors: int = 0
    errors_by_code: dict[str, int] = attrs.Factory(dict)
    # Sequence accounting (gaps, lost, duplicates, out_of_order, reordered, restarts) is
    # the core's: ``connector.stats``, shown by the manager's get_stats().
    #: Books marked invalid, snapshot requests sent, books made valid again.
    book_invalidations: int = 0
    snapshot_requests: int = 0
    resyncs: int = 0
    #: Depth updates dropped because the book was invalid and no resync could use them.
    depth_dropped: int = 0
    #: Transport: handshakes failed (CURVE key or mechanism mismatch), disconnections.
    handshake_failures: int = 0
    disconnects: int = 0

    def count_error(self, code: str) -> None:
        self.data_errors += 1
        self.errors_by_code[code] = self.errors_by_code.get(code, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class RateLimitedLog:
    """Log at most ``burst`` lines per key per ``interval`` seconds; count the rest.

    The first line after a quiet period says how many were suppressed meanwhile.
    """

    def __init__(self, logger: logging.Logger, *, interval: float = 10.0, burst: int = 5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.burst = burst
        self.clock = clock
        self._windows: dict[str, list[float | int]] = {}

    def log(self, level: int, key: str, msg: str, *args: Any) -> bool:
        """Log unless this key is over its budget; return whether it was logged."""
        now = self.clock()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.interval:
            suppressed = int(window[2]) if window is not None else 0
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
