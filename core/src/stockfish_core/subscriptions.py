"""Market-data subscriptions across connectors: which connectors serve one, the feeds
the market data hub ranks, and the subscribe / unsubscribe hooks. The ExchangeManager's
subscription part (restoring them after a reconnect is the supervision part's)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from .connector import Subscription
from .marketdata import MarketDataHub
from .models import DataType
from .venues import VenueState, find_venue

log = logging.getLogger("stockfish.manager")


class Subscriptions:
    """The subscriptions of every connector (kept in their VenueState)."""

    def __init__(self, venues: dict[str, VenueState], hub: MarketDataHub) -> None:
        self.venues = venues
        self.hub = hub
        #: Subscriptions made before start: applied at start.
        self.pending: list[tuple[list[Subscription], list[str] | None]] = []

    async def subscribe(self, subs: list[Subscription],
                        names: list[str] | None) -> dict[str, str]:
        """Subscribe on every connector that serves each (or those named); returns
        {"connector subscription": error} for the ones that failed."""
        failures: dict[str, str] = {}
        for sub in subs:
            targets = self.targets(sub.data_type, names)
            for venue in targets:
                key = (sub.symbol, sub.data_type)
                venue.subscriptions[sub] = None
                self.hub.add_feed(key, venue.name, self.feed_rank,
                                  self.hub.limit_ns(sub.data_type, sub.interval))
                if not venue.connector.is_connected:
                    continue  # applied when it connects
                try:
                    await venue.hooks.subscribe(sub)
                except Exception as exc:  # noqa: BLE001 - reported per subscription
                    venue.subscriptions.pop(sub, None)
                    self.hub.remove_feed(key, venue.name)
                    failures[f"{venue.name} {sub}"] = str(exc) or type(exc).__name__
                    log.error("%s: subscribe %s failed: %s", venue.name, sub, exc)
        return failures

    def targets(self, data_type: DataType, names: list[str] | None) -> list[VenueState]:
        """The connectors to subscribe ``data_type`` on; ValueError if none can."""
        if names:
            targets = [find_venue(self.venues, n) for n in names]
            for v in targets:
                if data_type not in v.connector.capabilities.data_types:
                    raise ValueError(f"connector {v.name} does not serve {data_type.value}")
            return targets
        targets = [v for v in self.venues.values()
                   if data_type in v.connector.capabilities.data_types]
        if not targets and not self.venues:
            raise ValueError(f"no connector serves {data_type.value}: the manager has no "
                             "connectors; add one first, write: manager.add_connector('ibkr', "
                             "primary=True, host='127.0.0.1', port=7497), or build the manager "
                             "with ExchangeManager.from_config('stockfish.yaml')")
        if not targets:
            raise ValueError(f"no connector serves {data_type.value} "
                             f"(connectors: {', '.join(self.venues) or 'none'})")
        return targets

    def feed_rank(self, name: str) -> tuple[int, bool, int]:
        """The order in which the hub prefers feeds: priority, primary, order added."""
        c = self.venues[name].connector
        return (-c.priority, not c.primary, self.venues[name].index)

    async def unsubscribe(self, symbols: Iterable[str],
                          connectors: Sequence[str] | None) -> None:
        wanted = set(symbols)
        for venue in self.venues.values():
            if connectors and venue.name not in connectors:
                continue
            for sub in [s for s in venue.subscriptions if s.symbol in wanted]:
                del venue.subscriptions[sub]
                self.hub.remove_feed((sub.symbol, sub.data_type), venue.name)
                if venue.connector.is_connected:
                    try:
                        await venue.hooks.unsubscribe(sub)
                    except Exception as exc:  # noqa: BLE001
                        log.error("%s: unsubscribe %s failed: %s", venue.name, sub, exc)

    def remove_connector(self, venue: VenueState) -> None:
        """Forget the feeds of a connector taken away."""
        for sub in list(venue.subscriptions):
            self.hub.remove_feed((sub.symbol, sub.data_type), venue.name)
