"""Brackets and OCO pairs on IBKR through the manager, against the gateway simulator (issue
25 item 4): the caller sees what it sees on FIX (plugins/stockfish-fix/tests/
test_brackets.py): the exits are sent once the entry fills, the first exit to fill
cancels the other, whichever it is. The core emulates the group on IBKR too (docs/orders.md
states the emulation's limits)."""

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
        assert manager.get_order(take_profit).status is OrderStatus.PENDING
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
        assert manager.get_stats()["order_groups"]["siblings_cancelled"] == 1
    manager.journal.close()
