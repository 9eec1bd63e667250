"""The portfolio: Decimal-exact cash, average cost, realized and unrealized PnL,
commissions, and the buying-power rule."""

from __future__ import annotations

import itertools
from decimal import Decimal

from stockfish_core.orders import Fill, Order, OrderSide, OrderType
from stockfish_strategy import Portfolio

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


_ids = itertools.count(1)


def fill(side: OrderSide, qty: str, price: str, commission: str = "0") -> Fill:
    n = next(_ids)
    return Fill(f"o{n}", f"e{n}", "AAPL", side, D(qty), D(price), D(commission))


def test_buys_average_their_cost_and_sells_realize_against_it() -> None:
    p = Portfolio(10_000)
    assert p.apply(fill(BUY, "10", "100.10", "1")) == 0
    assert p.apply(fill(BUY, "30", "100.30", "1")) == 0
    pos = p.positions["AAPL"]
    assert pos.quantity == D(40)
    assert pos.avg_cost == D("100.25")  # (10 * 100.10 + 30 * 100.30) / 40, exactly
    assert p.cash == D(10_000) - D("1001.0") - D("3009.0") - D(2)
    realized = p.apply(fill(SELL, "15", "101.25", "1"))
    assert realized == D("15.00")
    assert pos.quantity == D(25)
    assert pos.avg_cost == D("100.25")  # a sale does not move the average cost
    p.mark("AAPL", D("99.25"))
    assert p.unrealized_pnl == D("-25.00")
    assert p.commissions == D(3)
    assert p.equity == p.cash + D(25) * D("99.25")
    assert p.equity == D(10_000) + p.realized_pnl + p.unrealized_pnl - p.commissions


def test_a_sale_through_zero_realizes_and_opens_a_short_at_its_price() -> None:
    p = Portfolio(10_000)
    p.apply(fill(BUY, "10", "50"))
    realized = p.apply(fill(SELL, "25", "52"))
    pos = p.positions["AAPL"]
    assert realized == D(20)
    assert (pos.quantity, pos.avg_cost) == (D(-15), D(52))
    assert p.apply(fill(BUY, "15", "51")) == D(15)  # the short gains 1 a share
    assert (pos.quantity, pos.avg_cost) == (D(0), D(0))
    assert p.cash == D(10_000) + D(35)
    assert p.holdings() == {}


def test_buying_power_refuses_what_the_cash_cannot_pay_with_the_reason() -> None:
    p = Portfolio(1_000)
    p.mark("AAPL", D(100))
    assert p.check_buying_power(Order("AAPL", BUY, 10), D(100)) is None
    reason = p.check_buying_power(Order("AAPL", BUY, 11), D(100))
    assert reason is not None
    assert "needs 1100.00 but 1000.00 is available" in reason
    # A limit order is valued at its limit; open orders commit cash already.
    limit = Order("AAPL", BUY, 5, OrderType.LIMIT, price=D(90))
    assert p.check_buying_power(limit, D(100)) is None
    open_order = Order("AAPL", BUY, 6, OrderType.LIMIT, price=D(100))
    reason = p.check_buying_power(limit, D(100), [open_order])
    assert reason is not None and "committed to open orders 600.00" in reason
    # Closing a position needs no cash.
    p.apply(fill(BUY, "10", "100"))
    assert p.cash == 0
    assert p.check_buying_power(Order("AAPL", SELL, 10), D(100)) is None
    assert p.check_buying_power(Order("AAPL", SELL, 11), D(100)) is not None
    assert "no price for MSFT" in (p.check_buying_power(Order("MSFT", BUY, 1), None) or "")
