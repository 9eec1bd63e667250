"""Losing TWS mid-session: the gateway stopped and restarted, a dropped socket, a restart
of the connector itself. Data resumes; no order is lost, duplicated or given a reused id;
fills made while disconnected are recovered once, with their commissions."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from stockfish_core import (
    ConnectorStatus,
    DataType,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Subscription,
)
from stockfish_core.testing import ConnectorHarness
from stockfish_ibkr.testing import GatewaySimulator

S = OrderStatus
_ids = itertools.count(1)


def order(symbol: str, side: str, qty: Any, kind: str = "MARKET", **kw: Any) -> Order:
    return Order(symbol, side, qty, kind, client_order_id=f"R{next(_ids):05d}", **kw)


async def until_status(h: ConnectorHarness, o: Order, status: OrderStatus,
                       timeout: float = 10.0) -> list[OrderUpdate]:
    def mine() -> list[OrderUpdate]:
        return [u for u in h.listener.order_updates if u.client_order_id == o.client_order_id]

    await h.listener.wait_for(lambda: any(u.status is status for u in mine()), timeout,
                              f"{o.client_order_id} {status.value}")
    return mine()


def ticks_after(h: ConnectorHarness, mark: int, symbol: str) -> int:
    return sum(1 for u in h.listener.updates[mark:]
               if u.symbol == symbol and u.data_type is DataType.PRICE_TICK)


async def test_gateway_restart_mid_session(make_harness: Any, supervisor: Any) -> None:
    async with GatewaySimulator(tick_interval=0.02) as gw:
        inst = gw.instrument("AAPL")
        subs = [Subscription("AAPL"), Subscription("EUR.USD"),
                Subscription("MSFT", DataType.ORDERBOOK_SNAPSHOT, depth=3)]
        sent: list[Order] = []
        async with make_harness(gw, client_id=2) as h, supervisor(h, subs, orders=sent) as sup:
            await h.connect()
            for sub in subs:
                await h.subscribe(sub)
            q = gw.broker.market(inst).quote("AAPL")
            bid, ask = Decimal(repr(q.bid)), Decimal(repr(q.ask))
            before = order("AAPL", "BUY", 10)
            rests = order("AAPL", "BUY", 100, "LIMIT", price=bid - 5)
            stays = order("AAPL", "SELL", 10, "LIMIT", price=ask + 50)
            for o in (before, rests, stays):
                sent.append(o)
                await h.execute(OrderRequest(OrderAction.SUBMIT, o))
            await until_status(h, before, S.FILLED)
            await until_status(h, rests, S.SUBMITTED)
            await until_status(h, stays, S.SUBMITTED)
            ids_before = {int(u.venue_order_id or 0) for u in h.listener.order_updates}

            await gw.stop()
            await h.wait_status(ConnectorStatus.DISCONNECTED, 5)
            # While TWS is down, IB fills the resting buy.
            gw.broker.set_quote(inst, float(bid - 6), float(bid - Decimal("5.99")), 500, 500)
            assert gw.broker.open_orders(2)[0].order_ref == stays.client_order_id
            mark = len(h.listener.updates)
            await gw.start()

            await h.listener.wait_for(lambda: sup.reconnects == 1, 15, "the reconnect")
            assert h.connector.status is ConnectorStatus.CONNECTED
            ups = await until_status(h, rests, S.FILLED)
            fills = [u.fill for u in ups if u.fill is not None]
            assert len(fills) == 1 and fills[0].quantity == 100
            assert fills[0].price == bid - 5 and fills[0].commission > 0
            # Data resumes by itself (the supervisor only re-subscribed, as the manager does).
            await h.listener.wait_for(
                lambda: ticks_after(h, mark, "AAPL") > 2 and ticks_after(h, mark, "EUR.USD") > 2
                and any(u.symbol == "MSFT" for u in h.listener.updates[mark:]), 10,
                "data after the restart")
            # The order that stayed open is still there and still ours to cancel.
            await h.execute(OrderRequest(OrderAction.CANCEL, stays))
            await until_status(h, stays, S.CANCELLED)
            after = order("AAPL", "SELL", 10)
            await h.execute(OrderRequest(OrderAction.SUBMIT, after))
            new = await until_status(h, after, S.FILLED)
            assert int(new[-1].venue_order_id or 0) > max(ids_before)

            execs = [u.fill.execution_id for u in h.listener.order_updates if u.fill]
            assert len(execs) == len(set(execs)) == 3  # before, rests, after: once each
            # One live final report each; the STATUS answer after the reconnect repeats
            # rests' FILLED, marked possible_duplicate (the core applies it once).
            finals = [u.client_order_id for u in h.listener.order_updates
                      if u.status.is_final and not (u.possible_duplicate and u.fill is None)]
            assert sorted(finals) == sorted(o.client_order_id for o in
                                            (before, rests, stays, after))
            sim_ids = [o.order_id for o in gw.broker.orders.values() if o.client_id == 2]
            assert len(sim_ids) == len(set(sim_ids)) == 4


async def test_dropped_socket_reconnects_and_data_resumes(gateway: GatewaySimulator,
                                                          make_harness: Any,
                                                          supervisor: Any) -> None:
    subs = [Subscription("IBM"), Subscription("SPY", DataType.OHLCV_BAR, interval="5s")]
    async with make_harness(gateway, client_id=6) as h, supervisor(h, subs) as sup:
        await h.connect()
        for sub in subs:
            await h.subscribe(sub)
        await h.next_update(5, where=lambda u: u.symbol == "IBM")
        gateway.drop_client(6)
        await h.listener.wait_for(lambda: sup.reconnects == 1, 10, "the reconnect")
        mark = len(h.listener.updates)
        await h.listener.wait_for(lambda: ticks_after(h, mark, "IBM") > 2, 5, "IBM ticks")
        await h.next_update(5, where=lambda u: u.data_type is DataType.OHLCV_BAR)
        assert len(gateway.sessions[6].mkt) == 1  # one request, not one per reconnect


async def test_fills_while_disconnected_are_reported_on_status(
        quiet_gateway: GatewaySimulator, make_harness: Any) -> None:
    """After a reconnect the core asks STATUS (the connector does not reconcile on its
    own): the answer carries the fills made while away, with their commissions, each time
    it is asked, marked possible_duplicate; the core applies each execution id once
    (test_manager_orders.py)."""
    gw = quiet_gateway
    inst = gw.instrument("MSFT")
    async with make_harness(gw, client_id=3) as h:
        await h.connect()
        ask = Decimal(repr(gw.broker.market(inst).quote("MSFT").ask))
        o = order("MSFT", "SELL", 50, "LIMIT", price=ask + 3)
        await h.execute(OrderRequest(OrderAction.SUBMIT, o))
        await until_status(h, o, S.SUBMITTED)
        await h.disconnect()
        gw.broker.set_quote(inst, float(ask + 3), float(ask + Decimal("3.05")), 20, 20)
        gw.broker.step([inst])  # fresh liquidity at the quote: the rest fills
        gw.broker.set_quote(inst, float(ask + 4), float(ask + Decimal("4.05")), 100, 100)
        for _ in range(2):  # reconnecting twice: the same executions, the same ids
            await h.connect()
            await h.execute(OrderRequest(OrderAction.STATUS, o))
            await until_status(h, o, S.FILLED)
            await h.disconnect()
        fills = [u.fill for u in h.listener.order_updates if u.fill is not None]
        assert [f.quantity for f in fills] == [20, 30, 20, 30]
        assert fills[:2] == fills[2:] and fills[0].execution_id != fills[1].execution_id
        assert all(f.commission > 0 for f in fills)
        assert [(u.status, u.possible_duplicate) for u in h.listener.order_updates] == [
            (S.SUBMITTED, False), *[(S.PARTIALLY_FILLED, True), (S.FILLED, True),
                                    (S.FILLED, True)] * 2]


async def test_a_restarted_connector_recognises_its_orders(quiet_gateway: GatewaySimulator,
                                                           make_harness: Any) -> None:
    gw = quiet_gateway
    inst = gw.instrument("IBM")
    bid = Decimal(repr(gw.broker.market(inst).quote("IBM").bid))
    async with make_harness(gw, client_id=8) as first:
        await first.connect()
        o = order("IBM", "BUY", 7, "LIMIT", price=bid - 1)
        await first.execute(OrderRequest(OrderAction.SUBMIT, o))
        ups = await until_status(first, o, S.SUBMITTED)
        used = int(ups[0].venue_order_id or 0)
    gw.broker.set_quote(inst, float(bid - 2), float(bid - Decimal("1.5")), 100, 100)
    # A new process: a fresh connector with the same client id and an empty order book;
    # the order comes back from the journal and is reconciled by its client order id.
    async with make_harness(gw, client_id=8) as second:
        await second.connect()
        again = Order("IBM", "BUY", 7, "LIMIT", price=bid - 1,
                      client_order_id=o.client_order_id)
        await second.execute(OrderRequest(OrderAction.STATUS, again))
        ups = await until_status(second, again, S.FILLED)
        assert [u.fill.quantity for u in ups if u.fill] == [7]
        new = order("IBM", "SELL", 7)
        await second.execute(OrderRequest(OrderAction.SUBMIT, new))
        done = await until_status(second, new, S.FILLED)
        assert int(done[-1].venue_order_id or 0) > used  # IB order ids are never reused
