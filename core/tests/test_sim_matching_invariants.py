"""Invariants of the matching engine over random order and quote sequences: it never
overfills, never trades through a limit or beyond a quote's size, and every order's
reports stay consistent (cum/leaves/avg price, nothing after the final report)."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockfish_core.orders import OrderSide, OrderStatus, OrderType, TimeInForce
from stockfish_core.sim.matching import NO_ORDER_ID, ExecEvent, ExecKind, MatchingEngine

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
LMT, STP, STL = OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT
K = ExecKind


def engine(**kwargs: object) -> MatchingEngine:
    clock = itertools.count(1_000)
    return MatchingEngine(clock=lambda: next(clock), **kwargs)  # type: ignore[arg-type]


def _random_run(rng: random.Random) -> None:
    e = engine(
        max_fill_qty=rng.choice([None, D(3), D(7)]),
        slippage_bps=rng.choice([D(0), D(5)]),
        commission_per_unit=D("0.01"),
    )
    symbols = ["A", "B"]
    mid = {"A": 100, "B": 50}
    all_events: list[ExecEvent] = []
    ids: list[str] = []

    def check_quote_fills(sym: str, events: list[ExecEvent], bsz: Decimal, asz: Decimal) -> None:
        bought = sum((x.last_qty for x in events if x.is_fill and x.side is BUY), D(0))
        sold = sum((x.last_qty for x in events if x.is_fill and x.side is SELL), D(0))
        assert bought <= asz
        assert sold <= bsz

    for step in range(80):
        action = rng.random()
        if action < 0.35:
            sym = rng.choice(symbols)
            mid[sym] = max(5, mid[sym] + rng.randint(-3, 3))
            spread = rng.randint(0, 2)
            bsz, asz = D(rng.randint(0, 12)), D(rng.randint(0, 12))
            events = e.set_quote(sym, D(mid[sym]), D(mid[sym] + spread), bsz, asz)
            check_quote_fills(sym, events, bsz, asz)
        elif action < 0.75:
            oid = f"o{step}" if rng.random() > 0.05 or not ids else rng.choice(ids)
            ids.append(oid)
            sym = rng.choice(symbols)
            otype = rng.choice(list(OrderType))
            px = D(mid[sym] + rng.randint(-4, 4)) if otype in (LMT, STL) else None
            stop = D(mid[sym] + rng.randint(-4, 4)) if otype in (STP, STL) else None
            if rng.random() < 0.05:
                px = D(-1)
            events = e.submit(oid, sym, rng.choice([BUY, SELL]), D(rng.randint(0, 25)), otype,
                              px, stop, rng.choice(list(TimeInForce)))
        elif action < 0.9 and ids:
            events = e.cancel(rng.choice(ids))
        elif ids:
            events = e.replace(
                rng.choice(ids),
                quantity=rng.choice([None, D(rng.randint(1, 30))]),
                price=rng.choice([None, D(mid["A"] + rng.randint(-4, 4))]),
            )
        else:
            events = []
        all_events.extend(events)

    exec_ids = [x.exec_id for x in all_events]
    assert len(set(exec_ids)) == len(exec_ids)
    assert exec_ids == sorted(exec_ids)
    by_order: dict[str, list[ExecEvent]] = {}
    for x in all_events:
        if x.venue_order_id != NO_ORDER_ID:
            by_order.setdefault(x.venue_order_id, []).append(x)
    for events in by_order.values():
        filled = D(0)
        notional = D(0)
        final = False
        for x in events:
            assert x.cum_qty <= x.quantity, x
            assert x.leaves_qty >= 0, x
            if x.kind in (K.CANCEL_REJECTED, K.REPLACE_REJECTED):
                continue
            assert not final, f"report after the final one: {x}"
            if x.is_fill:
                assert x.last_qty > 0
                assert x.last_px is not None
                assert x.last_px > 0
                filled += x.last_qty
                notional += x.last_qty * x.last_px
                if x.price is not None:  # never through the limit
                    assert x.last_px <= x.price if x.side is BUY else x.last_px >= x.price
            assert x.cum_qty == filled, x
            if x.cum_qty:
                assert x.avg_px == notional / filled
            status = x.order_status
            assert status is not None
            final = status.is_final
            if final:
                assert x.leaves_qty == 0
            else:
                assert x.cum_qty + x.leaves_qty == x.quantity, x
        view = e.order(events[0].order_id)
        assert view is not None
        if view.venue_order_id == events[0].venue_order_id:
            assert view.cum_qty == filled
            assert view.is_open == (not final)
    for view in e.orders():
        assert view.cum_qty <= view.quantity
        if view.is_open:
            assert view.cum_qty + view.leaves_qty == view.quantity
            assert view.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)
        else:
            assert view.leaves_qty == 0
        if view.status is OrderStatus.FILLED:
            assert view.cum_qty == view.quantity
    assert {v.order_id for v in e.open_orders()} == {v.order_id for v in e.orders() if v.is_open}


@pytest.mark.parametrize("block", range(10))
def test_random_sequences_never_overfill_and_stay_consistent(block: int) -> None:
    for seed in range(block * 50, block * 50 + 50):
        _random_run(random.Random(seed))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_sequences_explored_by_hypothesis_stay_consistent(rng: random.Random) -> None:
    _random_run(rng)
