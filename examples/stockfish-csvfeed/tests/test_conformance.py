"""The core's conformance suite (its data part), through the ExchangeManager, against a
file of random-walk quotes (the example's simulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import stockfish_csvfeed
from stockfish_core import PluginRegistry
from stockfish_core.testing import ConnectorConformance, VenueUnderTest


class TestCsvFeedConformance(ConnectorConformance):
    @pytest.fixture
    async def venue_under_test(self) -> AsyncIterator[VenueUnderTest]:
        simulator = stockfish_csvfeed.CsvFeedSimulator(["SPY", "QQQ"])
        settings = await simulator.start()
        registry = PluginRegistry(entry_points=())  # never pick up installed plugins
        registry.register(stockfish_csvfeed, "csvfeed")
        yield VenueUnderTest("csvfeed", registry, settings, orders=False)
        await simulator.stop()
