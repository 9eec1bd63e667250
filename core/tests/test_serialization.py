"""Every model survives dict and JSON round trips; decimals travel as strings. The
journal's hand-written JSON of orders and fills is the same as theirs."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockfish_core import (
    DataType,
    Fill,
    MacroEvent,
    MarketUpdate,
    NewsEvent,
    OHLCVBar,
    Order,
    OrderBookLevel,
    OrderBookSnapshot,
    OrderUpdate,
    Position,
    PriceTick,
    Trade,
)
from stockfish_core.journal import fill_body, order_body
from stockfish_core.orders import OrderSide, OrderStatus, OrderType, TimeInForce
from stockfish_core.serialization import from_dict, from_json, to_dict, to_json

PAYLOADS = [
    PriceTick("SPY", 1.0, 2.0, 1.5, 10, 20, 5, 1000, 123),
    OrderBookSnapshot("BTC", [OrderBookLevel(1.0, 2.0, 3)], [OrderBookLevel(1.1, 1.0)], 9, 5),
    OHLCVBar("SPY", 1, 2, 0.5, 1.5, 100, "5m", 77),
    Trade("SPY", 1.25, 3, "BUY", "t1", 88),
    NewsEvent("Fed holds", "text", "wire", ["SPY"], 0.2, 0.9, 99),
    MacroEvent("CPI", "US", 3.2, 3.1, 3.0, 3, 11),
    {"symbol": "X", "anything": [1, 2]},
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: type(p).__name__)
def test_market_update_round_trip(payload: object) -> None:
    data_type = {
        PriceTick: DataType.PRICE_TICK, OrderBookSnapshot: DataType.ORDERBOOK_SNAPSHOT,
        OHLCVBar: DataType.OHLCV_BAR, Trade: DataType.TRADE, NewsEvent: DataType.NEWS,
        MacroEvent: DataType.MACRO, dict: DataType.CUSTOM,
    }[type(payload)]
    update = MarketUpdate(data_type, payload, "src", 42, 1, 2, "stream-a")
    assert from_dict(to_dict(update), MarketUpdate) == update
    text = to_json(update)
    assert json.loads(text)["data_type"] == data_type.value
    assert from_json(text, MarketUpdate) == update


def test_order_round_trip_keeps_decimals_exact() -> None:
    order = Order("SPY", "buy", "100", "limit", price="450.123456789", client_order_id="c-1")
    order.transition(OrderStatus.SUBMITTED)
    data = to_dict(order)
    assert data["price"] == "450.123456789"
    assert data["side"] == "BUY"
    assert data["status"] == "SUBMITTED"
    back = from_dict(json.loads(json.dumps(data)), Order)
    assert back.price == Decimal("450.123456789")
    assert to_dict(back) == data


def test_fill_update_position_round_trip() -> None:
    fill = Fill("c", "e", "SPY", "sell", "3", "99.99", "0.01", "ib", "v1", 5)
    update = OrderUpdate("c", OrderStatus.FILLED, "v1", fill, timestamp_ns=5)
    assert from_json(to_json(fill), Fill) == fill
    assert from_dict(to_dict(update), OrderUpdate) == update
    pos = Position("SPY", Decimal("-3"), Decimal("99.99"))
    assert from_dict(to_dict(pos), Position) == pos


_decimals = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1e9"), places=4,
                        allow_nan=False, allow_infinity=False)
_text = st.none() | st.text(max_size=12)
#: Text that reaches a wire (symbol, account, client order id) must be printable.
_wire_text = st.none() | st.text(max_size=12).filter(str.isprintable)


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from(list(OrderSide)), order_type=st.sampled_from(list(OrderType)),
       tif=st.sampled_from(list(TimeInForce)), status=st.sampled_from(list(OrderStatus)),
       quantity=_decimals, price=_decimals, stop=_decimals, avg=st.none() | _decimals,
       reason=_text, venue_id=_text, account=_wire_text, order_id=_wire_text, connector=_text,
       symbol=st.text(min_size=1, max_size=8).filter(lambda s: s.strip() and s.isprintable()),
       unknown=st.booleans(), updated=st.integers(min_value=0, max_value=2**62))
def test_journal_order_body_is_the_order_as_dict(
    side: OrderSide, order_type: OrderType, tif: TimeInForce, status: OrderStatus,
    quantity: Decimal, price: Decimal, stop: Decimal, avg: Decimal | None,
    reason: str | None, venue_id: str | None, account: str | None, symbol: str,
    order_id: str | None, connector: str | None, unknown: bool, updated: int,
) -> None:
    limit = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    stopped = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    trailing = order_type is OrderType.TRAILING_STOP
    order = Order(symbol, side, quantity, order_type, price=price if limit else None,
                  stop_price=stop if stopped else None, time_in_force=tif,
                  client_order_id=order_id, connector=connector, account=account,
                  trail_amount=stop if trailing else None,
                  expire_ns=updated + 1 if tif is TimeInForce.GTD else None)
    order.status, order.avg_fill_price, order.reason = status, avg, reason
    order.venue_order_id, order.outcome_unknown, order.updated_ns = venue_id, unknown, updated
    # The very text json.dumps writes, quotes, backslashes and non-ASCII included.
    assert order_body(order) == json.dumps(to_dict(order), separators=(",", ":"))
    assert to_dict(from_dict(json.loads(order_body(order)), Order)) == to_dict(order)


@settings(max_examples=100, deadline=None)
@given(side=st.sampled_from(list(OrderSide)), quantity=_decimals, price=_decimals,
       commission=_decimals, connector=st.none() | st.text(max_size=8), venue_id=_text,
       ids=st.tuples(st.text(max_size=8), st.text(max_size=8), st.text(max_size=8)),
       timestamp=st.integers(min_value=0, max_value=2**62))
def test_journal_fill_body_is_the_fill_as_dict(
    side: OrderSide, quantity: Decimal, price: Decimal, commission: Decimal,
    connector: str | None, venue_id: str | None, ids: tuple[str, str, str], timestamp: int,
) -> None:
    order_id, execution_id, symbol = ids
    fill = Fill(order_id, execution_id, symbol, side, quantity, price, commission, connector,
                venue_id, timestamp)
    assert fill_body(fill) == json.dumps(to_dict(fill), separators=(",", ":"))
