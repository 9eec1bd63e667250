"""Market-data and order models: derived values, validation, exact decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stockfish_core import (
    Fill,
    InvalidOrderError,
    MarketUpdate,
    OrderBookLevel,
    OrderBookSnapshot,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    PriceTick,
    TimeInForce,
)
from stockfish_core.models import DataType, MacroEvent, ns_to_datetime
from stockfish_core.orders import Order, to_decimal


def test_price_tick_derived_values() -> None:
    tick = PriceTick("SPY", bid=449.5, ask=450.5)
    assert tick.mid_price == 450.0
    assert tick.spread == 1.0
    assert tick.spread_bps == pytest.approx(1.0 / 450.0 * 10_000)
    assert not tick.is_crossed
    assert PriceTick("SPY", bid=2.0, ask=1.0).is_crossed


def test_price_tick_one_sided_has_no_mid() -> None:
    tick = PriceTick("SPY", bid=449.5)
    assert tick.mid_price is None
    assert tick.spread is None
    assert tick.spread_bps is None


def test_order_book_tops() -> None:
    book = OrderBookSnapshot(
        "BTCUSD",
        bids=[OrderBookLevel(100.0, 1.0), OrderBookLevel(99.0, 2.0)],
        asks=[OrderBookLevel(101.0, 1.5)],
        sequence=7,
    )
    assert book.best_bid == OrderBookLevel(100.0, 1.0)
    assert book.best_ask is not None and book.best_ask.price == 101.0
    assert book.mid_price == 100.5
    assert book.depth == 2
    assert OrderBookSnapshot("X").best_bid is None


def test_market_update_timestamps_and_symbol() -> None:
    tick = PriceTick("SPY", bid=1.0, timestamp_ns=1_700_000_000_000_000_000)
    update = MarketUpdate(DataType.PRICE_TICK, tick, "zmq", 1,
                          venue_ts_ns=1_700_000_000_000_000_000,
                          recv_ts_ns=1_700_000_000_000_500_000)
    assert update.symbol == "SPY"
    assert update.latency_ns == 500_000
    assert update.timestamp == ns_to_datetime(1_700_000_000_000_000_000)
    assert update.timestamp.year == 2023
    assert tick.timestamp == update.timestamp
    custom = MarketUpdate(DataType.CUSTOM, {"symbol": "X", "v": 1})
    assert custom.symbol == "X"
    assert custom.latency_ns is None


def test_macro_surprise() -> None:
    assert MacroEvent("CPI", "US", value=3.4, forecast=3.1).surprise == pytest.approx(0.3)
    assert MacroEvent("CPI").surprise is None


def test_order_as_in_the_seeds() -> None:
    order = Order("SPY", OrderSide.BUY, 100, OrderType.LIMIT, price=450.0)
    assert order.status is OrderStatus.PENDING
    assert order.order_id is None
    assert order.filled_quantity == 0
    assert order.quantity == Decimal("100")
    assert order.price == Decimal("450.0")
    assert order.time_in_force is TimeInForce.DAY


def test_float_prices_become_their_shortest_decimal() -> None:
    order = Order("SPY", "buy", "0.1", "limit", price=0.1 + 0.2)
    assert order.price == Decimal("0.30000000000000004")
    assert Order("SPY", "sell", 1, "limit", price=450.1).price == Decimal("450.1")
    assert order.side is OrderSide.BUY
    assert order.order_type is OrderType.LIMIT


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantity": 0}, "quantity must be positive"),
        ({"quantity": -5}, "quantity must be positive"),
        ({"quantity": float("nan")}, "quantity must be finite"),
        ({"price": float("nan"), "order_type": OrderType.LIMIT}, "price must be finite"),
        ({"price": -1, "order_type": OrderType.LIMIT}, "price must be positive"),
        ({"order_type": OrderType.LIMIT}, "needs a price"),
        ({"order_type": OrderType.STOP}, "needs a stop_price"),
        ({"order_type": OrderType.STOP_LIMIT, "price": 1}, "needs a stop_price"),
        ({"symbol": ""}, "symbol must be a non-empty string"),
        ({"symbol": "   "}, "symbol must be a non-empty string"),
        ({"price": 10}, "MARKET order takes no price"),
        ({"side": "sideways"}, "OrderSide must be one of BUY, SELL"),
        ({"quantity": True}, "quantity must be a number"),
        ({"quantity": "ten"}, "quantity must be a number"),
    ],
)
def test_invalid_orders_raise_when_built(kwargs: dict, message: str) -> None:
    args = {"symbol": "SPY", "side": OrderSide.BUY, "quantity": 10,
            "order_type": OrderType.MARKET, **kwargs}
    with pytest.raises(InvalidOrderError, match=message):
        Order(**args)


def test_to_decimal_rejects_infinity() -> None:
    with pytest.raises(InvalidOrderError):
        to_decimal(float("inf"))
    with pytest.raises(InvalidOrderError):
        to_decimal(Decimal("NaN"))
    assert to_decimal(" 1.25 ") == Decimal("1.25")


def test_state_machine_allows_the_lifecycle() -> None:
    order = Order("SPY", "buy", 10)
    assert order.transition(OrderStatus.SUBMITTED)
    assert not order.transition(OrderStatus.SUBMITTED)  # a repeat is not a change
    assert order.transition(OrderStatus.PARTIALLY_FILLED)
    assert order.transition(OrderStatus.FILLED)
    assert order.is_final


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([OrderStatus.SUBMITTED, OrderStatus.FILLED], OrderStatus.CANCELLED),
        ([OrderStatus.REJECTED], OrderStatus.SUBMITTED),
        ([OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED], OrderStatus.SUBMITTED),
        ([OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED], OrderStatus.REJECTED),
        ([OrderStatus.CANCELLED], OrderStatus.FILLED),
        ([OrderStatus.SUBMITTED], OrderStatus.PENDING),
    ],
)
def test_state_machine_refuses_illegal_transitions(path: list, illegal: OrderStatus) -> None:
    from stockfish_core import IllegalTransition

    order = Order("SPY", "buy", 10, client_order_id="c1")
    for status in path:
        order.transition(status)
    before = order.status
    with pytest.raises(IllegalTransition, match=f"{before.value} -> {illegal.value}"):
        order.transition(illegal)
    assert order.status is before


def test_fills_average_exactly_and_never_overfill() -> None:
    from stockfish_core import IllegalTransition

    order = Order("SPY", "buy", 10, client_order_id="c1")
    order.apply_fill(Fill("c1", "e1", "SPY", "buy", 4, "100.10"))
    order.apply_fill(Fill("c1", "e2", "SPY", "buy", 6, "100.20"))
    assert order.filled_quantity == 10
    assert order.avg_fill_price == Decimal("100.16")
    with pytest.raises(IllegalTransition, match="overfills"):
        order.apply_fill(Fill("c1", "e3", "SPY", "buy", 1, "100"))


def test_position_average_cost_and_realised_pnl() -> None:
    pos = Position("SPY")
    pos.apply(Fill("a", "1", "SPY", "buy", 10, "100", commission="1"))
    pos.apply(Fill("a", "2", "SPY", "buy", 10, "110"))
    assert pos.quantity == 20
    assert pos.avg_price == Decimal("105")
    pos.apply(Fill("b", "3", "SPY", "sell", 5, "120"))
    assert pos.realized_pnl == Decimal("75")
    assert pos.quantity == 15
    pos.apply(Fill("b", "4", "SPY", "sell", 20, "100"))  # through zero: short 5 at 100
    assert pos.quantity == -5
    assert pos.avg_price == Decimal("100")
    assert pos.realized_pnl == Decimal("0")  # 75 - 15 * 5
    assert pos.commission == Decimal("1")


def test_fill_validates() -> None:
    with pytest.raises(InvalidOrderError):
        Fill("c", "e", "SPY", "buy", 0, "1")
    with pytest.raises(InvalidOrderError):
        Fill("c", "e", "SPY", "buy", 1, "-1")
