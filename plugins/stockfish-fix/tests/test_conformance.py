"""The core's conformance suite, through the ExchangeManager, against the exchange
simulator (FIX 4.4, the market stepping every 50 ms)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import stockfish_fix.plugin as fix_plugin
from stockfish_core import DataType, Order, PluginRegistry
from stockfish_core.testing import ConnectorConformance, VenueUnderTest
from stockfish_fix.testing import FixExchange


@pytest.fixture
def fix_exchange(tmp_path: Path) -> Iterator[FixExchange]:
    with FixExchange(begin_strings=("FIX.4.4",), tick_interval=0.05,
                     store_path=str(tmp_path / "exchange")) as exchange:
        yield exchange


class TestFixConformance(ConnectorConformance):
    @pytest.fixture
    async def venue_under_test(self, fix_exchange: FixExchange,
                               tmp_path: Path) -> VenueUnderTest:
        registry = PluginRegistry(entry_points=())
        registry.register(fix_plugin, "fix")
        settings = fix_exchange.connector_settings(
            "FIX.4.4", file_store_path=str(tmp_path / "client"), logon_timeout=5)
        return VenueUnderTest(
            "fix", registry, settings,
            data_types=(DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.TRADE),
            resting_order=lambda symbol: Order(symbol, "BUY", 1, "LIMIT", price=Decimal("1")),
            rejected_order=lambda symbol: Order(symbol, "BUY", 1),
            reject_reason="rejected on demand",
            before_reject=lambda manager: fix_exchange.reject_orders(1),
            drop=lambda manager: fix_exchange.stop(kill=True),
            restore=lambda manager: fix_exchange.start(),
            # The next order is executed, and the session dropped before its reports.
            hold=lambda manager: fix_exchange.drop_before_reports(1),
            received_order_ids=lambda manager: [c for _, c in fix_exchange.orders_received],
            fill_resting=lambda manager, _order_id: fix_exchange.set_quote(
                "SPY", Decimal("0.5"), Decimal("0.9")),
        )
