"""The shared fill engine's commission and slippage models (the engine's order handling
is tested in test_sim_matching.py and test_sim_matching_invariants.py)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from stockfish_core.fills import (
    BpsCommission,
    ExecEvent,
    FixedBpsSlippage,
    MatchingEngine,
    PerOrderCommission,
    PerShareCommission,
    SpreadFractionSlippage,
    order_update,
    parse_commission,
    parse_slippage,
)
from stockfish_core.orders import OrderSide, OrderStatus, OrderType

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
MKT, LMT = OrderType.MARKET, OrderType.LIMIT


def engine(**kwargs: object) -> MatchingEngine:
    clock = itertools.count(1_000)
    return MatchingEngine(clock=lambda: next(clock), **kwargs)  # type: ignore[arg-type]


def fills(events: list[ExecEvent]) -> list[ExecEvent]:
    return [e for e in events if e.is_fill]


def test_per_share_commission_minimum_and_maximum_hold_per_order_across_partial_fills(
) -> None:
    # IB fixed: 0.005 a share, at least 1.00 an order, at most 1% of its value.
    e = engine(commission=PerShareCommission("0.005", "1", "0.01"), max_fill_qty=D(100))
    e.set_quote("SPY", D("99"), D("100"), D(1000), D(1000))
    first = fills(e.submit("a", "SPY", BUY, D(300), MKT))
    assert first[0].commission == D("1.00")  # 100 shares: 0.50, raised to the minimum
    e.set_quote("SPY", D("99"), D("100"), D(1000), D(1000))
    e.set_quote("SPY", D("99"), D("100"), D(1000), D(1000))
    view = e.order("a")
    assert view is not None and view.status is OrderStatus.FILLED
    assert view.commission == D("1.500")  # 300 shares * 0.005: the minimum no longer binds
    # A cheap stock: 1% of 10 shares at 0.50 is 0.05, below the 1.00 minimum: the cap wins.
    e.set_quote("PENNY", D("0.49"), D("0.50"), D(1000), D(1000))
    cheap = fills(e.submit("b", "PENNY", BUY, D(10), MKT))
    assert cheap[0].commission == D("0.0500")


def test_bps_and_per_order_commissions() -> None:
    e = engine(commission=BpsCommission("2"))
    e.set_quote("SPY", D("99"), D("100"), D(1000), D(1000))
    assert fills(e.submit("a", "SPY", BUY, D(10), MKT))[0].commission == D("0.2")
    e = engine(commission=PerOrderCommission("1.25"), max_fill_qty=D(5))
    e.set_quote("SPY", D("99"), D("100"), D(1000), D(1000))
    first = fills(e.submit("a", "SPY", BUY, D(10), MKT))
    e.set_quote("SPY", D("99"), D("100"), D(1000), D(1000))
    view = e.order("a")
    assert first[0].commission == D("1.25")
    assert view is not None and view.commission == D("1.25")  # the second fill pays nothing


def test_slippage_models_move_the_touch_against_the_order_never_beyond_a_limit() -> None:
    e = engine(slippage=SpreadFractionSlippage("0.5"))
    e.set_quote("SPY", D("99"), D("100"), D(1000), D(1000))
    assert fills(e.submit("b", "SPY", BUY, D(1), MKT))[0].last_px == D("100.5")
    assert fills(e.submit("s", "SPY", SELL, D(1), MKT))[0].last_px == D("98.5")
    assert fills(e.submit("l", "SPY", BUY, D(1), LMT, D("100.2")))[0].last_px == D("100.2")
    e = engine(slippage=FixedBpsSlippage("10"))
    e.set_quote("SPY", D("99"), D("100"), D(1000), D(1000))
    assert fills(e.submit("b", "SPY", BUY, D(1), MKT))[0].last_px == D("100.1")
    assert fills(e.submit("s", "SPY", SELL, D(1), MKT))[0].last_px == D("98.901")


def test_default_engine_keeps_per_unit_commission_and_bps_slippage() -> None:
    e = engine(commission_per_unit=D("0.01"), slippage_bps=D("10"))
    e.set_quote("SPY", D("99"), D("100"), D(1000), D(1000))
    fill = fills(e.submit("b", "SPY", BUY, D(10), MKT))[0]
    assert (fill.last_px, fill.commission) == (D("100.1"), D("0.10"))
    with pytest.raises(ValueError, match="not both"):
        MatchingEngine(commission_per_unit=D(1), commission=BpsCommission(1))
    with pytest.raises(ValueError, match="not both"):
        MatchingEngine(slippage_bps=D(1), slippage=FixedBpsSlippage(1))


@pytest.mark.parametrize(("text", "expected"), [
    ("per_unit:0.01", PerShareCommission("0.01")),
    ("per_share:0.005,min=1,max=0.01", PerShareCommission("0.005", "1", "0.01")),
    ("bps:1.5", BpsCommission("1.5")),
    ("per_order:1", PerOrderCommission("1")),
])
def test_parse_commission(text: str, expected: object) -> None:
    assert parse_commission(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("0.01", "write per_unit:RATE"),
    ("flat:1", "unknown model 'flat'"),
    ("bps:abc", "must be a number"),
    ("bps:-1", "must be >= 0"),
    ("per_share:0.005,minimum=1", "unknown option"),
    ("per_share:0.005,min", "key=value"),
])
def test_parse_commission_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_commission(text)


def test_parse_slippage() -> None:
    assert parse_slippage("bps:2") == FixedBpsSlippage("2")
    assert parse_slippage("spread:0.5") == SpreadFractionSlippage("0.5")
    with pytest.raises(ValueError, match="bps:BPS or spread:FRACTION"):
        parse_slippage("half")
    with pytest.raises(ValueError, match="below 10000"):
        parse_slippage("bps:10000")


def test_order_update_carries_the_fill() -> None:
    e = engine(commission=PerOrderCommission("1"))
    e.set_quote("SPY", D("99"), D("100"), D(1000), D(1000))
    events = e.submit("b", "SPY", BUY, D(3), MKT)
    update = order_update(events[-1], "paper")
    assert update is not None and update.fill is not None
    assert (update.status, update.fill.price, update.fill.commission, update.fill.connector) == (
        OrderStatus.FILLED, D(100), D(1), "paper")
