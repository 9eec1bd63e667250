"""The simulated venue's matching engine: every order type, time in force, reject path,
cancel and replace (random sequences: test_sim_matching_invariants.py)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from stockfish_core.orders import OrderSide, OrderStatus, OrderType, TimeInForce
from stockfish_core.sim.matching import NO_ORDER_ID, ExecEvent, ExecKind, MatchingEngine

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
MKT, LMT, STP, STL = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT
K = ExecKind


def engine(**kwargs: object) -> MatchingEngine:
    clock = itertools.count(1_000)
    return MatchingEngine(clock=lambda: next(clock), **kwargs)  # type: ignore[arg-type]


def kinds(events: list[ExecEvent]) -> list[ExecKind]:
    return [e.kind for e in events]


def quote(e: MatchingEngine, bid: str = "99", ask: str = "100", bsz: str = "1000",
          asz: str = "1000", symbol: str = "SPY") -> list[ExecEvent]:
    return e.set_quote(symbol, D(bid), D(ask), D(bsz), D(asz))


# -- market orders ---------------------------------------------------------------------
def test_market_buy_fills_at_ask_and_sell_at_bid() -> None:
    e = engine()
    quote(e)
    buy = e.submit("b1", "SPY", BUY, D(10), MKT)
    assert kinds(buy) == [K.NEW, K.FILL]
    fill = buy[1]
    assert (fill.last_qty, fill.last_px) == (D(10), D(100))
    assert (fill.cum_qty, fill.leaves_qty) == (D(10), D(0))
    assert fill.avg_px == D(100)
    assert fill.order_status is OrderStatus.FILLED
    assert buy[0].leaves_qty == D(10)
    assert buy[0].order_status is OrderStatus.SUBMITTED
    sell = e.submit("s1", "SPY", SELL, D(5), MKT)
    assert sell[-1].last_px == D(99)
    view = e.order("b1")
    assert view is not None
    assert view.status is OrderStatus.FILLED
    assert not view.is_open


def test_market_order_without_quote_is_rejected_no_market() -> None:
    e = engine()
    events = e.submit("m1", "SPY", BUY, D(1), MKT)
    assert kinds(events) == [K.REJECTED]
    assert events[0].reason == "no market"
    assert events[0].order_status is OrderStatus.REJECTED
    view = e.order("m1")
    assert view is not None
    assert view.status is OrderStatus.REJECTED
    assert view.reason == "no market"


def test_market_order_fills_in_parts_limited_by_quoted_size() -> None:
    e = engine()
    quote(e, asz="30")
    events = e.submit("m1", "SPY", BUY, D(100), MKT)
    assert kinds(events) == [K.NEW, K.PARTIAL_FILL]
    assert (events[1].last_qty, events[1].cum_qty, events[1].leaves_qty) == (D(30), D(30), D(70))
    assert events[1].order_status is OrderStatus.PARTIALLY_FILLED
    # The quote's size was used up: a second order on the same quote gets nothing yet.
    assert kinds(e.submit("m2", "SPY", BUY, D(5), MKT)) == [K.NEW]
    more = quote(e, ask="100.5", asz="50")
    assert [(x.order_id, x.kind, x.last_qty) for x in more] == [("m1", K.PARTIAL_FILL, D(50))]
    assert more[0].last_px == D("100.5")
    last = quote(e, ask="101", asz="50")
    assert [(x.order_id, x.kind, x.last_qty, x.leaves_qty) for x in last] == [
        ("m1", K.FILL, D(20), D(0)), ("m2", K.FILL, D(5), D(0))]
    assert last[0].avg_px == (D(30) * 100 + D(50) * D("100.5") + D(20) * 101) / 100


def test_max_fill_qty_caps_each_fill() -> None:
    e = engine(max_fill_qty=D(40))
    quote(e)
    first = e.submit("m", "SPY", SELL, D(100), MKT)
    assert [x.last_qty for x in first if x.is_fill] == [D(40)]
    assert [x.last_qty for x in quote(e)] == [D(40)]
    final = quote(e)
    assert [(x.kind, x.last_qty, x.cum_qty) for x in final] == [(K.FILL, D(20), D(100))]


def test_market_order_waits_for_size_on_its_side() -> None:
    e = engine()
    quote(e, asz="0")
    assert kinds(e.submit("m", "SPY", BUY, D(3), MKT)) == [K.NEW]
    assert kinds(quote(e, asz="3")) == [K.FILL]


def test_slippage_moves_the_price_against_the_order() -> None:
    e = engine(slippage_bps=D(10))
    quote(e)
    assert e.submit("b", "SPY", BUY, D(1), MKT)[-1].last_px == D("100.1")
    assert e.submit("s", "SPY", SELL, D(1), MKT)[-1].last_px == D("99") * D("0.999")


def test_commission_per_unit_is_charged_per_fill() -> None:
    e = engine(commission_per_unit=D("0.01"), max_fill_qty=D(60))
    quote(e)
    first = e.submit("b", "SPY", BUY, D(100), MKT)
    second = quote(e)
    assert first[0].commission == 0
    assert first[1].commission == D("0.60")
    assert second[0].commission == D("0.40")
    view = e.order("b")
    assert view is not None
    assert view.commission == D("1.00")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"commission_per_unit": D(-1)}, "commission_per_unit"),
        ({"slippage_bps": D(10_000)}, "slippage_bps"),
        ({"max_fill_qty": D(0)}, "max_fill_qty"),
    ],
)
def test_engine_settings_are_checked(kwargs: dict[str, Decimal], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MatchingEngine(**kwargs)  # type: ignore[arg-type]


# -- limit orders ------------------------------------------------------------------------
def test_marketable_limit_fills_at_the_quote_with_price_improvement() -> None:
    e = engine()
    quote(e)
    events = e.submit("l", "SPY", BUY, D(10), LMT, price=D(101))
    assert kinds(events) == [K.NEW, K.FILL]
    assert events[-1].last_px == D(100)


def test_slippage_never_trades_through_the_limit() -> None:
    e = engine(slippage_bps=D(10))
    quote(e)
    assert e.submit("b", "SPY", BUY, D(1), LMT, price=D("100.05"))[-1].last_px == D("100.05")
    assert e.submit("s", "SPY", SELL, D(1), LMT, price=D("98.95"))[-1].last_px == D("98.95")


def test_resting_limit_fills_at_its_price_when_a_quote_crosses_it() -> None:
    e = engine()
    quote(e)
    assert kinds(e.submit("l", "SPY", BUY, D(10), LMT, price=D("99.5"))) == [K.NEW]
    assert quote(e, bid="99.2", ask="99.6") == []
    assert [v.order_id for v in e.open_orders()] == ["l"]
    fills = quote(e, bid="99", ask="99.4")
    assert kinds(fills) == [K.FILL]
    assert fills[0].last_px == D("99.5")
    assert fills[0].price == D("99.5")
    assert e.open_orders() == []


def test_resting_sell_limit() -> None:
    e = engine()
    quote(e)
    assert kinds(e.submit("l", "SPY", SELL, D(10), LMT, price=D("100.5"))) == [K.NEW]
    assert quote(e, bid="100.4", ask="100.6") == []
    fills = quote(e, bid="100.7", ask="100.8", bsz="4")
    assert [(x.kind, x.last_qty, x.last_px) for x in fills] == [
        (K.PARTIAL_FILL, D(4), D("100.5"))]


def test_limit_order_accepted_before_any_quote_fills_on_the_first_one() -> None:
    e = engine()
    assert kinds(e.submit("l", "SPY", BUY, D(1), LMT, price=D(100))) == [K.NEW]
    assert kinds(quote(e, bid="98", ask="99")) == [K.FILL]


def test_quotes_only_touch_their_own_symbol() -> None:
    e = engine()
    e.submit("l", "SPY", BUY, D(1), LMT, price=D(100))
    assert quote(e, bid="1", ask="2", symbol="QQQ") == []
    qqq = e.quote("QQQ")
    assert qqq is not None
    assert qqq.ask == D(2)
    assert e.quote("IWM") is None
    assert len(e.open_orders("SPY")) == 1
    assert e.open_orders("QQQ") == []


# -- stops ---------------------------------------------------------------------------------
def test_buy_stop_triggers_when_ask_reaches_the_stop_then_acts_as_market() -> None:
    e = engine(slippage_bps=D(100))
    quote(e)
    assert kinds(e.submit("s", "SPY", BUY, D(5), STP, stop_price=D(101))) == [K.NEW]
    view = e.order("s")
    assert view is not None
    assert not view.triggered
    assert quote(e, bid="99.5", ask="100.9") == []
    fills = quote(e, bid="100", ask="101")
    assert kinds(fills) == [K.FILL]
    assert fills[0].last_px == D("102.01")  # ask plus 1% slippage: it became a market order
    view = e.order("s")
    assert view is not None
    assert view.triggered


def test_sell_stop_triggers_when_bid_falls_to_the_stop() -> None:
    e = engine()
    quote(e)
    assert kinds(e.submit("s", "SPY", SELL, D(5), STP, stop_price=D(98))) == [K.NEW]
    assert quote(e, bid="98.1", ask="99") == []
    assert [(x.kind, x.last_px) for x in quote(e, bid="97.5", ask="98")] == [
        (K.FILL, D("97.5"))]


def test_stop_already_crossed_on_arrival_triggers_at_once() -> None:
    e = engine()
    quote(e)
    assert kinds(e.submit("s", "SPY", BUY, D(5), STP, stop_price=D(99))) == [K.NEW, K.FILL]


def test_stop_needs_no_quote_to_be_accepted() -> None:
    e = engine()
    assert kinds(e.submit("s", "SPY", SELL, D(5), STP, stop_price=D(98))) == [K.NEW]
    assert kinds(quote(e, bid="97", ask="97.5")) == [K.FILL]


def test_stop_limit_becomes_a_limit_order_on_trigger() -> None:
    e = engine()
    quote(e)
    e.submit("sl", "SPY", BUY, D(5), STL, price=D("101.5"), stop_price=D(101))
    # Triggered (ask >= 101) but not marketable (ask > 101.5): it rests as a limit.
    assert quote(e, bid="101.8", ask="102") == []
    view = e.order("sl")
    assert view is not None
    assert view.triggered
    assert view.is_open
    fills = quote(e, bid="100.9", ask="101.2")
    assert [(x.kind, x.last_px) for x in fills] == [(K.FILL, D("101.5"))]


def test_stop_limit_marketable_at_trigger_fills_at_the_quote() -> None:
    e = engine()
    quote(e)
    e.submit("sl", "SPY", SELL, D(5), STL, price=D(97), stop_price=D(98))
    assert [(x.kind, x.last_px) for x in quote(e, bid="97.8", ask="98.2")] == [
        (K.FILL, D("97.8"))]


# -- time in force -------------------------------------------------------------------------
def test_ioc_fills_what_it_can_and_expires_the_rest() -> None:
    e = engine()
    quote(e, asz="30")
    events = e.submit("i", "SPY", BUY, D(100), MKT, time_in_force=TimeInForce.IOC)
    assert kinds(events) == [K.NEW, K.PARTIAL_FILL, K.EXPIRED]
    expired = events[-1]
    assert expired.reason == "IOC remainder"
    assert (expired.cum_qty, expired.leaves_qty) == (D(30), D(0))
    assert expired.order_status is OrderStatus.CANCELLED
    assert quote(e) == []
    view = e.order("i")
    assert view is not None
    assert view.status is OrderStatus.CANCELLED
    assert view.last_kind is K.EXPIRED


def test_ioc_limit_not_marketable_expires_unfilled() -> None:
    e = engine()
    quote(e)
    events = e.submit("i", "SPY", SELL, D(1), LMT, price=D(100), time_in_force="IOC")  # type: ignore[arg-type]
    assert kinds(events) == [K.NEW, K.EXPIRED]
    assert events[-1].cum_qty == 0


def test_fok_without_enough_size_expires_with_nothing_filled() -> None:
    e = engine()
    quote(e, asz="99")
    events = e.submit("f", "SPY", BUY, D(100), MKT, time_in_force=TimeInForce.FOK)
    assert kinds(events) == [K.NEW, K.EXPIRED]
    assert events[-1].reason is not None
    assert "FOK" in events[-1].reason
    # The quote's size is untouched by the failed FOK.
    assert kinds(e.submit("m", "SPY", BUY, D(99), MKT)) == [K.NEW, K.FILL]


def test_fok_fills_completely_at_once_even_across_the_fill_cap() -> None:
    e = engine(max_fill_qty=D(40))
    quote(e)
    events = e.submit("f", "SPY", BUY, D(100), LMT, price=D(100), time_in_force=TimeInForce.FOK)
    assert kinds(events) == [K.NEW, K.PARTIAL_FILL, K.PARTIAL_FILL, K.FILL]
    assert [x.last_qty for x in events[1:]] == [D(40), D(40), D(20)]


def test_fok_limit_not_marketable_expires() -> None:
    e = engine()
    quote(e)
    assert kinds(e.submit("f", "SPY", BUY, D(1), LMT, price=D(99),
                          time_in_force=TimeInForce.FOK)) == [K.NEW, K.EXPIRED]


def test_fok_stop_is_judged_when_it_triggers() -> None:
    e = engine()
    quote(e)
    assert kinds(e.submit("f", "SPY", BUY, D(50), STP, stop_price=D(101),
                          time_in_force=TimeInForce.FOK)) == [K.NEW]
    assert kinds(quote(e, bid="100", ask="101", asz="10")) == [K.EXPIRED]


def test_ioc_stop_is_judged_when_it_triggers() -> None:
    e = engine()
    quote(e)
    e.submit("i", "SPY", SELL, D(50), STP, stop_price=D(98), time_in_force=TimeInForce.IOC)
    assert kinds(quote(e, bid="98", ask="98.5", bsz="10")) == [K.PARTIAL_FILL, K.EXPIRED]


def test_end_of_day_expires_day_orders_and_keeps_gtc() -> None:
    e = engine()
    quote(e)
    e.submit("day", "SPY", BUY, D(1), LMT, price=D(90))
    e.submit("gtc", "SPY", BUY, D(1), LMT, price=D(90), time_in_force=TimeInForce.GTC)
    events = e.expire_day_orders()
    assert [(x.order_id, x.kind, x.reason) for x in events] == [("day", K.EXPIRED, "end of day")]
    assert [v.order_id for v in e.open_orders()] == ["gtc"]


# -- cancel ------------------------------------------------------------------------------
def test_cancel_open_order_and_cancel_rejects() -> None:
    e = engine()
    quote(e)
    e.submit("l", "SPY", BUY, D(10), LMT, price=D(90))
    cancelled = e.cancel("l")
    assert kinds(cancelled) == [K.CANCELLED]
    assert (cancelled[0].leaves_qty, cancelled[0].cum_qty) == (D(0), D(0))
    assert e.open_orders() == []
    again = e.cancel("l")
    assert kinds(again) == [K.CANCEL_REJECTED]
    assert again[0].reason == "too late to cancel: order is CANCELLED"
    assert again[0].order_status is None
    unknown = e.cancel("nope")
    assert kinds(unknown) == [K.CANCEL_REJECTED]
    assert unknown[0].reason == "unknown order"
    assert unknown[0].venue_order_id == NO_ORDER_ID
    assert quote(e, bid="80", ask="85") == []  # a cancelled order never fills


def test_cancel_partially_filled_order_keeps_its_fills() -> None:
    e = engine()
    quote(e, asz="4")
    e.submit("m", "SPY", BUY, D(10), MKT)
    cancelled = e.cancel("m")
    assert (cancelled[0].cum_qty, cancelled[0].leaves_qty) == (D(4), D(0))
    view = e.order("m")
    assert view is not None
    assert view.status is OrderStatus.CANCELLED
    assert view.cum_qty == D(4)


def test_cancel_filled_order_is_too_late() -> None:
    e = engine()
    quote(e)
    e.submit("m", "SPY", BUY, D(1), MKT)
    assert e.cancel("m")[0].reason == "too late to cancel: order is FILLED"


# -- replace -----------------------------------------------------------------------------
def test_replace_price_to_marketable_fills_at_once() -> None:
    e = engine()
    quote(e)
    e.submit("l", "SPY", BUY, D(10), LMT, price=D(95))
    events = e.replace("l", price=D(100))
    assert kinds(events) == [K.REPLACED, K.FILL]
    assert events[0].price == D(100)
    assert events[0].order_status is OrderStatus.SUBMITTED
    assert events[1].last_px == D(100)


def test_replace_quantity_keeps_fills_and_recomputes_leaves() -> None:
    e = engine()
    quote(e, bsz="3")
    e.submit("l", "SPY", SELL, D(10), LMT, price=D(99))
    events = e.replace("l", quantity=D(6))
    assert kinds(events) == [K.REPLACED]
    assert (events[0].quantity, events[0].cum_qty, events[0].leaves_qty) == (D(6), D(3), D(3))
    assert events[0].order_status is OrderStatus.PARTIALLY_FILLED
    too_small = e.replace("l", quantity=D(3))
    assert kinds(too_small) == [K.REPLACE_REJECTED]
    assert too_small[0].reason == "quantity 3 must exceed the filled 3"
    view = e.order("l")
    assert view is not None
    assert view.quantity == D(6)


def test_replace_moves_the_order_to_the_back_of_the_queue() -> None:
    e = engine()
    quote(e)
    e.submit("a", "SPY", BUY, D(5), LMT, price=D(98))
    e.submit("b", "SPY", BUY, D(5), LMT, price=D(98))
    e.replace("a", quantity=D(6))
    fills = quote(e, bid="97", ask="97.5", asz="5")
    assert [(x.order_id, x.kind) for x in fills] == [("b", K.FILL)]


@pytest.mark.parametrize(
    ("setup", "kwargs", "reason"),
    [
        ("open_limit", {}, "replace changes nothing"),
        ("open_limit", {"price": D(-1)}, "price must be positive, got -1"),
        ("open_limit", {"stop_price": D(1)}, "a LIMIT order has no stop price to change"),
        ("open_limit", {"quantity": "x"}, "quantity must be a number, got 'x'"),
        ("open_market", {"price": D(100)}, "a MARKET order has no limit price to change"),
        ("open_stop", {"price": D(100)}, "a STOP order has no limit price to change"),
        ("open_stop", {"stop_price": D(0)}, "stop_price must be positive, got 0"),
        ("triggered_stop_limit", {"stop_price": D(103)}, "the stop has already triggered"),
        ("filled", {"quantity": D(20)}, "too late to replace: order is FILLED"),
        ("unknown", {"quantity": D(20)}, "unknown order"),
    ],
)
def test_replace_rejects(setup: str, kwargs: dict[str, object], reason: str) -> None:
    e = engine()
    quote(e, asz="0")
    if setup == "open_limit":
        e.submit("o", "SPY", BUY, D(10), LMT, price=D(90))
    elif setup == "open_market":
        e.submit("o", "SPY", BUY, D(10), MKT)
    elif setup == "open_stop":
        e.submit("o", "SPY", BUY, D(10), STP, stop_price=D(110))
    elif setup == "triggered_stop_limit":
        e.submit("o", "SPY", BUY, D(10), STL, price=D(95), stop_price=D(99))
    elif setup == "filled":
        quote(e)
        e.submit("o", "SPY", BUY, D(10), MKT)
    before = e.order("o")
    events = e.replace("o", **kwargs)  # type: ignore[arg-type]
    assert kinds(events) == [K.REPLACE_REJECTED]
    assert events[0].reason == reason
    assert e.order("o") == before  # nothing changed


def test_replace_stop_price_can_trigger_the_stop() -> None:
    e = engine()
    quote(e)
    e.submit("s", "SPY", BUY, D(1), STP, stop_price=D(105))
    assert kinds(e.replace("s", stop_price=D(100))) == [K.REPLACED, K.FILL]


# -- validation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("", "SPY", BUY, D(1), MKT), "order id must be a non-empty string"),
        (("x", " ", BUY, D(1), MKT), "symbol must be a non-empty string"),
        (("x", "SPY", "SHORT", D(1), MKT), "unknown side 'SHORT'"),
        (("x", "SPY", BUY, D(1), "PEGGED"), "unknown order type 'PEGGED'"),
        (("x", "SPY", BUY, D(0), MKT), "quantity must be positive, got 0"),
        (("x", "SPY", BUY, D(-3), MKT), "quantity must be positive, got -3"),
        (("x", "SPY", BUY, "abc", MKT), "quantity must be a number, got 'abc'"),
        (("x", "SPY", BUY, None, MKT), "quantity is missing"),
        (("x", "SPY", BUY, D("NaN"), MKT), "quantity must be finite, got Decimal('NaN')"),
        (("x", "SPY", BUY, D(1), LMT), "a LIMIT order needs a price"),
        (("x", "SPY", BUY, D(1), MKT, D(100)), "a MARKET order takes no price"),
        (("x", "SPY", BUY, D(1), LMT, D(0)), "price must be positive, got 0"),
        (("x", "SPY", BUY, D(1), STP), "a STOP order needs a stop price"),
        (("x", "SPY", BUY, D(1), STP, D(100), D(100)), "a STOP order takes no price"),
        (("x", "SPY", BUY, D(1), STL, D(100)), "a STOP_LIMIT order needs a stop price"),
        (("x", "SPY", BUY, D(1), LMT, D(100), D(100)), "a LIMIT order takes no stop price"),
        (("x", "SPY", BUY, D(1), STP, None, D(-1)), "stop_price must be positive, got -1"),
        (("x", "SPY", BUY, D(1), LMT, D(100), None, "GTX"), "unknown time in force 'GTX'"),
        (("x", "SPY", BUY, D(1), LMT, D(100), None, "GTD"), "a GTD order needs an expire time"),
    ],
)
def test_invalid_orders_are_rejected_with_a_reason(args: tuple[object, ...], reason: str) -> None:
    e = engine()
    quote(e)
    events = e.submit(*args)  # type: ignore[arg-type]
    assert kinds(events) == [K.REJECTED]
    assert events[0].reason == reason
    assert events[0].leaves_qty == 0
    assert events[0].cum_qty == 0
    assert e.open_orders() == []


def test_an_order_without_a_usable_id_is_rejected_and_not_remembered() -> None:
    e = engine()
    events = e.submit(None, "SPY", BUY, D(1), MKT)  # type: ignore[arg-type]
    assert events[0].reason == "order id must be a non-empty string"
    assert e.orders() == []


def test_enum_values_may_be_given_as_strings() -> None:
    e = engine()
    quote(e)
    events = e.submit("x", "SPY", "sell", "2", "limit", "99", None, "gtc")  # type: ignore[arg-type]
    assert kinds(events) == [K.NEW, K.FILL]
    assert events[0].side is SELL
    assert events[0].quantity == D(2)


def test_duplicate_order_id_is_rejected_and_the_original_is_untouched() -> None:
    e = engine()
    quote(e)
    e.submit("d", "SPY", BUY, D(1), LMT, price=D(90))
    events = e.submit("d", "SPY", SELL, D(5), MKT)
    assert kinds(events) == [K.REJECTED]
    assert events[0].reason == "duplicate order id 'd'"
    assert events[0].venue_order_id == NO_ORDER_ID
    view = e.order("d")
    assert view is not None
    assert view.is_open
    assert view.side is BUY
    assert view.quantity == D(1)


def test_reject_next_rejects_on_demand_then_resumes() -> None:
    e = engine()
    quote(e)
    e.reject_next = 2
    first = e.submit("r1", "SPY", BUY, D(1), MKT)
    second = e.submit("r2", "SPY", BUY, D(1), MKT)
    assert [x.reason for x in first + second] == ["rejected on demand"] * 2
    assert kinds(e.submit("r3", "SPY", BUY, D(1), MKT)) == [K.NEW, K.FILL]
    assert e.reject_next == 0
    view = e.order("r1")
    assert view is not None
    assert view.status is OrderStatus.REJECTED


@pytest.mark.parametrize(
    ("bid", "ask", "bsz", "asz", "message"),
    [("0", "1", "1", "1", "positive"), ("1", "1", "-1", "1", "sizes"),
     ("2", "1", "1", "1", "crossed")],
)
def test_impossible_quotes_raise(bid: str, ask: str, bsz: str, asz: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        quote(engine(), bid, ask, bsz, asz)


def test_locked_quote_is_allowed() -> None:
    e = engine()
    quote(e, bid="100", ask="100")
    assert e.submit("m", "SPY", SELL, D(1), MKT)[-1].last_px == D(100)


def test_ids_are_unique_and_numbered_in_order() -> None:
    e = engine(id_prefix="X")
    quote(e, asz="1", bsz="1")
    events = []
    for i in range(5):
        events += e.submit(f"o{i}", "SPY", BUY if i % 2 else SELL, D(3), MKT)
        events += quote(e, asz="1", bsz="1")
    events += e.cancel("o4")
    exec_ids = [x.exec_id for x in events]
    assert len(set(exec_ids)) == len(exec_ids)
    assert exec_ids == sorted(exec_ids)
    assert all(x.startswith("X-E") for x in exec_ids)
    venue_ids = {x.order_id: x.venue_order_id for x in events}
    assert len(set(venue_ids.values())) == 5
    assert [x.timestamp_ns for x in events] == sorted(x.timestamp_ns for x in events)
