"""The plugin author's kit in the core: supervised tasks, fills by client order id, the
STATUS answer, and diagnostics that name what was missing."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import pytest

from stockfish_core import (
    Connector,
    ConnectorStatus,
    ExchangeManager,
    Order,
    OrderStatus,
    OrderUpdate,
    PluginRegistry,
    PluginSpec,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.oms import OrderBook
from stockfish_core.plugin_api import (
    UNKNOWN_ORDER,
    Execution,
    answer_status,
    cancel_spawned,
    hookimpl,
    spawned,
)
from stockfish_core.sequencing import Sequencer
from stockfish_core.testing import ConnectorHarness


class ReaderDies:
    """A plugin whose reader task raises when told to (as Fill() refusing a fill did)."""

    def __init__(self) -> None:
        self.die = asyncio.Event()

    @hookimpl
    def stockfish_plugin_spec(self) -> PluginSpec:
        return PluginSpec("1.0")

    @hookimpl
    async def stockfish_connect(self, connector: Connector) -> None:
        async def reader() -> None:
            await self.die.wait()
            raise ValueError("fill for an order this plugin has not seen")

        connector.spawn(reader(), name="reader")
        connector.set_status(ConnectorStatus.CONNECTED)

    @hookimpl
    async def stockfish_disconnect(self, connector: Connector) -> None:
        await cancel_spawned(connector)


async def test_a_spawned_task_that_dies_is_reported_as_a_lost_connection(
        caplog: pytest.LogCaptureFixture) -> None:
    plugin = ReaderDies()
    async with ConnectorHarness(plugin, "dies") as h:
        await h.connect()
        assert len(spawned(h.connector)) == 1
        plugin.die.set()
        await h.wait_status(ConnectorStatus.DISCONNECTED, timeout=5)
        reason = h.connector.status_reason
        assert reason == ("task reader died: ValueError: fill for an order this plugin has "
                          "not seen")
        assert not spawned(h.connector)
        assert any("task reader died" in r.message and r.exc_info for r in caplog.records)


async def test_a_cancelled_spawned_task_is_no_loss() -> None:
    plugin = ReaderDies()
    async with ConnectorHarness(plugin, "dies") as h:
        await h.connect()
        await cancel_spawned(h.connector)
        assert not spawned(h.connector)
        assert h.connector.status is ConnectorStatus.CONNECTED


class NeverConnected:
    """A connect hook that returns without reporting CONNECTED."""

    @hookimpl
    def stockfish_plugin_spec(self) -> PluginSpec:
        return PluginSpec("1.0")

    @hookimpl
    async def stockfish_connect(self, connector: Connector) -> None:
        return None

    @hookimpl
    async def stockfish_disconnect(self, connector: Connector) -> None:
        return None


async def test_a_connect_hook_that_never_reports_connected_is_named(
        caplog: pytest.LogCaptureFixture) -> None:
    registry = PluginRegistry(entry_points=())
    registry.register(NeverConnected(), "silent")
    manager = ExchangeManager(config=ManagerConfig(connect_timeout=0.2,
                                                   reconnect_initial_delay=30),
                              registry=registry, journal=":memory:")
    manager.add_connector("quiet", "silent")
    try:
        with caplog.at_level(logging.ERROR, "stockfish.manager"):
            assert not await manager.start()
    finally:
        await manager.stop()
        manager.journal.close()
    failed = [r.getMessage() for r in caplog.records if "connect failed" in r.getMessage()]
    assert failed, caplog.text
    assert "the connect hook of plugin 'silent' returned but did not report CONNECTED" \
        in failed[0]
    assert "TimeoutError" not in failed[0]


async def test_the_harness_names_a_silent_connect_hook_too() -> None:
    async with ConnectorHarness(NeverConnected(), "silent") as h:
        with pytest.raises(TimeoutError, match="returned but did not report CONNECTED"):
            await h.connect(timeout=0.2)


def test_early_gaps_say_how_sequences_are_keyed(caplog: pytest.LogCaptureFixture) -> None:
    """A venue numbering its messages once per session across symbols: every symbol's
    stream shows gaps, and the first ones say why."""
    sequencer: Sequencer[int] = Sequencer(buffer_size=0, label="venue")
    with caplog.at_level(logging.WARNING, "stockfish"):
        for seq in range(1, 30):
            symbol = ("SPY", "QQQ")[seq % 2]
            sequencer.offer(sequencer.tracker(("", symbol)), seq, seq)
    gaps = [r.getMessage() for r in caplog.records if "sequence gap" in r.getMessage()]
    assert sequencer.stats.gaps >= 26
    assert "tracked per (source, stream, symbol)" in gaps[0]
    assert "sequencer_for" in gaps[0]
    assert sum("tracked per" in g for g in gaps) <= 3  # the first gaps say it, not all


def _order() -> Order:
    return Order("SPY", "SELL", 5, client_order_id="C1", connector="venue")


def test_an_execution_is_completed_from_the_order_the_core_holds() -> None:
    book = OrderBook(None)
    order = _order()
    book.add(order)
    outcome = book.apply(OrderUpdate("C1", OrderStatus.PARTIALLY_FILLED,
                                     execution=Execution("E1", 2, "10.5")), "venue")
    assert outcome is not None and outcome.fill is not None
    fill = outcome.fill
    assert (fill.symbol, fill.side.value, fill.quantity, fill.price) == \
        ("SPY", "SELL", Decimal(2), Decimal("10.5"))
    assert fill.connector == "venue" and fill.client_order_id == "C1"
    assert order.filled_quantity == 2 and order.status is OrderStatus.PARTIALLY_FILLED
    again = book.apply(OrderUpdate("C1", OrderStatus.PARTIALLY_FILLED,
                                   execution=Execution("E1", 2, "10.5")), "venue")
    assert again is not None and again.duplicate_fill and order.filled_quantity == 2


def test_an_execution_needs_an_id_and_a_positive_quantity() -> None:
    from stockfish_core import InvalidOrderError

    with pytest.raises(InvalidOrderError, match="execution id"):
        Execution("", 1, 1)
    with pytest.raises(InvalidOrderError, match="quantity must be positive"):
        Execution("E", 0, 1)


class Quiet:
    @hookimpl
    def stockfish_plugin_spec(self) -> PluginSpec:
        return PluginSpec("1.0")


async def test_answer_status_for_known_and_unknown_orders() -> None:
    async with ConnectorHarness(Quiet(), "quiet") as h:
        answer_status(h.connector, "C1", OrderStatus.FILLED,
                      fills=[Execution("E1", 2, 10), Execution("E2", 3, 11)],
                      venue_order_id="V1")
        answer_status(h.connector, "C2", None)
        updates: list[Any] = h.listener.order_updates
    assert [(u.client_order_id, u.status, u.possible_duplicate) for u in updates] == [
        ("C1", OrderStatus.PARTIALLY_FILLED, True), ("C1", OrderStatus.PARTIALLY_FILLED, True),
        ("C1", OrderStatus.FILLED, False), ("C2", OrderStatus.REJECTED, False)]
    assert [u.execution.execution_id for u in updates[:2]] == ["E1", "E2"]
    assert updates[2].venue_order_id == "V1"
    assert updates[3].reason == UNKNOWN_ORDER == "unknown order"


def test_a_fill_resent_without_possdup_after_the_order_filled_is_no_illegal_transition() -> None:
    """A venue without a PossDup flag resends a fill report with the status it had then
    (PARTIALLY_FILLED): a duplicate, counted as one, not an illegal FILLED -> PARTIALLY."""
    book = OrderBook(None)
    order = _order()
    book.add(order)
    for exec_id, qty in (("E1", 2), ("E2", 3)):
        book.apply(OrderUpdate("C1", OrderStatus.PARTIALLY_FILLED,
                               execution=Execution(exec_id, qty, 10)), "venue")
    assert order.status is OrderStatus.FILLED
    resent = book.apply(OrderUpdate("C1", OrderStatus.PARTIALLY_FILLED,
                                    execution=Execution("E1", 2, 10)), "venue")
    assert resent is not None and resent.duplicate_fill
    assert order.status is OrderStatus.FILLED and order.filled_quantity == 5
    assert book.illegal_transitions == 0
