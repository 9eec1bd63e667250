"""The core's conformance suite, through the ExchangeManager, against the JSON venue."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import stockfish_jsonvenue
from stockfish_core import ExchangeManager, Order, OrderType, PluginRegistry
from stockfish_core.testing import ConnectorConformance, VenueUnderTest
from stockfish_jsonvenue.testing import JsonVenue


class TestJsonVenueConformance(ConnectorConformance):
    @pytest.fixture
    async def venue_under_test(self) -> AsyncIterator[VenueUnderTest]:
        venue = JsonVenue(("SPY",), tick_interval=0.01)
        settings = await venue.start()
        registry = PluginRegistry(entry_points=())  # never pick up installed plugins
        registry.register(stockfish_jsonvenue, "jsonvenue")

        def reject_next(_: ExchangeManager) -> None:
            venue.reject_next = 1

        yield VenueUnderTest(
            "jsonvenue", registry, settings,
            marketable_order=lambda symbol: Order(symbol, "BUY", 3),
            resting_order=lambda symbol: Order(symbol, "BUY", 4, OrderType.LIMIT, price=90),
            rejected_order=lambda symbol: Order(symbol, "BUY", 2),
            before_reject=reject_next,
            reject_reason="rejected on demand",
            drop=lambda _: venue.stop(),
            restore=lambda _: venue.start(),
            hold=lambda _: venue.hold(),
            received_order_ids=lambda _: venue.received_order_ids(),
            fill_resting=lambda _, order_id: venue.fill(order_id),
            resend_fills=lambda _, order_id, possible_duplicate: venue.resend_fills(
                order_id, possible_duplicate),
        )
        await venue.stop()
