"""Memory stays flat with every order: a final order leaves the connector and the IB
library's caches (trades, fills) after a count or an age, and a late execution of such an
order still reaches the core."""

from __future__ import annotations

import collections
import itertools
from typing import Any

import attrs

from stockfish_core import Order, OrderAction, OrderRequest, OrderStatus, OrderUpdate
from stockfish_core.testing import ConnectorHarness
from stockfish_ibkr.testing import GatewaySimulator

S = OrderStatus
_ids = itertools.count(1)


def order(symbol: str = "IBM", qty: int = 1) -> Order:
    return Order(symbol, "BUY", qty, client_order_id=f"R{next(_ids):05d}")


async def filled(h: ConnectorHarness, o: Order) -> list[OrderUpdate]:
    await h.execute(OrderRequest(OrderAction.SUBMIT, o))

    def done() -> bool:
        return any(u.client_order_id == o.client_order_id and u.status is S.FILLED
                   for u in h.listener.order_updates)

    await h.listener.wait_for(done, 5.0, f"{o.client_order_id} FILLED")
    return [u for u in h.listener.order_updates if u.client_order_id == o.client_order_id]


def library_refs(h: ConnectorHarness) -> set[str]:
    """The orderRefs of every trade and fill the IB library holds."""
    wrapper = h.connector.state.session.ib.wrapper
    return ({t.order.orderRef for t in wrapper.trades.values()}
            | {t.order.orderRef for t in wrapper.permId2Trade.values()}
            | {f.execution.orderRef for f in wrapper.fills.values()})


async def test_final_orders_leave_the_connector_and_the_library_by_count(
        quiet_gateway: GatewaySimulator, make_harness: Any) -> None:
    async with make_harness(quiet_gateway) as h:
        await h.connect()
        orders = h.connector.state.orders
        orders.keep_final, orders.keep_final_seconds = 3, 3600.0
        sent = [order() for _ in range(10)]
        for o in sent:
            await filled(h, o)
        orders.flush()
        kept = {o.client_order_id for o in sent[-3:]}
        assert set(orders.by_coid) == kept
        assert {t.coid for t in orders.by_ib_id.values()} <= kept
        assert {t.coid for t in orders.by_perm.values()} <= kept
        assert library_refs(h) == kept
        assert orders.forgotten == 7


async def test_final_orders_leave_by_age(quiet_gateway: GatewaySimulator,
                                         make_harness: Any) -> None:
    async with make_harness(quiet_gateway) as h:
        await h.connect()
        orders = h.connector.state.orders
        orders.keep_final, orders.keep_final_seconds = 1000, 0.0
        first, second = order(), order()
        await filled(h, first)
        await filled(h, second)
        await h.listener.wait_for(lambda: not orders.by_coid, 5.0, "orders forgotten")
        assert first.client_order_id not in library_refs(h)
        assert orders.forgotten == 2


async def test_a_late_execution_of_a_forgotten_order_reaches_the_core(
        quiet_gateway: GatewaySimulator, make_harness: Any) -> None:
    gw = quiet_gateway
    async with make_harness(gw) as h:
        await h.connect()
        orders = h.connector.state.orders
        orders.keep_final, orders.keep_final_seconds = 1, 3600.0
        o = order("IBM", 5)
        ups = await filled(h, o)
        await filled(h, order())  # pushes ``o`` out
        assert o.client_order_id not in orders.by_coid
        assert o.client_order_id not in library_refs(h)
        first = ups[-1].fill
        assert first is not None
        execution = next(ex for ex in gw.broker.executions
                         if ex.exec_id == first.execution_id)
        late = attrs.evolve(execution, exec_id=execution.exec_id + "L")
        for listener in list(gw.broker.listeners):
            listener.on_order(execution.order, late, None)

        def reported() -> bool:
            return any(u.fill is not None and u.fill.execution_id == late.exec_id
                       for u in h.listener.order_updates)

        await h.listener.wait_for(reported, 5.0, "the late execution")
        update = next(u for u in h.listener.order_updates
                      if u.fill is not None and u.fill.execution_id == late.exec_id)
        assert update.client_order_id == o.client_order_id
        assert update.fill is not None and update.fill.symbol == "IBM"
        assert update.fill.quantity == first.quantity and update.fill.commission > 0
        assert orders.orphan_executions == 1
        # It leaves again with the next final order.
        await filled(h, order())
        orders.flush()
        assert o.client_order_id not in orders.by_coid


async def test_forgotten_trades_are_freed_at_once_not_by_the_cycle_collector(
        quiet_gateway: GatewaySimulator, make_harness: Any) -> None:
    """The library's events keep the last values they emitted, and a Trade's events emit
    the Trade: every Trade was in a reference cycle, freed only when the cycle collector
    got to its oldest generation (the soak's RSS grew between those collections)."""
    import gc
    import weakref

    async with make_harness(quiet_gateway) as h:
        await h.connect()
        orders = h.connector.state.orders
        orders.keep_final, orders.keep_final_seconds = 3, 3600.0
        wrapper = h.connector.state.session.ib.wrapper
        trades: dict[str, weakref.ref[Any]] = {}
        gc.collect()
        gc.disable()
        try:
            sent = [order() for _ in range(10)]
            for o in sent:
                await filled(h, o)
                for t in wrapper.trades.values():
                    trades.setdefault(t.order.orderRef, weakref.ref(t))
            orders.flush()
            forgotten = [o.client_order_id for o in sent[:-3]]
            assert orders.forgotten == 7
            alive = [coid for coid in forgotten if trades[coid]() is not None]
        finally:
            gc.enable()
        assert alive == []


class _CountedQueue(collections.deque):  # type: ignore[type-arg]
    """A report queue that counts how often it is looked at."""

    looked = 0

    def __len__(self) -> int:
        _CountedQueue.looked += 1
        return super().__len__()


async def test_a_report_visits_only_the_orders_with_something_to_report(
        quiet_gateway: GatewaySimulator, make_harness: Any) -> None:
    """The final orders held (up to keep_final) cost a new order's reports nothing: a
    flush looks at the orders with reports queued, not at every order held."""
    async with make_harness(quiet_gateway) as h:
        await h.connect()
        orders = h.connector.state.orders
        orders.keep_final, orders.keep_final_seconds = 1000, 3600.0
        for _ in range(20):
            await filled(h, order())
        held = list(orders.by_coid.values())
        assert len(held) == 20 and not any(t.queue for t in held)
        for tracked in held:
            tracked.queue = _CountedQueue()
        _CountedQueue.looked = 0
        updates = await filled(h, order())
        assert [u.status for u in updates][-1] is S.FILLED
        assert _CountedQueue.looked == 0
        assert not orders._queued
