"""The built-in simulated venue passes the conformance suite every connector passes."""

from __future__ import annotations

import pytest

from stockfish_core import DataType, ExchangeManager, Order, OrderType, PluginRegistry
from stockfish_core.sim import plugin as sim_plugin
from stockfish_core.testing import ConnectorConformance, VenueUnderTest


def _sim(manager: ExchangeManager):  # type: ignore[no-untyped-def]
    return manager.get_connector("venue").state


class TestSimConformance(ConnectorConformance):
    @pytest.fixture
    async def venue_under_test(self) -> VenueUnderTest:
        registry = PluginRegistry(entry_points=())
        registry.register(sim_plugin, "sim")
        return VenueUnderTest(
            "sim", registry, {"tick_interval": 0.005, "seed": 7},
            data_types=(DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.TRADE,
                        DataType.OHLCV_BAR),
            resting_order=lambda s: Order(s, "BUY", 5, OrderType.LIMIT, price=1),
            rejected_order=lambda s: Order(s, "BUY", 5),
            before_reject=lambda m: _sim(m).reject_orders(1),
            reject_reason="rejected on demand",
            drop=lambda m: _sim(m).drop(),
            # The next order reaches the venue, then the connection drops before its ack.
            hold=lambda m: _sim(m).drop_on_next_submit(),
            received_order_ids=lambda m: [o.order_id for o in _sim(m).engine.orders()],
        )
