"""Every model survives dict and JSON round trips; decimals travel as strings."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

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
from stockfish_core.orders import OrderStatus
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
