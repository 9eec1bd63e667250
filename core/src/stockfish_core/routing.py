"""Choosing the connector for a new order: the failover strategies and the health score."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Sequence

from .config import FailoverStrategy
from .connector import Connector
from .models import ConnectorStatus, now_ns
from .orders import Order
from .stats import ConnectorStats

__all__ = ["Router", "health_score"]

#: Errors within this window lower a connector's health score.
ERROR_WINDOW_NS = 60 * 1_000_000_000


def health_score(connector: Connector, stats: ConnectorStats, recent_errors: int,
                 stale: int) -> float:
    """0 (unusable) to 100 (healthy) from connection state, recent errors, order
    acknowledgement latency and stale subscriptions.

    Connected: start at 100; minus 5 per venue error in the last minute (at most 40);
    minus the median acknowledgement latency in milliseconds (at most 30); minus 5 per
    stale subscription (at most 20). Anything but CONNECTED scores 0.
    """
    if connector.status is not ConnectorStatus.CONNECTED:
        return 0.0
    score = 100.0
    score -= min(40.0, 5.0 * recent_errors)
    if stats.ack_latency.count:
        recent = sorted(stats.ack_latency.recent(256))  # the last 256 orders
        score -= min(30.0, recent[len(recent) // 2] / 1e6)
    score -= min(20.0, 5.0 * stale)
    return max(score, 1.0)


class Router:
    """Picks an execution connector per the failover strategy."""

    def __init__(self, strategy: FailoverStrategy) -> None:
        self.strategy = strategy
        self._rotation = itertools.count()
        self.errors: dict[str, collections.deque[int]] = collections.defaultdict(
            lambda: collections.deque(maxlen=100)
        )

    @property
    def needs_scores(self) -> bool:
        return self.strategy is FailoverStrategy.BEST_AVAILABLE

    def note_error(self, connector: str) -> None:
        self.errors[connector].append(now_ns())

    def recent_errors(self, connector: str) -> int:
        horizon = now_ns() - ERROR_WINDOW_NS
        return sum(1 for t in self.errors.get(connector, ()) if t >= horizon)

    @staticmethod
    def eligible(connector: Connector, order: Order) -> str | None:
        """None if ``connector`` can take ``order`` now, else why not."""
        caps = connector.capabilities
        if connector.data_only:
            return "data only"
        if order.order_type not in caps.order_types:
            return f"does not take {order.order_type.value} orders"
        if order.time_in_force not in caps.time_in_force:
            return f"does not take time in force {order.time_in_force.value}"
        if connector.status is not ConnectorStatus.CONNECTED:
            return str(connector.status.value)
        return None

    def choose(self, order: Order, connectors: Sequence[Connector],
               scores: dict[str, float]) -> tuple[Connector | None, dict[str, str]]:
        """The connector for ``order`` and, for every one passed over, the reason."""
        reasons: dict[str, str] = {}
        usable = []
        for connector in connectors:
            why = self.eligible(connector, order)
            if why is None:
                usable.append(connector)
            else:
                reasons[connector.name] = why
        if not usable:
            return None, reasons
        if self.strategy is FailoverStrategy.ROUND_ROBIN:
            return usable[next(self._rotation) % len(usable)], reasons
        if self.strategy is FailoverStrategy.BEST_AVAILABLE:
            best = max(usable, key=lambda c: (scores.get(c.name, 0.0), c.primary, c.priority))
            return best, reasons
        # PRIMARY_BACKUP: the primary while it can, then backups by priority, in order added.
        return sorted(usable, key=lambda c: (not c.primary, -c.priority))[0], reasons
