"""Trailing stops (orderType TRAIL) and time in force GTD (goodTillDate) on IBKR, against
the gateway simulator with real ib_insync / ib_async clients and through the manager
(issue 25 item 4): the simulator moves a trailing stop with its quotes and triggers it,
and expires a GTD order at its goodTillDate."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

import stockfish_ibkr.plugin as plugin
from stockfish_core import ExchangeManager, Order, OrderStatus, PluginRegistry
from stockfish_core.config import ManagerConfig
from stockfish_core.errors import OrderRejected
from stockfish_ibkr.testing import GatewaySimulator

CONFIG = ManagerConfig(health_check_interval=0.1, reconnect_initial_delay=0.05,
                       reconnect_max_delay=0.5, connect_timeout=5.0)


def _msft(lib: ModuleType) -> Any:
    return lib.Stock("MSFT", "SMART", "USD", conId=272093)


def _good_till(seconds_ahead: float) -> str:
    """A goodTillDate ``seconds_ahead`` from now (IB's granularity is the second)."""
    return time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime(time.time() + seconds_ahead))


def _stop(gw: GatewaySimulator, order_id: int) -> Decimal | None:
    sim = gw.broker.order(1, order_id)
    assert sim is not None
    view = gw.broker.engine.order(sim.engine_id)
    assert view is not None
    return view.stop_price


async def test_a_trail_order_follows_the_bid_and_triggers(
        quiet_gateway: GatewaySimulator, connect: Any, library: ModuleType) -> None:
    gw = quiet_gateway
    inst = gw.instrument("MSFT")
    gw.broker.set_quote(inst, 100.0, 100.05, 100, 100)
    ib = await connect(gw, client_id=1)
    order = library.Order(action="SELL", totalQuantity=10, orderType="TRAIL", auxPrice=1.0)
    trade = ib.placeOrder(_msft(library), order)
    # Held until its stop is crossed, as TWS holds a trailing stop.
    await gw.wait_for(lambda: trade.orderStatus.status == "PreSubmitted" or None, 5,
                      "the trailing stop accepted")
    oid = trade.order.orderId
    assert _stop(gw, oid) == Decimal("99.0")
    gw.broker.set_quote(inst, 102.0, 102.05, 100, 100)
    assert _stop(gw, oid) == Decimal("101.0")  # up with the bid
    gw.broker.set_quote(inst, 101.5, 101.55, 100, 100)
    assert _stop(gw, oid) == Decimal("101.0")  # never back down
    assert trade.orderStatus.filled == 0
    gw.broker.set_quote(inst, 100.95, 101.0, 100, 100)  # the bid crosses the stop
    await gw.wait_for(lambda: trade.orderStatus.status == "Filled" or None, 5,
                      "the triggered trailing stop filled")
    assert trade.orderStatus.avgFillPrice == pytest.approx(100.95)
    assert trade.orderStatus.filled == 10


async def test_a_trail_order_by_percent_follows_the_ask(
        quiet_gateway: GatewaySimulator, connect: Any, library: ModuleType) -> None:
    gw = quiet_gateway
    inst = gw.instrument("MSFT")
    gw.broker.set_quote(inst, 100.0, 100.0, 100, 100)
    ib = await connect(gw, client_id=1)
    order = library.Order(action="BUY", totalQuantity=5, orderType="TRAIL",
                          trailingPercent=2.0)
    trade = ib.placeOrder(_msft(library), order)
    await gw.wait_for(lambda: trade.orderStatus.status == "PreSubmitted" or None, 5,
                      "the trailing stop accepted")
    oid = trade.order.orderId
    assert _stop(gw, oid) == Decimal("102.0")
    gw.broker.set_quote(inst, 89.95, 90.0, 100, 100)
    assert _stop(gw, oid) == Decimal("91.8")  # down with the ask, 2% above it
    assert gw.broker.order(1, oid).trailing_percent == 2.0  # type: ignore[union-attr]
    gw.broker.set_quote(inst, 91.8, 91.85, 100, 100)
    await gw.wait_for(lambda: trade.orderStatus.status == "Filled" or None, 5,
                      "the triggered trailing stop filled")
    assert trade.orderStatus.avgFillPrice == pytest.approx(91.85)


async def test_a_gtd_order_expires_at_its_good_till_date(
        gateway: GatewaySimulator, connect: Any, library: ModuleType) -> None:
    gw = gateway  # its market steps by itself: the expiry needs no help from the test
    inst = gw.instrument("MSFT")
    ib = await connect(gw, client_id=1)
    far = round(gw.broker.mark(inst) * 0.5, 2)
    order = library.LimitOrder("BUY", 10, far, tif="GTD", goodTillDate=_good_till(2))
    trade = ib.placeOrder(_msft(library), order)
    await gw.wait_for(lambda: trade.orderStatus.status == "Submitted" or None, 5,
                      "the GTD order working")
    await gw.wait_for(lambda: trade.orderStatus.status == "Cancelled" or None, 8,
                      "the GTD order expired")
    assert trade.orderStatus.filled == 0
    assert "GTD" in gw.broker.order(1, trade.order.orderId).completed_status  # type: ignore[union-attr]


async def test_a_gtd_order_without_a_valid_date_is_rejected(
        quiet_gateway: GatewaySimulator, connect: Any, library: ModuleType) -> None:
    gw = quiet_gateway
    inst = gw.instrument("MSFT")
    gw.broker.set_quote(inst, 100.0, 100.05, 100, 100)
    ib = await connect(gw, client_id=1)
    errors: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, *_: errors.append((req_id, code, text))
    missing = ib.placeOrder(_msft(library), library.LimitOrder("BUY", 1, 90.0, tif="GTD"))
    past = ib.placeOrder(_msft(library), library.LimitOrder(
        "BUY", 1, 90.0, tif="GTD", goodTillDate=_good_till(-60)))
    for trade, why in ((missing, "Invalid goodTillDate"), (past, "has passed")):
        # The client hears error 201 with the reason (and calls the order Cancelled).
        oid = trade.order.orderId
        await gw.wait_for(lambda o=oid, w=why: any(
            (r, c) == (o, 201) and w in text for r, c, text in errors) or None, 5,
            f"the GTD order rejected: {why}")
        assert gw.broker.order(1, trade.order.orderId).status == "Inactive"  # type: ignore[union-attr]
    assert not gw.broker.executions


# -- through the manager -------------------------------------------------------------------
@pytest.fixture
async def quiet() -> AsyncIterator[GatewaySimulator]:
    async with GatewaySimulator(tick_interval=None) as gw:
        yield gw


def _manager(gw: GatewaySimulator, library_name: str) -> ExchangeManager:
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "ibkr")
    manager = ExchangeManager(config=CONFIG, registry=registry, journal=":memory:")
    manager.add_connector("ibkr", "ibkr", host="127.0.0.1", port=gw.port, client_id=1,
                          library=library_name, connect_timeout=5.0)
    return manager


def _acknowledged(order: Order) -> bool:
    return order.venue_order_id is not None or order.is_final


async def test_a_trailing_stop_through_the_manager(quiet: GatewaySimulator,
                                                   library_name: str) -> None:
    gw = quiet
    inst = gw.instrument("MSFT")
    gw.broker.set_quote(inst, 100.0, 100.05, 100, 100)
    async with _manager(gw, library_name) as manager:
        cid = manager.send_order(Order("MSFT", "SELL", 10, "TRAILING_STOP",
                                       trail_amount="0.5"), "ibkr")
        order = await manager.wait_for_order_async(cid, _acknowledged)
        assert order.status is OrderStatus.SUBMITTED
        (sim,) = gw.broker.orders.values()
        assert (sim.order_type, sim.aux_price) == ("TRAIL", 0.5)
        gw.broker.set_quote(inst, 101.0, 101.05, 100, 100)  # the stop to 100.5
        gw.broker.set_quote(inst, 100.5, 100.55, 100, 100)  # crossed
        order = await manager.wait_for_order_async(cid)
        assert order.status is OrderStatus.FILLED
        assert order.avg_fill_price == Decimal("100.5")


async def test_a_gtd_order_through_the_manager_expires(gateway: GatewaySimulator,
                                                       library_name: str) -> None:
    gw = gateway
    far = Decimal(repr(round(gw.broker.mark(gw.instrument("MSFT")) * 0.5, 2)))
    async with _manager(gw, library_name) as manager:
        expire = time.time_ns() + 1_500_000_000
        cid = manager.send_order(Order("MSFT", "BUY", 10, "LIMIT", price=far,
                                       time_in_force="GTD", expire_ns=expire), "ibkr")
        order = await manager.wait_for_order_async(cid, _acknowledged)
        assert order.status is OrderStatus.SUBMITTED
        (sim,) = gw.broker.orders.values()
        assert sim.tif == "GTD" and sim.good_till_date.endswith(" UTC")
        order = await manager.wait_for_order_async(cid, timeout=8)
        assert order.status is OrderStatus.CANCELLED
        assert order.filled_quantity == 0
        assert time.time_ns() >= expire


async def test_a_gtd_order_in_the_past_is_refused_before_it_leaves(
        quiet: GatewaySimulator, library_name: str) -> None:
    async with _manager(quiet, library_name) as manager:
        order = Order("MSFT", "BUY", 10, "LIMIT", price="90", time_in_force="GTD",
                      expire_ns=time.time_ns() - 1_000_000_000)
        with pytest.raises(OrderRejected, match=r"GTD expire time .* has passed"):
            manager.send_order(order, "ibkr")
        assert order.status is OrderStatus.REJECTED
        assert "has passed" in (order.reason or "")
        assert manager.get_stats()["connectors"]["ibkr"]["orders_rejected"] == 1
    assert not quiet.broker.orders  # it never reached the gateway
