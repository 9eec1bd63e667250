"""Venue state over FIX (issue 25) against the exchange simulator, FIX 4.4 and 5.0SP2:
RequestForPositions (AN) -> PositionReport (AP) and OrderMassStatusRequest (AF) through a
manager. An account that already holds positions is reported; fills made while the
manager was down are applied once after a restart; a position changed behind the
manager's back raises a reconciliation report."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import stockfish_fix.plugin as fix_plugin
from stockfish_core import (
    ExchangeManager,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    PluginRegistry,
    ReconciliationReport,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.testing import wait_until
from stockfish_fix.testing import FixExchange

CONFIG = ManagerConfig(connect_timeout=20.0, reconnect_initial_delay=0.2,
                       position_check_interval=0)


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


def manager_for(exchange: FixExchange, version: str, tmp_path: Path,
                journal: str | Path = ":memory:") -> tuple[ExchangeManager, Seen]:
    registry = PluginRegistry(entry_points=())
    registry.register(fix_plugin, "fix")
    manager = ExchangeManager(config=CONFIG, registry=registry, journal=journal)
    manager.add_connector("fix", "fix", **exchange.connector_settings(
        version, store="file", file_store_path=str(tmp_path / "client-store"),
        venue_state=True))
    seen = Seen()
    manager.add_subscriber(seen)
    return manager, seen


@pytest.fixture(params=["FIX.4.4", "FIXT.1.1"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_an_account_that_already_holds_positions_is_reported(
        exchange: FixExchange, version: str, tmp_path: Path) -> None:
    exchange.adjust_position(version, "SPY", 20, "450")
    exchange.adjust_position(version, "QQQ", -4, "380")
    manager, seen = manager_for(exchange, version, tmp_path)
    async with manager:
        positions = manager.positions()
        assert {s: p.quantity for s, p in positions.items()} == {"SPY": 20, "QQQ": -4}
        assert positions["SPY"].avg_price == 450
        assert sorted((r.symbol, r.expected, r.venue) for r in seen.reports) == [
            ("QQQ", 0, -4), ("SPY", 0, 20)]
        assert manager.get_stats()["connectors"]["fix"]["position_differences"] == 2
        # Our fill on top: the view follows it and the venue agrees.
        oid = await manager.send_order_async(Order("SPY", "BUY", 5))
        done = await manager.wait_for_order_async(oid, timeout=10)
        assert done.status is OrderStatus.FILLED
        assert manager.positions()["SPY"].quantity == 25
        assert await manager.check_positions_async() == []
    manager.journal.close()


async def test_fills_made_while_the_manager_was_down_are_applied_once(
        exchange: FixExchange, version: str, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    first, _ = manager_for(exchange, version, tmp_path, journal)
    async with first:
        oid = await first.send_order_async(Order("SPY", "BUY", 6, OrderType.LIMIT, price=1))
        await first.wait_for_order_async(oid, lambda o: o.status is OrderStatus.SUBMITTED, 10)
    first.journal.close()

    # No manager runs: the exchange fills the order.
    exchange.set_quote("SPY", "0.95", "0.99", 100, 100)
    assert exchange.positions[exchange.session_key(version)]["SPY"].quantity == 6

    second, seen = manager_for(exchange, version, tmp_path, journal)
    async with second:
        done = await second.wait_for_order_async(oid, timeout=10)
        assert (done.status, done.filled_quantity) == (OrderStatus.FILLED, 6)
        await wait_until(lambda: seen.fills, seen.event, 10, "the fill")
        assert await second.check_positions_async() == []
        assert len(seen.fills) == 1 and len(second.journal.fills(oid)) == 1
        assert second.positions()["SPY"].quantity == 6
        assert seen.reports == []
        assert second.get_stats()["connectors"]["fix"]["fills"] == 1
    second.journal.close()


async def test_a_position_changed_behind_the_managers_back_is_reported(
        exchange: FixExchange, version: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    manager, seen = manager_for(exchange, version, tmp_path)
    async with manager:
        assert seen.reports == []
        exchange.adjust_position(version, "SPY", -3, "450")
        reports = await manager.check_positions_async("fix")
        assert [(r.connector, r.symbol, r.expected, r.venue) for r in reports] == [
            ("fix", "SPY", Decimal(0), Decimal(-3))]
        assert seen.reports == reports
        assert manager.positions("fix")["SPY"].quantity == -3
        assert await manager.check_positions_async("fix") == []  # reported once
        assert any("SPY position at the venue -3, 0 expected" in r.getMessage()
                   for r in caplog.records)
    manager.journal.close()


async def test_without_venue_state_nothing_is_asked(
        exchange: FixExchange, version: str, open_connector: Callable[..., Any]) -> None:
    h = await open_connector(exchange, version)
    assert await h.call("stockfish_positions") is None
    assert await h.call("stockfish_executions", since_ns=0) is None
    assert not any(m.split("\x0135=", 1)[1].startswith(("AN", "AF"))
                   for _k, m in exchange.messages)
