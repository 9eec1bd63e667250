"""Fuzzing the order path: Order fields, replaces, and sequences of venue reports (acks,
partial fills, duplicates, cancels, rejects, replaces, out of order, unknown orders)
applied to the order store and its state machine.

No exception escapes; what is illegal is refused with InvalidOrderError (orders, replaces)
or refused and counted (reports); positions, cum quantities and average prices equal an
exact reference model built with fractions.
"""

from __future__ import annotations

import json
import math
from decimal import Context, Decimal, Inexact, localcontext
from fractions import Fraction
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stockfish_core import InvalidOrderError, Order, OrderStatus, OrderType, OrderUpdate
from stockfish_core.journal import Journal, order_body
from stockfish_core.oms import OrderStore
from stockfish_core.orders import TRANSITIONS, Fill, OrderSide
from stockfish_core.serialization import from_dict


def assert_average(avg: Decimal, exact: Fraction) -> None:
    """``avg`` is ``exact`` when that fits Order.AVG_PRICE_DIGITS significant digits, else
    ``exact`` rounded once: within half a unit of its last digit."""
    digits = Order.AVG_PRICE_DIGITS
    with localcontext(Context(prec=digits, traps=[Inexact])):
        try:
            fits: Decimal | None = Decimal(exact.numerator) / Decimal(exact.denominator)
        except Inexact:
            fits = None
    if fits is not None:
        assert avg == fits
    ulp = Fraction(10) ** (avg.adjusted() - digits + 1)
    assert abs(Fraction(avg) - exact) <= ulp / 2


# -- Order fields ----------------------------------------------------------------------------
_numbers = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10**6, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(alphabet="0123456789.-+eE naN", max_size=12),
    st.lists(st.integers(), max_size=2),
)
_texts = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["SPY", "SP\x00Y", "SPY\x01", "SPY\n", " ", "", "S\u2028", "\x7f"]),
    st.integers(),
)
_enums = st.one_of(st.none(), st.integers(), st.text(max_size=12),
                   st.sampled_from(["BUY", "sell", "LIMIT", "stop", "STOP_LIMIT", "market",
                                    "DAY", "gtc", "IOC", "FOK"]))


def _check_valid(order: Order) -> None:
    assert isinstance(order.symbol, str) and order.symbol.strip() and order.symbol.isprintable()
    for text in (order.account, order.client_order_id):
        assert text is None or text.isprintable()
    assert order.quantity > 0 and order.quantity.is_finite()
    for price in (order.price, order.stop_price):
        assert price is None or (price.is_finite() and price > 0)
    needs_price = order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    assert (order.price is not None) == needs_price
    assert (order.stop_price is not None) == needs_stop


@given(symbol=_texts, side=_enums, quantity=_numbers, order_type=_enums, price=_numbers,
       stop_price=_numbers, tif=_enums, account=_texts, client_order_id=_texts)
def test_an_order_is_valid_or_refused_with_invalid_order_error(
    symbol: Any, side: Any, quantity: Any, order_type: Any, price: Any, stop_price: Any,
    tif: Any, account: Any, client_order_id: Any,
) -> None:
    try:
        order = Order(symbol, side, quantity, order_type, price=price, stop_price=stop_price,
                      time_in_force=tif, account=account, client_order_id=client_order_id)
    except InvalidOrderError as exc:
        reason = str(exc)
        assert reason  # refused with a reason
        return
    _check_valid(order)
    # What goes to the journal reads back the same.
    again = from_dict(json.loads(order_body(order)), Order)
    assert (again.symbol, again.quantity, again.price, again.stop_price, again.account) == \
        (order.symbol, order.quantity, order.price, order.stop_price, order.account)


# -- replaces --------------------------------------------------------------------------------
_valid_orders = st.one_of(
    st.builds(lambda q: Order("SPY", "BUY", q), st.integers(1, 100)),
    st.builds(lambda q, p: Order("SPY", "SELL", q, OrderType.LIMIT, price=p),
              st.integers(1, 100), st.decimals("0.01", "1000", places=2)),
    st.builds(lambda q, s: Order("SPY", "BUY", q, OrderType.STOP, stop_price=s),
              st.integers(1, 100), st.decimals("0.01", "1000", places=2)),
    st.builds(lambda q, p, s: Order("SPY", "BUY", q, OrderType.STOP_LIMIT, price=p,
                                    stop_price=s),
              st.integers(1, 100), st.decimals("0.01", "1000", places=2),
              st.decimals("0.01", "1000", places=2)),
)


@given(order=_valid_orders, filled=st.integers(0, 100), quantity=_numbers, price=_numbers,
       stop_price=_numbers)
def test_a_replace_is_valid_or_refused_with_invalid_order_error(
    order: Order, filled: int, quantity: Any, price: Any, stop_price: Any,
) -> None:
    order.client_order_id = "c1"
    if 0 < filled <= order.quantity:
        order.apply_fill(Fill("c1", "e1", "SPY", order.side, filled, "1"))
    before = (order.quantity, order.price, order.stop_price, order.filled_quantity)
    try:
        candidate = order.replaced(quantity, price, stop_price)
    except InvalidOrderError as exc:
        reason = str(exc)
        assert reason  # refused with a reason
    else:
        _check_valid(candidate)
        assert candidate.quantity >= order.filled_quantity
        assert candidate.order_type is order.order_type
    assert (order.quantity, order.price, order.stop_price, order.filled_quantity) == before


# -- report sequences ----------------------------------------------------------------------------
ORDERS = 4
_qty = st.integers(1, 4)
_px = st.sampled_from([Decimal("10"), Decimal("10.01"), Decimal("9.999"), Decimal("60.078"),
                       Decimal("0.0003")])
_oid = st.integers(0, ORDERS)  # ORDERS: an order nobody knows
_eid = st.integers(0, 12)  # a small pool: duplicates are frequent
_status = st.sampled_from(list(OrderStatus))
_report = st.one_of(
    st.tuples(st.just("status"), _oid, _status),
    st.tuples(st.just("fill"), _oid, _eid, _qty, _px, _status, st.booleans()),
    st.tuples(st.just("odd fill"), _oid, _eid, _qty, st.sampled_from(["QQQ", "SPY"]),
              st.sampled_from(list(OrderSide))),
    st.tuples(st.just("replace"), _oid, st.integers(-1, 12), _status),
)


def _cid(i: int) -> str:
    return f"c{i}"


@given(quantities=st.lists(st.integers(1, 8), min_size=ORDERS, max_size=ORDERS),
       sides=st.lists(st.sampled_from(list(OrderSide)), min_size=ORDERS, max_size=ORDERS),
       keep=st.integers(0, 3), reports=st.lists(_report, max_size=40))
def test_report_sequences_keep_the_book_exact(quantities: list[int], sides: list[OrderSide],
                                              keep: int, reports: list[tuple[Any, ...]]) -> None:
    journal = Journal(":memory:")
    # A small retention: orders leave memory and come back from the journal mid-sequence.
    book = OrderStore(journal, keep_final=keep, keep_final_seconds=3600)
    for i in range(ORDERS):
        book.add(Order("SPY", sides[i], quantities[i], client_order_id=_cid(i), connector="v"))
        book.mark_sent(book.orders[_cid(i)])

    accepted: dict[str, list[tuple[int, Decimal]]] = {_cid(i): [] for i in range(ORDERS)}
    seen: set[str] = set()
    counted = {"unknown": 0, "refused": 0, "late": 0, "illegal": 0}

    for report in reports:
        kind, i = report[0], report[1]
        cid = _cid(i)
        order = book.lookup(cid)
        before = None if order is None else (order.status, order.filled_quantity,
                                             order.quantity)
        fill: Fill | None = None
        if kind == "status":
            update = OrderUpdate(cid, report[2])
        elif kind == "replace":
            new_qty = report[2]
            update = OrderUpdate(cid, report[3], replaced=True,
                                 quantity=Decimal(new_qty) if new_qty else None)
        else:
            if kind == "fill":
                _, _, eid, qty, px, status, dup = report
                fill = Fill(cid, f"e{eid}", "SPY", sides[i % ORDERS], qty, px)
                update = OrderUpdate(cid, status, fill=fill, possible_duplicate=dup)
            else:
                _, _, eid, qty, symbol, side = report
                fill = Fill(cid, f"e{eid}", symbol, side, qty, "10")
                update = OrderUpdate(cid, OrderStatus.PARTIALLY_FILLED, fill=fill)
        stats_before = book.stats()
        illegal_before = book.illegal_transitions
        outcome = book.apply(update, "v")  # never raises

        if order is None:
            assert outcome is None
            counted["unknown"] += 1
            continue
        assert outcome is not None
        after = book.lookup(cid)
        assert after is not None
        status_before, filled_before, qty_before = before  # type: ignore[misc]
        # Final is final; any other change follows the state machine.
        if status_before in TRANSITIONS and after.status is not status_before:
            assert after.status in TRANSITIONS[status_before], (status_before, after.status)
        if fill is not None:
            key = fill.execution_id
            if key in seen:
                assert outcome.duplicate_fill and outcome.fill is None
            else:
                fits = filled_before + fill.quantity <= qty_before
                genuine = fill.symbol == "SPY" and fill.side is sides[i]
                if status_before.is_final:
                    ok = status_before is OrderStatus.CANCELLED and fits and genuine
                else:
                    ok = fits and genuine
                if ok:
                    assert outcome.fill is not None
                    seen.add(key)
                    accepted[cid].append((int(fill.quantity), fill.price))
                    if status_before.is_final:
                        counted["late"] += 1
                        assert after.status is status_before
                else:
                    assert outcome.refused is not None and outcome.fill is None
                    counted["refused"] += 1
        counted["illegal"] += book.illegal_transitions - illegal_before
        assert book.stats()["late_fills"] - stats_before["late_fills"] <= 1
        # Cum quantity never above the order's quantity, whatever the venue says.
        assert after.filled_quantity <= after.quantity

    # Exact reference: cum quantities, average prices and the position.
    position = Fraction(0)
    for i in range(ORDERS):
        order = book.lookup(_cid(i))
        assert order is not None
        fills = accepted[_cid(i)]
        cum = sum(q for q, _ in fills)
        assert order.filled_quantity == cum
        if cum:
            exact = sum((Fraction(q) * Fraction(p) for q, p in fills), Fraction(0)) / cum
            assert order.avg_fill_price is not None
            assert_average(order.avg_fill_price, exact)
        position += cum * sides[i].sign
        assert len(journal.fills(_cid(i))) == len(fills)
    held = book.positions.get("SPY")
    assert (Fraction(held.quantity) if held else 0) == position
    stats = book.stats()
    assert book.unknown_reports == counted["unknown"]
    assert stats["late_fills"] == counted["late"]
    assert stats["refused_fills"] == counted["refused"]
    assert stats["orders_in_memory"] <= ORDERS
    journal.close()


@given(st.lists(st.tuples(st.integers(1, 10**6), st.decimals("0.00000001", "1000000",
                                                            places=8)),
                min_size=1, max_size=20))
def test_average_fill_price_is_exact_to_its_places(fills: list[tuple[int, Decimal]]) -> None:
    total = sum(q for q, _ in fills)
    order = Order("X", "BUY", total, client_order_id="c")
    for n, (q, p) in enumerate(fills):
        order.apply_fill(Fill("c", str(n), "X", "BUY", q, p))
    exact = sum((Fraction(q) * Fraction(p) for q, p in fills), Fraction(0)) / total
    assert order.avg_fill_price is not None
    assert_average(order.avg_fill_price, exact)
    assert math.isclose(float(order.avg_fill_price), float(exact), rel_tol=1e-15)
