"""Order modification on IBKR (issue 25): placeOrder again with the same order id, under
the core's replace state machine (as FIX's cancel/replace), with ib_insync and ib_async
against the gateway simulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import stockfish_ibkr.plugin as plugin
from stockfish_core import (
    ExchangeManager,
    Order,
    OrderRejected,
    OrderStatus,
    OrderType,
    PluginRegistry,
)
from stockfish_core.config import ManagerConfig
from stockfish_ibkr.testing import GatewaySimulator

CONFIG = ManagerConfig(connect_timeout=5.0, position_check_interval=0)


def manager_for(gw: GatewaySimulator, library_name: str) -> ExchangeManager:
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "ibkr")
    manager = ExchangeManager(config=CONFIG, registry=registry, journal=":memory:")
    manager.add_connector("ibkr", "ibkr", host="127.0.0.1", port=gw.port, client_id=3,
                          library=library_name, connect_timeout=5.0)
    return manager


async def test_a_modified_order_works_with_its_new_terms(
        quiet_gateway: GatewaySimulator, library_name: str) -> None:
    gw = quiet_gateway
    inst = gw.instrument("AAPL")
    assert plugin.CAPABILITIES.replace
    manager = manager_for(gw, library_name)
    async with manager:
        bid = Decimal(repr(gw.broker.market(inst).quote("AAPL").bid))
        oid = await manager.send_order_async(
            Order("AAPL", "BUY", 10, OrderType.LIMIT, price=bid - 5))
        await manager.wait_for_order_async(oid, lambda o: o.status is OrderStatus.SUBMITTED,
                                           10)
        new_price = bid - 4
        assert manager.replace_order(oid, quantity=12, price=new_price)
        order = await manager.wait_for_order_async(
            oid, lambda o: o.price == new_price and o.quantity == 12, 10)
        assert order.status is OrderStatus.SUBMITTED
        at_ib = gw.broker.order(3, int(order.venue_order_id or 0))
        assert at_ib is not None
        assert (at_ib.quantity, at_ib.lmt_price) == (12.0, float(new_price))
        assert len(gw.broker.orders) == 1  # modified, not a second order
        # Only the new price fills it.
        gw.broker.set_quote(inst, float(new_price - Decimal("0.05")), float(new_price), 100,
                            100)
        done = await manager.wait_for_order_async(oid, timeout=10)
        assert (done.status, done.filled_quantity, done.avg_fill_price) == (
            OrderStatus.FILLED, 12, new_price)
        # A filled order is not modified any more: refused before it leaves.
        assert not manager.replace_order(oid, price=new_price)
    manager.journal.close()


async def test_a_second_modification_waits_for_the_first(
        quiet_gateway: GatewaySimulator, library_name: str, make_harness: Any) -> None:
    from stockfish_core import OrderAction, OrderRequest

    gw = quiet_gateway
    async with make_harness(gw) as h:
        await h.connect()
        o = Order("AAPL", "BUY", 1, OrderType.LIMIT, price=1, client_order_id="M-1")
        await h.execute(OrderRequest(OrderAction.SUBMIT, o))
        await h.listener.wait_for(lambda: h.listener.order_updates, 5, "the acknowledgement")
        await h.execute(OrderRequest(OrderAction.REPLACE, o, price=Decimal(2)))
        with pytest.raises(OrderRejected, match="still pending"):
            await h.execute(OrderRequest(OrderAction.REPLACE, o, price=Decimal(3)))
        await h.listener.wait_for(lambda: any(u.replaced for u in h.listener.order_updates), 5,
                                  "the modification's acknowledgement")
        replaced = next(u for u in h.listener.order_updates if u.replaced)
        assert (replaced.price, replaced.quantity) == (Decimal(2), Decimal(1))


async def test_a_modification_ib_refuses_leaves_the_order_as_it_was(
        quiet_gateway: GatewaySimulator, library_name: str) -> None:
    gw = quiet_gateway
    inst = gw.instrument("AAPL")
    manager = manager_for(gw, library_name)
    async with manager:
        bid = Decimal(repr(gw.broker.market(inst).quote("AAPL").bid))
        # A buy stop below the market triggers at once; its limit far below rests.
        oid = await manager.send_order_async(Order(
            "AAPL", "BUY", 5, OrderType.STOP_LIMIT, price=bid - 20, stop_price=bid - 10))
        await manager.wait_for_order_async(oid, lambda o: o.status is OrderStatus.SUBMITTED,
                                           10)
        # The stop has triggered at IB: moving it is refused (IB 105).
        assert manager.replace_order(oid, stop_price=bid - 9)
        order = await manager.wait_for_order_async(
            oid, lambda o: "replace rejected" in (o.reason or ""), 10)
        assert "IB 105" in (order.reason or "")
        assert (order.status, order.stop_price, order.price) == (
            OrderStatus.SUBMITTED, bid - 10, bid - 20)
        # The order still works, and can be modified where IB allows it.
        assert manager.replace_order(oid, price=bid - 19)
        await manager.wait_for_order_async(oid, lambda o: o.price == bid - 19, 10)
    manager.journal.close()
