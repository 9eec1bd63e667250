"""Brackets and OCO pairs on FIX, emulated by the core (issue 25 item 4), against the FIX
exchange simulator: the exits are sent once the entry fills; the first exit to fill
cancels the other, whichever it is."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import stockfish_fix.plugin as fix_plugin
from stockfish_core import ExchangeManager, Order, OrderStatus, PluginRegistry
from stockfish_core.config import ManagerConfig
from stockfish_fix.testing import FixExchange

CONFIG = ManagerConfig(connect_timeout=20.0, reconnect_initial_delay=0.2,
                       position_check_interval=0)


def manager_for(exchange: FixExchange, version: str, tmp_path: Path) -> ExchangeManager:
    registry = PluginRegistry(entry_points=())
    registry.register(fix_plugin, "fix")
    manager = ExchangeManager(config=CONFIG, registry=registry, journal=":memory:")
    manager.add_connector("fix", "fix", **exchange.connector_settings(
        version, store="file", file_store_path=str(tmp_path / "client-store")))
    return manager


def received(exchange: FixExchange) -> list[str]:
    return [cl_ord_id for _session, cl_ord_id in exchange.orders_received]


def is_new(order: Order) -> bool:
    """Acknowledged by the venue (or final)."""
    return order.venue_order_id is not None or order.is_final


@pytest.mark.parametrize("version", ["FIX.4.4"])
@pytest.mark.parametrize(("exit_at", "filled", "cancelled"), [
    (("101", "101.1"), 1, 2),   # the take profit fills: the stop loss is cancelled
    (("98.9", "99"), 2, 1),     # the stop loss triggers and fills: the take profit goes
])
async def test_a_bracket_fills_one_exit_and_cancels_the_other(
        exchange: FixExchange, version: str, tmp_path: Path, exit_at: tuple[str, str],
        filled: int, cancelled: int) -> None:
    exchange.set_quote("SPY", "100", "100.1")
    manager = manager_for(exchange, version, tmp_path)
    async with manager:
        ids = manager.send_bracket(
            Order("SPY", "BUY", 10, "LIMIT", price="100.1"),
            Order("SPY", "SELL", 10, "LIMIT", price="101"),
            Order("SPY", "SELL", 10, "STOP", stop_price="99"))
        entry, take_profit, stop_loss = ids
        # The exits are known (held) before the entry fills.
        assert manager.get_order(take_profit).status is OrderStatus.PENDING
        assert (await manager.wait_for_order_async(entry)).status is OrderStatus.FILLED
        for exit_id in (take_profit, stop_loss):
            order = await manager.wait_for_order_async(exit_id, is_new)
            assert order.status is OrderStatus.SUBMITTED and order.connector == "fix"
            assert order.quantity == 10
        assert {take_profit, stop_loss} <= set(received(exchange))
        exchange.set_quote("SPY", *exit_at)
        won = await manager.wait_for_order_async(ids[filled])
        lost = await manager.wait_for_order_async(ids[cancelled])
        assert won.status is OrderStatus.FILLED and won.filled_quantity == 10
        assert lost.status is OrderStatus.CANCELLED and lost.filled_quantity == 0
        assert manager.positions()["SPY"].quantity == 0
        groups = manager.get_stats()["order_groups"]
        assert groups["brackets"] == 1 and groups["exits_released"] == 2
        assert groups["siblings_cancelled"] == 1
    manager.journal.close()


@pytest.mark.parametrize("version", ["FIX.4.4"])
async def test_an_entry_cancelled_unfilled_cancels_its_exits_unsent(
        exchange: FixExchange, version: str, tmp_path: Path) -> None:
    exchange.set_quote("SPY", "100", "100.1")
    manager = manager_for(exchange, version, tmp_path)
    async with manager:
        entry, take_profit, stop_loss = manager.send_bracket(
            Order("SPY", "BUY", 10, "LIMIT", price="99"),
            Order("SPY", "SELL", 10, "LIMIT", price="101"),
            Order("SPY", "SELL", 10, "STOP", stop_price="98"))
        await manager.wait_for_order_async(entry, is_new)
        assert manager.cancel_order(entry)
        assert (await manager.wait_for_order_async(entry)).status is OrderStatus.CANCELLED
        for exit_id in (take_profit, stop_loss):
            order = await manager.wait_for_order_async(exit_id)
            assert order.status is OrderStatus.CANCELLED
            assert order.reason is not None and "not sent" in order.reason
        assert take_profit not in received(exchange)
        assert stop_loss not in received(exchange)
        assert manager.get_stats()["order_groups"]["exits_dropped"] == 2
    manager.journal.close()


@pytest.mark.parametrize("version", ["FIX.4.4"])
async def test_an_oco_pair_cancels_the_sibling_of_the_first_fill(
        exchange: FixExchange, version: str, tmp_path: Path) -> None:
    exchange.set_quote("SPY", "100", "100.1")
    manager = manager_for(exchange, version, tmp_path)
    async with manager:
        buy, sell = manager.send_oco(Order("SPY", "BUY", 5, "LIMIT", price="99"),
                                     Order("SPY", "SELL", 5, "LIMIT", price="101"))
        await manager.wait_for_order_async(buy, is_new)
        await manager.wait_for_order_async(sell, is_new)
        exchange.set_quote("SPY", "98.8", "98.9")
        assert (await manager.wait_for_order_async(buy)).status is OrderStatus.FILLED
        assert (await manager.wait_for_order_async(sell)).status is OrderStatus.CANCELLED
        assert manager.positions()["SPY"].quantity == Decimal(5)
    manager.journal.close()


@pytest.mark.parametrize("version", ["FIX.4.4"])
def test_exits_that_do_not_fit_the_entry_are_refused_before_anything_is_sent(
        exchange: FixExchange, version: str, tmp_path: Path) -> None:
    manager = manager_for(exchange, version, tmp_path)
    entry = Order("SPY", "BUY", 10, "LIMIT", price="100")
    with pytest.raises(ValueError, match="other side"):
        manager.send_bracket(entry, Order("SPY", "BUY", 10, "LIMIT", price="101"),
                             Order("SPY", "SELL", 10, "STOP", stop_price="99"))
    with pytest.raises(ValueError, match="quantity"):
        manager.send_bracket(entry, Order("SPY", "SELL", 5, "LIMIT", price="101"),
                             Order("SPY", "SELL", 10, "STOP", stop_price="99"))
    with pytest.raises(ValueError, match="STOP or STOP_LIMIT"):
        manager.send_bracket(entry, Order("SPY", "SELL", 10, "LIMIT", price="101"),
                             Order("SPY", "SELL", 10, "LIMIT", price="99"))
    assert entry.status is OrderStatus.PENDING and entry.client_order_id is None
    manager.journal.close()
