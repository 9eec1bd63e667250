"""The core's conformance suite (its data part), through the ExchangeManager, against the
shipped publisher streaming a synthetic market on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from stockfish_core import DataType, PluginRegistry
from stockfish_core.testing.conformance import ConnectorConformance, VenueUnderTest
from stockfish_zmq import plugin
from stockfish_zmq.testing.publisher import Publisher
from stockfish_zmq.testing.synthetic import SyntheticMarket


class _Feed:
    """A publisher that can be killed and brought back on the same endpoints."""

    def __init__(self) -> None:
        self.pub = self._start("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")

    @staticmethod
    def _start(endpoint: str, snapshot: str) -> Publisher:
        pub = Publisher(endpoint, snapshot_endpoint=snapshot).start()
        # Streams until stopped: a subscriber that joins late still gets data.
        pub.stream(SyntheticMarket(["SPY", "QQQ"], levels=5, snapshot_every=20), rate=600)
        return pub

    def drop(self, manager: Any) -> None:
        self.pub.stop()

    def restore(self, manager: Any) -> None:
        assert self.pub.snapshot_endpoint is not None
        self.pub = self._start(self.pub.endpoint, self.pub.snapshot_endpoint)


class TestZmqConformance(ConnectorConformance):
    @pytest.fixture
    async def venue_under_test(self) -> AsyncIterator[VenueUnderTest]:
        feed = _Feed()
        registry = PluginRegistry(entry_points=())
        registry.register(plugin, "zmq")
        settings = {"endpoints": [feed.pub.endpoint],
                    "snapshot_endpoint": feed.pub.snapshot_endpoint,
                    "reconnect_interval": 0.05, "reconnect_interval_max": 0.2}
        try:
            yield VenueUnderTest(
                "zmq", registry, settings, symbol="SPY", orders=False,
                data_types=(DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.TRADE),
                not_served=dict.fromkeys(
                    (DataType.OHLCV_BAR, DataType.NEWS, DataType.MACRO, DataType.CUSTOM),
                    "the synthetic market publishes tickers, depth and trades only"),
                drop=feed.drop, restore=feed.restore)
        finally:
            feed.pub.stop()
