"""Brackets and OCO pairs emulated by the core (stockfish_core.brackets) on the sim
venue: an entry filled in part and then cancelled protects what filled; an OCO pair's
first fill, even a partial one, cancels the other; exits that do not fit are refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import pytest

import stockfish_core.sim.plugin as sim_plugin
from stockfish_core import (
    ExchangeManager,
    Order,
    OrderRejected,
    OrderStatus,
    OrderType,
    PluginRegistry,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.errors import InvalidOrderError
from stockfish_core.sim.venue import SimVenue

CONFIG = ManagerConfig(connect_timeout=5.0, position_check_interval=0)


def make() -> ExchangeManager:
    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    manager = ExchangeManager(config=CONFIG, registry=registry, journal=":memory:")
    # The market never moves by itself: the test sets every quote.
    manager.add_connector("sim", "sim", tick_interval=3600, start_prices={"SPY": 100.0})
    return manager


def venue_of(manager: ExchangeManager) -> SimVenue:
    venue = manager.get_connector("sim").state
    assert isinstance(venue, SimVenue)
    return venue


def working(order: Order) -> bool:
    return order.venue_order_id is not None or order.is_final


def has_fill(order: Order) -> bool:
    return order.filled_quantity > 0 or order.is_final


async def test_an_entry_filled_in_part_then_cancelled_protects_what_filled() -> None:
    manager = make()
    async with manager:
        venue = venue_of(manager)
        venue.set_quote("SPY", "100", "100.10", size=4)
        entry, take_profit, stop_loss = manager.send_bracket(
            Order("SPY", "BUY", 10, "LIMIT", price="100.10"),
            Order("SPY", "SELL", 10, "LIMIT", price="101"),
            Order("SPY", "SELL", 10, "STOP", stop_price="99"))
        part = await manager.wait_for_order_async(entry, has_fill)
        assert part.filled_quantity == 4 and not part.is_final
        # Still held: the entry is not final.
        assert manager.get_order(take_profit).status is OrderStatus.PENDING
        assert manager.cancel_order(entry)
        assert (await manager.wait_for_order_async(entry)).status is OrderStatus.CANCELLED
        for exit_id in (take_profit, stop_loss):
            exit_ = await manager.wait_for_order_async(exit_id, working)
            assert exit_.status is OrderStatus.SUBMITTED
            assert exit_.quantity == 4
        venue.set_quote("SPY", "101", "101.10", size=100)
        assert (await manager.wait_for_order_async(take_profit)).filled_quantity == 4
        assert (await manager.wait_for_order_async(stop_loss)).status is OrderStatus.CANCELLED
        assert manager.positions()["SPY"].quantity == 0
    manager.journal.close()


async def test_the_first_fill_of_an_oco_pair_even_partial_cancels_the_other() -> None:
    manager = make()
    async with manager:
        venue = venue_of(manager)
        venue.set_quote("SPY", "100", "100.10", size=100)
        buy, sell = manager.send_oco(Order("SPY", "BUY", 10, "LIMIT", price="99"),
                                     Order("SPY", "SELL", 10, "LIMIT", price="101"))
        await manager.wait_for_order_async(sell, working)
        venue.set_quote("SPY", "101", "101.10", size=3)
        filled = await manager.wait_for_order_async(sell, has_fill)
        assert filled.filled_quantity == 3
        other = await manager.wait_for_order_async(buy)
        assert other.status is OrderStatus.CANCELLED and other.filled_quantity == 0
        stats = manager.get_stats()["order_groups"]
        assert (stats["oco_groups"], stats["siblings_cancelled"]) == (1, 1)
        assert manager.positions()["SPY"].quantity == Decimal(-3)
    manager.journal.close()


@pytest.mark.parametrize(("take_profit", "stop_loss", "why"), [
    (Order("QQQ", "SELL", 10, "LIMIT", price="101"), Order("SPY", "SELL", 10, "STOP",
                                                          stop_price="99"), "is for QQQ"),
    (Order("SPY", "SELL", 10, "STOP", stop_price="101"), Order("SPY", "SELL", 10, "STOP",
                                                              stop_price="99"), "LIMIT"),
])
async def test_exits_that_do_not_fit_are_refused_before_anything_is_sent(
        take_profit: Order, stop_loss: Order, why: str) -> None:
    manager = make()
    async with manager:
        entry = Order("SPY", "BUY", 10, "LIMIT", price="100")
        with pytest.raises(InvalidOrderError, match=why):
            manager.send_bracket(entry, take_profit, stop_loss)
        assert manager.open_orders() == [] and entry.client_order_id is None
    manager.journal.close()


async def test_an_exit_the_venue_cannot_take_is_refused_before_the_entry_is_sent() -> None:
    manager = make()
    async with manager:
        connector = manager.get_connector("sim")
        connector.capabilities = attrs.evolve(
            connector.capabilities, order_types={OrderType.MARKET, OrderType.LIMIT})
        entry = Order("SPY", "BUY", 10, "LIMIT", price="100")
        with pytest.raises(OrderRejected, match=r"stop loss cannot go to sim.*STOP"):
            manager.send_bracket(entry, Order("SPY", "SELL", 10, "LIMIT", price="101"),
                                 Order("SPY", "SELL", 10, "STOP", stop_price="99"))
        assert entry.status is OrderStatus.PENDING and manager.open_orders() == []
    manager.journal.close()


def test_a_stopped_manager_sends_no_bracket() -> None:
    manager = make()
    orders: list[Any] = [Order("SPY", "BUY", 1, "LIMIT", price="100"),
                         Order("SPY", "SELL", 1, "LIMIT", price="101"),
                         Order("SPY", "SELL", 1, "STOP", stop_price="99")]
    with pytest.raises(Exception, match="not started"):
        manager.send_bracket(*orders)
    manager.journal.close()
