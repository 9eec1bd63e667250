"""The ibkr connector passes the core's conformance suite through the ExchangeManager,
against the simulated gateway, with each TWS client library."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import stockfish_ibkr.plugin as plugin
from stockfish_core import DataType, Order, OrderType, PluginRegistry
from stockfish_core.testing import ConnectorConformance, VenueUnderTest
from stockfish_ibkr.testing import GatewaySimulator


class TestIBKRConformance(ConnectorConformance):
    @pytest.fixture
    async def venue_under_test(self, library_name: str) -> AsyncIterator[VenueUnderTest]:
        gw = GatewaySimulator(tick_interval=0.02, realtime_bar_seconds=0.1)
        await gw.start()
        registry = PluginRegistry(entry_points=())
        registry.register(plugin, "ibkr")

        def reject_next(_manager: object) -> None:
            gw.broker.engine.reject_next = 1

        yield VenueUnderTest(
            "ibkr", registry,
            {"host": "127.0.0.1", "port": gw.port, "client_id": 1, "library": library_name,
             "connect_timeout": 5.0},
            symbol="SPY",
            data_types=(DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.OHLCV_BAR),
            resting_order=lambda s: Order(s, "BUY", 5, OrderType.LIMIT, price=1),
            rejected_order=lambda s: Order(s, "BUY", 5),
            before_reject=reject_next,
            reject_reason="rejected on demand",
            drop=lambda _m: gw.stop(),
            restore=lambda _m: gw.start(),
            received_order_ids=lambda _m: [o.order_ref for o in gw.broker.orders.values()
                                           if o.order_ref],
            # The broker's back end lives on while the gateway is down: cross the order.
            fill_resting=lambda _m, _order_id: gw.broker.set_quote(
                gw.instrument("SPY"), 0.5, 0.9, 100, 100),
        )
        await gw.close()
