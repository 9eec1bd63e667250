"""Venue truth on the built-in sim venue (issue 25): the manager started against an account
that already holds positions reports them; fills made while the manager was down are
applied once after a restart; a position changed behind the manager's back raises a
reconciliation report (log, stats, subscriber) with both values, never silently."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from stockfish_core import (
    AccountValues,
    ExchangeManager,
    Fill,
    Order,
    OrderRejected,
    OrderStatus,
    OrderType,
    PluginRegistry,
    ReconciliationReport,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.sim import plugin as sim_plugin
from stockfish_core.sim.venue import SimVenue
from stockfish_core.testing import wait_until

FAST = ManagerConfig(health_check_interval=0.05, reconnect_initial_delay=0.05,
                     reconnect_max_delay=0.2, connect_timeout=5.0, position_check_interval=0)


def make(journal: str | Path = ":memory:", config: ManagerConfig = FAST,
         **settings: Any) -> ExchangeManager:
    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    manager = ExchangeManager(config=config, registry=registry, journal=journal)
    manager.add_connector("sim", "sim", primary=True, tick_interval=0.005,
                          start_prices={"SPY": 100.0, "AAPL": 200.0, "MSFT": 300.0},
                          **settings)
    return manager


class Reports:
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


async def test_a_venue_that_already_holds_positions_reports_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "j.sqlite"
    manager = make(journal, positions={"AAPL": 20, "MSFT": -4})
    seen = Reports()
    manager.add_subscriber(seen)
    caplog.set_level(logging.WARNING, "stockfish.venue")
    async with manager:
        positions = manager.positions()
        assert {s: p.quantity for s, p in positions.items()} == {"AAPL": 20, "MSFT": -4}
        assert positions["AAPL"].avg_price == 200
        assert manager.positions("sim")["MSFT"].quantity == -4
        # Nothing in the journal said so: both differences are reported, with both values.
        assert sorted((r.symbol, r.expected, r.venue) for r in seen.reports) == [
            ("AAPL", 0, 20), ("MSFT", 0, -4)]
        stats = manager.get_stats()
        assert stats["connectors"]["sim"]["position_differences"] == 2
        assert stats["total"]["position_differences"] == 2
        lines = [r.getMessage() for r in caplog.records if "position difference" in
                 r.getMessage()]
        assert len(lines) == 2 and "AAPL position at the venue 20, 0 expected" in lines[0]
        # Trading on top: the view follows the fills between checks, and the venue agrees.
        oid = await manager.send_order_async(Order("AAPL", "BUY", 5))
        await manager.wait_for_order_async(oid)
        assert manager.positions()["AAPL"].quantity == 25
        assert await manager.check_positions_async() == []
        account = await manager.account_async("sim")
        assert isinstance(account, AccountValues) and account.currency == "USD"
        assert account.cash is not None and account.cash < 1_000_000
        assert account.equity is not None and account.margin is not None
        assert account.margin > 0
    manager.journal.close()

    # A restart on the same journal: the differences were reported and accepted once.
    again = make(journal, positions={"AAPL": 20, "MSFT": -4})
    seen_again = Reports()
    again.add_subscriber(seen_again)
    async with again:
        assert again.positions()["AAPL"].quantity == 20  # a new sim venue: 20 again
        # The journal implies 20 + 5 (its fill), the new venue holds 20: that is news.
        assert [(r.symbol, r.expected, r.venue) for r in seen_again.reports] == [
            ("AAPL", 25, 20)]
    again.journal.close()


async def test_fills_made_while_the_manager_was_down_are_applied_once(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    first = make(journal)
    async with first:
        oid = await first.send_order_async(Order("SPY", "BUY", 7, OrderType.LIMIT, price=50))
        await first.wait_for_order_async(oid, lambda o: o.status is OrderStatus.SUBMITTED)
        venue = first.get_connector("sim").state
        assert isinstance(venue, SimVenue)
    first.journal.close()

    # While no manager runs, the venue fills the order (and a trade made elsewhere).
    venue.set_quote("SPY", "49.90", "49.95")
    venue.trade_elsewhere("MSFT", "BUY", 3, "300")
    assert venue.holdings["SPY"].quantity == 7

    second = make(journal)
    venue.attach(second.get_connector("sim"))
    seen = Reports()
    second.add_subscriber(seen)
    async with second:
        done = await second.wait_for_order_async(oid, timeout=5)
        assert (done.status, done.filled_quantity) == (OrderStatus.FILLED, 7)
        # The fill came twice (the order's STATUS answer and the executions since the
        # last check) and was applied once: the executions' copy is known and skipped,
        # not counted as a venue's duplicate.
        await wait_until(
            lambda: second.get_stats()["connectors"]["sim"]["external_executions"],
            seen.event, 5, "the executions since the last check", recheck=0.05)
        assert second.get_stats()["connectors"]["sim"]["duplicate_fills"] == 0
        assert len(seen.fills) == 1 and second.journal.fills(oid)[0].quantity == 7
        assert second.positions()["SPY"].quantity == 7
        stats = second.get_stats()["connectors"]["sim"]
        assert (stats["fills"], stats["external_executions"]) == (1, 1)
        # Only the trade made elsewhere is a difference.
        assert [(r.symbol, r.expected, r.venue) for r in seen.reports] == [("MSFT", 0, 3)]
    second.journal.close()


async def test_a_position_changed_behind_the_managers_back_is_reported() -> None:
    manager = make(config=ManagerConfig(connect_timeout=5.0, position_check_interval=0.05))
    seen = Reports()
    manager.add_subscriber(seen)
    async with manager:
        oid = await manager.send_order_async(Order("SPY", "BUY", 10))
        await manager.wait_for_order_async(oid)
        checks = manager.get_stats()["connectors"]["sim"]["position_checks"]
        await wait_until(lambda: manager.get_stats()["connectors"]["sim"]["position_checks"]
                         > checks + 1, asyncio.Event(), 5, "periodic checks", recheck=0.02)
        assert seen.reports == []  # the venue agrees with the fills
        venue = manager.get_connector("sim").state
        venue.trade_elsewhere("SPY", "SELL", 4, "100")
        await wait_until(lambda: seen.reports, seen.event, 5, "the report")
        report = seen.reports[0]
        assert (report.connector, report.symbol, report.expected, report.venue) == (
            "sim", "SPY", 10, 6)
        assert report.difference == -4
        assert manager.positions()["SPY"].quantity == 6  # the venue's, reported
        # Reported once, not at every check.
        checks = manager.get_stats()["connectors"]["sim"]["position_checks"]
        await wait_until(lambda: manager.get_stats()["connectors"]["sim"]["position_checks"]
                         > checks + 2, asyncio.Event(), 5, "more checks", recheck=0.02)
        assert len(seen.reports) == 1
        assert manager.get_stats()["connectors"]["sim"]["position_differences"] == 1
        assert manager.venue_book.reports[-1] == report
        # The order's fill in the journal is untouched.
        assert manager.get_order(oid).filled_quantity == 10
    manager.journal.close()


def test_account_values_are_exact_and_checked() -> None:
    values = AccountValues("U1", "EUR", cash=1.5, raw={"a": 1})
    assert values.cash == Decimal("1.5") and values.raw == {"a": "1"}
    with pytest.raises(Exception, match="account"):
        AccountValues("U\x001")


async def test_the_sim_describes_its_instruments() -> None:
    manager = make(tick_size="0.05")
    async with manager:
        spy = await manager.instrument_async("SPY")
        assert (spy.tick_size, spy.lot_size, spy.multiplier, spy.currency, spy.exchange) == (
            Decimal("0.05"), 1, 1, "USD", "SIM")
        assert not spy.on_tick(Decimal("100.01")) and spy.on_tick(Decimal("100.05"))
        assert await manager.instrument_async("SPY", "sim") is spy
    manager.journal.close()


async def test_a_connector_added_after_start_is_checked_against_its_journal(
        tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    first = make(journal)
    async with first:
        oid = await first.send_order_async(Order("SPY", "BUY", 4))
        await first.wait_for_order_async(oid)
    first.journal.close()

    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    second = ExchangeManager(config=FAST, registry=registry, journal=journal)
    seen = Reports()
    second.add_subscriber(seen)
    async with second:
        second.add_connector("sim", "sim", tick_interval=0.005)
        await wait_until(lambda: seen.reports, seen.event, 5, "the positions check")
        # A new sim venue holds nothing; the journal's fill of SPY 4 is expected.
        assert [(r.symbol, r.expected, r.venue) for r in seen.reports] == [("SPY", 4, 0)]
        assert second.positions("sim") == {}
    second.journal.close()


@pytest.mark.parametrize(
    ("side", "price", "stop", "expected"),
    [("BUY", "100.07", None, ("100.05", None)), ("SELL", "100.07", None, ("100.10", None)),
     ("BUY", "100.07", "100.02", ("100.05", "100.05")),
     ("SELL", "100.07", "100.08", ("100.10", "100.05"))],
)
async def test_prices_off_the_tick_are_rounded_never_to_a_worse_price(
        side: str, price: str, stop: str | None, expected: tuple[str, str | None]) -> None:
    manager = make(config=attrs.evolve(FAST, off_tick_prices="round"), tick_size="0.05")
    async with manager:
        await manager.instrument_async("SPY")
        kind = OrderType.STOP_LIMIT if stop else OrderType.LIMIT
        oid = await manager.send_order_async(Order("SPY", side, 1, kind, price=price,
                                                   stop_price=stop))
        order = manager.get_order(oid)
        assert (order.price, order.stop_price) == (
            Decimal(expected[0]), None if expected[1] is None else Decimal(expected[1]))
    manager.journal.close()


async def test_prices_off_the_tick_are_rejected_before_they_leave() -> None:
    manager = make(config=attrs.evolve(FAST, off_tick_prices="reject"), tick_size="0.05")
    async with manager:
        # The first order of a symbol whose instrument is not known yet goes unchecked;
        # its instrument is fetched for the next ones.
        first = await manager.send_order_async(Order("SPY", "BUY", 1, "LIMIT", price="50.01"))
        await wait_until(lambda: ("sim", "SPY") in manager.venue_book.instruments,
                         asyncio.Event(), 5, "the instrument", recheck=0.01)
        with pytest.raises(OrderRejected, match=r"not a multiple of SPY's tick 0\.05"):
            await manager.send_order_async(Order("SPY", "BUY", 1, "LIMIT", price="50.02"))
        fine = await manager.send_order_async(Order("SPY", "BUY", 1, "LIMIT", price="50.05"))
        await manager.wait_for_order_async(fine, lambda o: o.status is OrderStatus.SUBMITTED)
        with pytest.raises(OrderRejected, match="tick"):
            manager.replace_order(fine, price="50.07")
        assert manager.get_order(first).price == Decimal("50.01")
    manager.journal.close()
