"""Test support: a real publisher on 127.0.0.1 and a harnessed zmq connector.

::

    with Publisher(snapshot_endpoint="tcp://127.0.0.1:*") as pub:
        async with zmq_harness([pub.endpoint]) as h:
            await h.connect()
            await subscribe_and_wait(h, pub, Subscription("BTCUSD"))
            pub.publish("ticker", "BTCUSD", {"bid": 1.0, "ask": 1.1})
            update = await h.next_update(5)

Waiting is on events (the publisher sees the subscription arrive), never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from stockfish_core.plugin_api import Subscription
from stockfish_core.testing import ConnectorHarness, PluginRegistry, ReportedError

from .. import plugin
from ..stats import FeedStats
from .publisher import Faults, Publisher
from .synthetic import SyntheticMarket

__all__ = [
    "Faults",
    "FeedSimulator",
    "Publisher",
    "SyntheticMarket",
    "errors_with",
    "stats_of",
    "subscribe_and_wait",
    "wait_stats",
    "zmq_harness",
]


def zmq_harness(endpoints: Sequence[str], *, name: str = "zmq",
                **settings: Any) -> ConnectorHarness:
    """A harness for one zmq connector, registered under ``zmq`` in a private registry.

    ``receive_mode="worker"`` is a shorthand for ``worker=True`` (the feed read in a
    worker process), so that a test parametrized over receive modes covers it too."""
    if settings.get("receive_mode") == "worker":
        settings = {**settings, "receive_mode": "auto", "worker": True}
    registry = PluginRegistry(entry_points=())
    return ConnectorHarness(plugin, "zmq", {"endpoints": list(endpoints), **settings},
                            registry=registry, connector_name=name)


async def subscribe_and_wait(h: ConnectorHarness, publishers: Publisher | Sequence[Publisher],
                             subscription: Subscription, timeout: float = 10.0) -> None:
    """Subscribe, then wait until every publisher has seen the subscription arrive."""
    await h.subscribe(subscription)
    pubs = [publishers] if isinstance(publishers, Publisher) else list(publishers)
    topic = subscription.symbol.encode()
    await asyncio.gather(*(p.wait_subscribed_async(topic, timeout) for p in pubs))


def stats_of(h: ConnectorHarness) -> FeedStats:
    stats: FeedStats = h.connector.state.stats
    return stats


async def wait_stats(h: ConnectorHarness, predicate: Callable[[FeedStats], Any],
                     timeout: float = 10.0, what: str = "feed counters") -> FeedStats:
    """Wait until ``predicate(stats)`` holds, re-checked on every update or report.

    A counter that changes without a report (a duplicate, a filtered message) is seen
    when the next update arrives: publish a marker message after the ones counted.
    """
    await h.listener.wait_for(lambda: predicate(stats_of(h)), timeout, what)
    return stats_of(h)


def errors_with(h: ConnectorHarness, code: str) -> list[ReportedError]:
    return [e for e in h.listener.errors if e.code == code]


class FeedSimulator:
    """The ``stockfish_simulator`` of this plugin: a publisher on 127.0.0.1 streaming
    synthetic tickers, depth and trades for the given symbols, with a snapshot service."""

    def __init__(self, symbols: Sequence[str], rate: float = 200.0) -> None:
        self.symbols = list(symbols)
        self.rate = rate
        self.publisher: Publisher | None = None

    async def start(self) -> dict[str, Any]:
        publisher = Publisher(snapshot_endpoint="tcp://127.0.0.1:*").start()
        publisher.stream(SyntheticMarket(self.symbols), rate=self.rate)
        self.publisher = publisher
        return {"endpoints": [publisher.endpoint],
                "snapshot_endpoint": publisher.snapshot_endpoint}

    async def stop(self) -> None:
        if self.publisher is not None:
            self.publisher.stop()
            self.publisher = None

    def received_order_ids(self) -> list[str]:
        return []  # a feed takes no orders
