"""Brackets and OCO pairs on IBKR through the manager, against the gateway simulator (issue
25 item 4): the caller sees what it sees on FIX (plugins/stockfish-fix/tests/
test_brackets.py): the exits work once the entry fills, the first exit to fill
cancels the other, whichever it is. On IBKR the bracket is IB's own (parentId, ocaGroup,
transmit), activated and cancelled by the gateway simulator, not by the core."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import stockfish_ibkr.plugin as plugin
from stockfish_core import ExchangeManager, Order, OrderStatus, PluginRegistry
from stockfish_core.config import ManagerConfig
from stockfish_ibkr.testing import GatewaySimulator

CONFIG = ManagerConfig(health_check_interval=0.1, reconnect_initial_delay=0.05,
                       reconnect_max_delay=0.5, connect_timeout=5.0)


@pytest.fixture
async def quiet() -> AsyncIterator[GatewaySimulator]:
    async with GatewaySimulator(tick_interval=None) as gw:
        yield gw


def acknowledged(order: Order) -> bool:
    return order.venue_order_id is not None or order.is_final


@pytest.mark.parametrize(("exit_at", "filled", "cancelled"), [
    ((101.0, 101.05), 1, 2),   # the take profit fills: the stop loss is cancelled
    ((98.95, 99.0), 2, 1),     # the stop loss triggers and fills: the take profit goes
])
async def test_a_bracket_fills_one_exit_and_cancels_the_other(
        quiet: GatewaySimulator, library_name: str, exit_at: tuple[float, float],
        filled: int, cancelled: int) -> None:
    gw = quiet
    inst = gw.instrument("MSFT")
    gw.broker.set_quote(inst, 100.0, 100.05, 100, 100)
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "ibkr")
    manager = ExchangeManager(config=CONFIG, registry=registry, journal=":memory:")
    manager.add_connector("ibkr", "ibkr", host="127.0.0.1", port=gw.port, client_id=1,
                          library=library_name, connect_timeout=5.0)
    async with manager:
        ids = manager.send_bracket(
            Order("MSFT", "BUY", 10, "LIMIT", price="100.05"),
            Order("MSFT", "SELL", 10, "LIMIT", price="101"),
            Order("MSFT", "SELL", 10, "STOP", stop_price="99"))
        entry, take_profit, stop_loss = ids
        assert (await manager.wait_for_order_async(entry)).status is OrderStatus.FILLED
        for exit_id in (take_profit, stop_loss):
            order = await manager.wait_for_order_async(exit_id, acknowledged)
            assert order.status is OrderStatus.SUBMITTED and order.connector == "ibkr"
        assert len(gw.broker.open_orders()) == 2
        gw.broker.set_quote(inst, *exit_at, 100, 100)
        won = await manager.wait_for_order_async(ids[filled])
        lost = await manager.wait_for_order_async(ids[cancelled])
        assert won.status is OrderStatus.FILLED and won.filled_quantity == 10
        assert lost.status is OrderStatus.CANCELLED and lost.filled_quantity == 0
        assert gw.broker.open_orders() == []
        # IB's own bracket: the venue activated the exits and cancelled the other one.
        groups = manager.get_stats()["order_groups"]
        assert (groups["native_brackets"], groups["brackets"]) == (1, 0)
        assert groups["siblings_cancelled"] == 0
        ib_orders = {o.order_ref: o for o in gw.broker.orders.values()}
        assert ib_orders[take_profit].parent_id == ib_orders[entry].order_id
        assert ib_orders[stop_loss].parent_id == ib_orders[entry].order_id
        assert ib_orders[take_profit].oca_group == ib_orders[stop_loss].oca_group != ""
    manager.journal.close()


async def test_an_entry_cancelled_unfilled_cancels_its_exits(
        quiet: GatewaySimulator, library_name: str) -> None:
    gw = quiet
    inst = gw.instrument("MSFT")
    gw.broker.set_quote(inst, 100.0, 100.05, 100, 100)
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "ibkr")
    manager = ExchangeManager(config=CONFIG, registry=registry, journal=":memory:")
    manager.add_connector("ibkr", "ibkr", host="127.0.0.1", port=gw.port, client_id=1,
                          library=library_name, connect_timeout=5.0)
    async with manager:
        entry, take_profit, stop_loss = manager.send_bracket(
            Order("MSFT", "BUY", 10, "LIMIT", price="99"),
            Order("MSFT", "SELL", 10, "LIMIT", price="101"),
            Order("MSFT", "SELL", 10, "STOP", stop_price="98"))
        await manager.wait_for_order_async(entry, acknowledged)
        assert manager.cancel_order(entry)
        for order_id in (entry, take_profit, stop_loss):
            order = await manager.wait_for_order_async(order_id)
            assert order.status is OrderStatus.CANCELLED and order.filled_quantity == 0
        assert not gw.broker.executions and gw.broker.open_orders() == []
    manager.journal.close()
