"""Venue truth through the ibkr connector and the manager (issue 25), with ib_insync and
ib_async against the gateway simulator: an account that already holds positions is
reported; fills made while the manager was down are applied once after a restart; a
position changed by another client raises a reconciliation report; the account summary."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import stockfish_ibkr.plugin as plugin
from stockfish_core import (
    ExchangeManager,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    PluginRegistry,
    Position,
    ReconciliationReport,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.testing import wait_until
from stockfish_ibkr.testing import GatewaySimulator

CONFIG = ManagerConfig(health_check_interval=0.1, reconnect_initial_delay=0.05,
                       reconnect_max_delay=0.5, connect_timeout=5.0,
                       position_check_interval=0)
ACCOUNT = "DU1234567"


class Seen:
    def __init__(self) -> None:
        self.reports: list[ReconciliationReport] = []
        self.fills: list[Fill] = []
        self.event = asyncio.Event()

    def on_reconciliation(self, report: ReconciliationReport) -> None:
        self.reports.append(report)
        self.event.set()

    def on_fill(self, fill: Fill, order: Order) -> None:
        self.fills.append(fill)
        self.event.set()


def manager_for(gw: GatewaySimulator, library_name: str, journal: str | Path = ":memory:",
                client_id: int = 1) -> tuple[ExchangeManager, Seen]:
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "ibkr")
    manager = ExchangeManager(config=CONFIG, registry=registry, journal=journal)
    manager.add_connector("ibkr", "ibkr", primary=True, host="127.0.0.1", port=gw.port,
                          client_id=client_id, library=library_name, connect_timeout=5.0)
    seen = Seen()
    manager.add_subscriber(seen)
    return manager, seen


def hold(gw: GatewaySimulator, symbol: str, quantity: int, avg: str) -> None:
    """The account holds a position from before (another session, another day)."""
    inst = gw.instrument(symbol)
    gw.broker.positions[(ACCOUNT, inst.con_id)] = Position(symbol, Decimal(quantity),
                                                           Decimal(avg))


async def test_an_account_that_already_holds_positions_is_reported(
        quiet_gateway: GatewaySimulator, library_name: str) -> None:
    gw = quiet_gateway
    hold(gw, "AAPL", 20, "150")
    hold(gw, "MSFT", 4, "300")
    manager, seen = manager_for(gw, library_name)
    async with manager:
        positions = manager.positions()
        assert {s: p.quantity for s, p in positions.items()} == {"AAPL": 20, "MSFT": 4}
        assert positions["AAPL"].avg_price == 150
        assert sorted((r.symbol, r.expected, r.venue) for r in seen.reports) == [
            ("AAPL", 0, 20), ("MSFT", 0, 4)]
        assert manager.get_stats()["connectors"]["ibkr"]["position_differences"] == 2
        account = await manager.account_async("ibkr")
        assert account.account == ACCOUNT and account.currency == "USD"
        assert account.equity == Decimal("1000000.00")
        assert account.margin is not None and account.margin > 0  # the positions' margin
        assert account.buying_power is not None and account.buying_power > 0
        assert "AvailableFunds" in account.raw
        # Our own fill on top: the view follows it, and the venue agrees.
        oid = await manager.send_order_async(Order("AAPL", "BUY", 5))
        gw.broker.step()
        done = await manager.wait_for_order_async(oid, timeout=10)
        assert done.status is OrderStatus.FILLED
        assert manager.positions()["AAPL"].quantity == 25
        assert await manager.check_positions_async() == []
    manager.journal.close()


async def test_fills_made_while_the_manager_was_down_are_applied_once(
        quiet_gateway: GatewaySimulator, library_name: str, tmp_path: Path) -> None:
    gw = quiet_gateway
    journal = tmp_path / "journal.sqlite"
    inst = gw.instrument("MSFT")
    first, _ = manager_for(gw, library_name, journal, client_id=5)
    async with first:
        ask = Decimal(repr(gw.broker.market(inst).quote("MSFT").ask))
        oid = await first.send_order_async(
            Order("MSFT", "SELL", 30, OrderType.LIMIT, price=ask + 3))
        await first.wait_for_order_async(oid, lambda o: o.status is OrderStatus.SUBMITTED, 10)
    first.journal.close()

    # No manager runs: IB fills the order.
    gw.broker.set_quote(inst, float(ask + 3), float(ask + Decimal("3.05")), 100, 100)
    assert [e.order.order_ref for e in gw.broker.executions] == [oid]

    second, seen = manager_for(gw, library_name, journal, client_id=5)
    async with second:
        done = await second.wait_for_order_async(oid, timeout=10)
        assert (done.status, done.filled_quantity) == (OrderStatus.FILLED, 30)
        await wait_until(lambda: seen.fills, seen.event, 10, "the fill")
        assert len(seen.fills) == 1 and seen.fills[0].quantity == 30
        assert len(second.journal.fills(oid)) == 1
        assert second.positions()["MSFT"].quantity == -30
        stats = second.get_stats()["connectors"]["ibkr"]
        assert stats["fills"] == 1 and stats["position_differences"] == 0
        assert seen.reports == []
    second.journal.close()


async def test_a_position_changed_by_another_client_is_reported(
        quiet_gateway: GatewaySimulator, library_name: str, library: ModuleType,
        connect: Any, until: Any) -> None:
    gw = quiet_gateway
    manager, seen = manager_for(gw, library_name)
    async with manager:
        assert seen.reports == [] and manager.positions("ibkr") == {}
        # Another API client (TWS itself, a second program) trades the account.
        other = await connect(gw, client_id=9)
        trade = other.placeOrder(library.Stock("AAPL", "SMART", "USD", conId=265598),
                                 library.MarketOrder("BUY", 7))
        await until(other, lambda: trade.orderStatus.status == "Filled", 5, "Filled")
        reports = await manager.check_positions_async("ibkr")
        assert [(r.connector, r.symbol, r.expected, r.venue) for r in reports] == [
            ("ibkr", "AAPL", 0, 7)]
        assert seen.reports == reports
        assert manager.positions()["AAPL"].quantity == 7
        # Reported once: the next check finds nothing new.
        assert await manager.check_positions_async("ibkr") == []
        assert manager.get_stats()["connectors"]["ibkr"]["position_differences"] == 1
    manager.journal.close()


async def test_instruments_come_from_the_contract_details(
        quiet_gateway: GatewaySimulator, library_name: str) -> None:
    gw = quiet_gateway
    manager, _ = manager_for(gw, library_name)
    async with manager:
        aapl = await manager.instrument_async("AAPL")
        inst = gw.instrument("AAPL")
        assert (aapl.symbol, aapl.tick_size, aapl.lot_size, aapl.multiplier, aapl.currency,
                aapl.exchange, aapl.venue_id) == (
            "AAPL", Decimal("0.01"), Decimal(1), Decimal(1), "USD", inst.primary_exchange,
            str(inst.con_id))
        assert aapl.on_tick(Decimal("187.25")) and not aapl.on_tick(Decimal("187.255"))
        fx = await manager.instrument_async("EUR.USD", "ibkr")
        assert fx.tick_size == Decimal("0.00005") and fx.currency == "USD"
        lookups = manager.get_connector("ibkr").state.contracts.lookups
        assert await manager.instrument_async("AAPL") is aapl  # cached
        assert manager.get_connector("ibkr").state.contracts.lookups == lookups
        with pytest.raises(LookupError, match="NOPE"):
            await manager.instrument_async("NOPE")
    manager.journal.close()
