"""The subscribers' callbacks that are not market data (orders, fills, connector status,
stale subscriptions), and how every part of the manager calls them: on the manager loop,
a failing one counted and logged, never raised into the caller."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .accounts import ReconciliationReport
from .connector import Subscription
from .marketdata import MarketDataHub
from .models import ConnectorStatus
from .orders import Fill, Order

log = logging.getLogger("stockfish.manager")


class Callbacks:
    """The handlers of the manager's subscribers, by kind."""

    #: The subscriber method that each list holds.
    METHODS = ("on_order_update", "on_fill", "on_connector_status", "on_stale",
               "on_reconciliation")

    def __init__(self, hub: MarketDataHub) -> None:
        self._hub = hub
        self.order: list[Callable[[Order], Any]] = []
        self.fill: list[Callable[[Fill, Order], Any]] = []
        self.status: list[Callable[[str, ConnectorStatus, str], Any]] = []
        self.stale: list[Callable[[str, Subscription, str], Any]] = []
        self.reconciliation: list[Callable[[ReconciliationReport], Any]] = []

    def _lists(self) -> tuple[list[Any], ...]:
        return (self.order, self.fill, self.status, self.stale, self.reconciliation)

    def add(self, subscriber: object) -> list[str]:
        """Register ``subscriber``'s methods; the names of those it has."""
        found = []
        for attr, handlers in zip(self.METHODS, self._lists(), strict=True):
            fn = getattr(subscriber, attr, None)
            if callable(fn):
                handlers.append(fn)
                found.append(attr)
        return found

    def remove(self, subscriber: object) -> None:
        for handlers in self._lists():
            handlers[:] = [h for h in handlers
                           if getattr(h, "__self__", None) is not subscriber]

    def notify(self, handler: Callable[..., Any], *args: Any) -> None:
        """Call one handler; its failure is counted (``subscriber_errors``) and logged."""
        try:
            handler(*args)
        except Exception:
            self._hub.subscriber_errors += 1
            log.exception("subscriber %r failed", handler)
