"""The ibkr connector's orders against the simulated gateway: order types and time in
force, fills with commissions, cancels, rejects, status queries, positions, pacing."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import Any

import pytest

import stockfish_ibkr.orders as orders_module
import stockfish_ibkr.plugin as plugin
from stockfish_core import (
    Order,
    OrderAction,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    VenueUnavailable,
)
from stockfish_core.testing import ConnectorHarness
from stockfish_ibkr.testing import GatewaySimulator

S = OrderStatus
_ids = itertools.count(1)


def order(symbol: str, side: str, qty: Any, kind: str = "MARKET", **kw: Any) -> Order:
    return Order(symbol, side, qty, kind, client_order_id=f"T{next(_ids):05d}", **kw)


async def submit(h: ConnectorHarness, o: Order) -> None:
    await h.execute(OrderRequest(OrderAction.SUBMIT, o))


async def updates(h: ConnectorHarness, o: Order, until: OrderStatus | set[OrderStatus],
                  timeout: float = 5.0) -> list[OrderUpdate]:
    """This order's updates up to (and including) one with the given status."""
    ends = {until} if isinstance(until, OrderStatus) else until

    def done() -> bool:
        return any(u.client_order_id == o.client_order_id and u.status in ends
                   for u in h.listener.order_updates)

    await h.listener.wait_for(done, timeout, f"{o.client_order_id} {ends}")
    return [u for u in h.listener.order_updates if u.client_order_id == o.client_order_id]


def statuses(ups: list[OrderUpdate]) -> list[OrderStatus]:
    return [u.status for u in ups]


def quote(gw: GatewaySimulator, key: str) -> Any:
    return gw.broker.market(gw.instrument(key)).quote(key)


async def test_market_order_fills_with_commission(quiet_gateway: GatewaySimulator,
                                                  make_harness: Any) -> None:
    gw = quiet_gateway
    async with make_harness(gw) as h:
        await h.connect()
        o = order("AAPL", "BUY", 100)
        await submit(h, o)
        ups = await updates(h, o, S.FILLED)
        assert statuses(ups) == [S.SUBMITTED, S.FILLED]
        fill = ups[-1].fill
        assert fill is not None
        assert fill.quantity == Decimal(100) and fill.price == Decimal(repr(quote(gw, "AAPL").ask))
        assert fill.commission == Decimal(1) and fill.connector == "ibkr"
        sim = gw.broker.order(1, int(ups[0].venue_order_id or 0))
        assert sim is not None and sim.order_ref == o.client_order_id  # orderRef = our id
        assert fill.venue_order_id == ups[0].venue_order_id


async def test_partial_fills_each_with_commission(make_harness: Any) -> None:
    gw = GatewaySimulator(tick_interval=None, max_fill_qty=40)
    async with gw, make_harness(gw) as h:
        await h.connect()
        o = order("MSFT", "SELL", 100)
        await submit(h, o)
        await updates(h, o, S.PARTIALLY_FILLED)
        gw.broker.step()
        gw.broker.step()
        ups = await updates(h, o, S.FILLED)
        assert statuses(ups) == [S.SUBMITTED, S.PARTIALLY_FILLED, S.PARTIALLY_FILLED, S.FILLED]
        fills = [u.fill for u in ups if u.fill is not None]
        assert [f.quantity for f in fills] == [40, 40, 20]
        assert len({f.execution_id for f in fills}) == 3
        assert all(f.commission > 0 for f in fills)
        assert sum(f.quantity for f in fills) == o.quantity


async def test_limit_order_rests_then_cancels(quiet_gateway: GatewaySimulator,
                                              make_harness: Any) -> None:
    async with make_harness(quiet_gateway) as h:
        await h.connect()
        o = order("IBM", "BUY", 10, "LIMIT", price=Decimal("100.50"), time_in_force="GTC")
        await submit(h, o)
        await updates(h, o, S.SUBMITTED)
        sim = quiet_gateway.broker.open_orders()[0]
        assert (sim.lmt_price, sim.tif, sim.order_type) == (100.5, "GTC", "LMT")
        await h.execute(OrderRequest(OrderAction.CANCEL, o))
        ups = await updates(h, o, S.CANCELLED)
        assert statuses(ups) == [S.SUBMITTED, S.CANCELLED]
        with pytest.raises(OrderRejected, match="too late to cancel"):
            await h.execute(OrderRequest(OrderAction.CANCEL, o))


@pytest.mark.parametrize("kind", ["STOP", "STOP_LIMIT"])
async def test_stop_orders_wait_for_their_trigger(quiet_gateway: GatewaySimulator,
                                                  make_harness: Any, kind: str) -> None:
    gw = quiet_gateway
    inst = gw.instrument("TSLA")
    ask = quote(gw, "TSLA").ask
    stop = Decimal(repr(round(ask + 2, 2)))
    extra = {"price": stop + 1} if kind == "STOP_LIMIT" else {}
    async with make_harness(gw) as h:
        await h.connect()
        o = order("TSLA", "BUY", 5, kind, stop_price=stop, **extra)
        await submit(h, o)
        await updates(h, o, S.SUBMITTED)
        assert gw.broker.open_orders()[0].status == "PreSubmitted"
        gw.broker.set_quote(inst, float(stop), float(stop + Decimal("0.01")), 100, 100)
        ups = await updates(h, o, S.FILLED)
        assert ups[-1].fill is not None and ups[-1].fill.price == stop + Decimal("0.01")


async def test_ioc_fills_what_it_can_and_cancels_the_rest(make_harness: Any) -> None:
    gw = GatewaySimulator(tick_interval=None, max_fill_qty=30)
    async with gw, make_harness(gw) as h:
        await h.connect()
        ask = Decimal(repr(quote(gw, "SPY").ask))
        o = order("SPY", "BUY", 100, "LIMIT", price=ask + 1, time_in_force="IOC")
        await submit(h, o)
        ups = await updates(h, o, S.CANCELLED)
        assert statuses(ups) == [S.SUBMITTED, S.PARTIALLY_FILLED, S.CANCELLED]
        assert ups[1].fill is not None and ups[1].fill.quantity == 30


async def test_fok_that_cannot_fill_is_cancelled(quiet_gateway: GatewaySimulator,
                                                 make_harness: Any) -> None:
    async with make_harness(quiet_gateway) as h:
        await h.connect()
        bid = Decimal(repr(quote(quiet_gateway, "QQQ").bid))
        o = order("QQQ", "SELL", 100_000, "LIMIT", price=bid, time_in_force="FOK")
        await submit(h, o)
        ups = await updates(h, o, S.CANCELLED)
        assert not [u for u in ups if u.fill is not None]
        assert "FOK" in (ups[-1].reason or "")


async def test_rejected_by_ib_is_rejected(quiet_gateway: GatewaySimulator,
                                          make_harness: Any) -> None:
    async with make_harness(quiet_gateway) as h:
        await h.connect()
        o = order("^SPX", "BUY", 1)
        await submit(h, o)
        ups = await updates(h, o, S.REJECTED)
        assert statuses(ups) == [S.REJECTED]
        assert "201" in (ups[0].reason or "") and "index" in (ups[0].reason or "")


async def test_refused_before_leaving(quiet_gateway: GatewaySimulator,
                                      make_harness: Any) -> None:
    async with make_harness(quiet_gateway) as h:
        await h.connect()
        with pytest.raises(OrderRejected, match="NOPE: IB has no contract"):
            await submit(h, order("NOPE", "BUY", 1))
        with pytest.raises(OrderRejected, match="not known to this connector"):
            await h.execute(OrderRequest(OrderAction.CANCEL, order("AAPL", "BUY", 1)))
        o = order("AAPL", "BUY", 1, "LIMIT", price=1)
        await submit(h, o)
        with pytest.raises(OrderRejected, match="already sent"):
            await submit(h, o)
        with pytest.raises(OrderRejected, match="not known to this connector"):
            await h.execute(OrderRequest(OrderAction.REPLACE, order("AAPL", "BUY", 1),
                                         price=Decimal(2)))
        await h.disconnect()
        with pytest.raises(VenueUnavailable, match="not connected"):
            await submit(h, order("AAPL", "BUY", 1))


async def test_readonly_refuses_orders(quiet_gateway: GatewaySimulator,
                                       make_harness: Any) -> None:
    async with make_harness(quiet_gateway, readonly=True) as h:
        await h.connect()
        with pytest.raises(OrderRejected, match="read-only"):
            await submit(h, order("AAPL", "BUY", 1))


async def test_status_query_answers_fills_then_status(library_name: str,
                                                       make_harness: Any) -> None:
    gw = GatewaySimulator(tick_interval=None, max_fill_qty=2)
    async with gw, make_harness(gw) as h:
        await h.connect()
        o = order("IBM", "SELL", 3, "LIMIT", price=1)
        await submit(h, o)
        await updates(h, o, S.PARTIALLY_FILLED)
        count = len(h.listener.order_updates)
        await h.execute(OrderRequest(OrderAction.STATUS, o))
        answer = h.listener.order_updates[count:]
        # The fill again (possible duplicate), then the current status.
        assert [(u.status, u.fill is not None, u.possible_duplicate) for u in answer] == [
            (S.PARTIALLY_FILLED, True, True), (S.PARTIALLY_FILLED, False, True)]
        assert answer[0].fill == h.listener.order_updates[count - 1].fill
        never = order("IBM", "SELL", 3)
        await h.execute(OrderRequest(OrderAction.STATUS, never))
        ups = await updates(h, never, S.REJECTED)
        assert (ups[-1].reason or "").startswith("unknown order")


async def test_cancel_crossing_a_fill_is_refused(quiet_gateway: GatewaySimulator,
                                                 make_harness: Any) -> None:
    gw = quiet_gateway
    inst = gw.instrument("AAPL")
    async with make_harness(gw) as h:
        await h.connect()
        bid = Decimal(repr(quote(gw, "AAPL").bid))
        o = order("AAPL", "BUY", 10, "LIMIT", price=bid - 1)
        await submit(h, o)
        await updates(h, o, S.SUBMITTED)
        # IB fills the order; our cancel leaves before the fill report arrives.
        gw.broker.set_quote(inst, float(bid - 2), float(bid - Decimal("1.5")), 100, 100)
        await h.execute(OrderRequest(OrderAction.CANCEL, o))
        await h.listener.wait_for(
            lambda: any(u.rejected_request is OrderAction.CANCEL
                        for u in h.listener.order_updates), 5, "the refused cancel")
        ups = [u for u in h.listener.order_updates if u.client_order_id == o.client_order_id]
        assert statuses(ups) == [S.SUBMITTED, S.FILLED, S.FILLED]
        refused = ups[-1]
        assert refused.rejected_request is OrderAction.CANCEL and "161" in (refused.reason or "")


async def test_positions(quiet_gateway: GatewaySimulator, make_harness: Any) -> None:
    async with make_harness(quiet_gateway) as h:
        await h.connect()
        buy, sell = order("EUR.USD", "BUY", 20_000), order("AAPL", "SELL", 50)
        for o in (buy, sell):
            await submit(h, o)
            await updates(h, o, S.FILLED)
        positions = {p.symbol: p for p in await plugin.positions(h.connector)}
        assert positions["EUR.USD"].quantity == 20_000
        assert positions["AAPL"].quantity == -50
        assert positions["AAPL"].avg_price == Decimal(repr(quote(quiet_gateway, "AAPL").bid))


@pytest.mark.slow
async def test_burst_of_500_requests_stays_under_the_pacing_limit(
        quiet_gateway: GatewaySimulator, make_harness: Any) -> None:
    gw = quiet_gateway
    async with make_harness(gw) as h:
        await h.connect()
        library_throttled: list[bool] = []
        client = h.connector.state.session.ib.client
        client.throttleStart += lambda: library_throttled.append(True)
        far = Decimal(repr(round(quote(gw, "AAPL").bid * 0.5, 2)))
        burst = [order("AAPL", "BUY", 1, "LIMIT", price=far) for _ in range(500)]
        await asyncio.gather(*(submit(h, o) for o in burst))
        acked = {o.client_order_id for o in burst}

        def all_acked() -> bool:
            seen = {u.client_order_id for u in h.listener.order_updates
                    if u.status is S.SUBMITTED}
            return acked <= seen

        await h.listener.wait_for(all_acked, 30, "500 acknowledgements")
        assert gw.pacing_violations == 0
        assert gw.max_rate_seen <= gw.pacing_limit
        assert h.connector.state.pacer.delayed > 0  # the connector's queue did the pacing,
        assert not library_throttled  # not the library's own throttle
        ids = [int(u.venue_order_id or 0) for u in h.listener.order_updates]
        assert len(set(ids)) == 500
        assert not [e for e in h.listener.errors if e.code == "100"]


async def test_old_final_orders_are_forgotten_but_still_answered(
        quiet_gateway: GatewaySimulator, make_harness: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orders_module, "KEEP_FINAL", 2)
    async with make_harness(quiet_gateway) as h:
        await h.connect()
        sent = [order("IBM", "BUY", 1) for _ in range(4)]
        for o in sent:
            await submit(h, o)
            await updates(h, o, S.FILLED)
        assert sorted(h.connector.state.orders.by_coid) == sorted(
            o.client_order_id for o in sent[2:])
        count = len(h.listener.order_updates)
        await h.execute(OrderRequest(OrderAction.STATUS, sent[0]))
        answer = h.listener.order_updates[count:]
        assert [(u.status, u.fill is not None) for u in answer] == [(S.FILLED, True),
                                                                  (S.FILLED, False)]
