"""Validate the ``data`` of one message and build the core payload it describes.

Every builder takes the envelope's symbol, the ``data`` object and the venue timestamp,
and returns a payload (:class:`~stockfish_core.models.PriceTick`, ...) or raises
:class:`DataError` with a code and a message that says what was wrong. Numbers must be
JSON numbers (not strings, not booleans), finite, and non-negative where they are
prices or sizes. Unknown fields are ignored, so publishers can add their own.
"""

from __future__ import annotations

import sys
from typing import Any

from stockfish_core.plugin_api import (
    MacroEvent,
    NewsEvent,
    OHLCVBar,
    PriceTick,
    Trade,
    show,
)

from .schema import parse_iso_ns

__all__ = [
    "DataError",
    "build_bar",
    "build_custom",
    "build_macro",
    "build_news",
    "build_ticker",
    "build_trade",
    "check_data",
    "show",
    "venue_ts",
]


class DataError(ValueError):
    """A message that cannot be used. ``code`` is one of: ``malformed`` (not a JSON
    object), ``unknown_type``, ``missing_field``, ``wrong_type``, ``invalid_value``
    (NaN, infinite, negative, out of range), ``crossed_quote``, ``crossed_book``,
    ``too_many_symbols``, ``normalizer_error``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


#: The largest integer that is still a finite float.
_MAX_FLOAT_INT = int(sys.float_info.max)
#: The largest venue time accepted (int64 nanoseconds: the year 2262).
_MAX_TS_NS = 2**63 - 1


def _bad_number(key: str, value: Any, signed: bool = False) -> DataError:
    if type(value) is float or type(value) is int:
        what = "a finite number" if signed else "a finite non-negative number"
        return DataError("invalid_value", f"{key} must be {what}, got {show(value)}")
    return DataError("wrong_type", f"{key} must be a number, got {show(value)}")


def _price(data: dict[str, Any], key: str) -> float | None:
    """An optional finite non-negative number (``x - x == 0`` rejects NaN and inf)."""
    value = data.get(key)
    if value is None:
        return None
    kind = type(value)
    if kind is float:
        if value >= 0.0 and value - value == 0.0:
            return value  # type: ignore[no-any-return]
    elif kind is int and 0 <= value <= _MAX_FLOAT_INT:
        return float(value)
    raise _bad_number(key, value)


def _required_price(data: dict[str, Any], key: str) -> float:
    value = _price(data, key)
    if value is None:
        raise DataError("missing_field", f"data.{key} is required")
    return value


def _signed(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if (type(value) is float and value - value == 0) or \
            (type(value) is int and -_MAX_FLOAT_INT <= value <= _MAX_FLOAT_INT):
        return float(value)
    raise _bad_number(key, value, signed=True)


def _text(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if type(value) is not str:
        raise DataError("wrong_type", f"{key} must be a string, got {show(value)}")
    return value


def venue_ts(message: dict[str, Any]) -> int:
    """Venue time in ns: ``ts_ns`` (integer) if present, else the ISO ``timestamp``, else 0."""
    ts = message.get("ts_ns")
    if ts is not None:
        if type(ts) is int and 0 <= ts <= _MAX_TS_NS:
            return ts
        if type(ts) is int and ts > _MAX_TS_NS:
            raise DataError("invalid_value", f"ts_ns must be between 0 and 2**63-1, got "
                                             f"{show(ts)}")
        raise DataError("wrong_type", f"ts_ns must be a non-negative integer, got {show(ts)}")
    text = message.get("timestamp")
    if text is None:
        return 0
    if type(text) is not str:
        raise DataError("wrong_type", f"timestamp must be an ISO 8601 string, got {show(text)}")
    try:
        return parse_iso_ns(text)
    except ValueError:
        raise DataError("invalid_value", f"timestamp {show(text)} is not ISO 8601") from None


def build_ticker(symbol: str, data: dict[str, Any], ts: int) -> PriceTick:
    bid = _price(data, "bid")
    ask = _price(data, "ask")
    last = _price(data, "last")
    if bid is None and ask is None and last is None:
        raise DataError("missing_field", "a ticker needs at least one of bid, ask, last")
    if bid is not None and ask is not None and bid > ask:
        raise DataError("crossed_quote", f"crossed quote: bid {bid} > ask {ask}")
    return PriceTick(symbol, bid, ask, last, _price(data, "bid_size"), _price(data, "ask_size"),
                     _price(data, "last_size"), _price(data, "volume"), ts)


_SIDES = {"buy": "buy", "sell": "sell", "BUY": "buy", "SELL": "sell", "b": "buy", "s": "sell"}


def build_trade(symbol: str, data: dict[str, Any], ts: int) -> Trade:
    price = _required_price(data, "price")
    size = _required_price(data, "size")
    side = data.get("side")
    if side is not None:
        norm = _SIDES.get(side) if type(side) is str else None
        if norm is None:
            raise DataError("invalid_value", f"side must be 'buy' or 'sell', got {show(side)}")
        side = norm
    trade_id = data.get("trade_id")
    if trade_id is not None:
        if type(trade_id) is int:
            trade_id = str(trade_id)
        elif type(trade_id) is not str:
            raise DataError("wrong_type", f"trade_id must be a string, got {show(trade_id)}")
    return Trade(symbol, price, size, side, trade_id, ts)


def build_bar(symbol: str, data: dict[str, Any], ts: int) -> OHLCVBar:
    o = _required_price(data, "open")
    h = _required_price(data, "high")
    low = _required_price(data, "low")
    c = _required_price(data, "close")
    volume = _price(data, "volume") or 0.0
    if not (low <= min(o, c) and h >= max(o, c)):
        raise DataError("invalid_value", f"bar is inconsistent: open {o} high {h} low {low} "
                                         f"close {c}")
    interval = _text(data, "interval", "1m") or "1m"
    return OHLCVBar(symbol, o, h, low, c, volume, interval, ts)


def build_news(symbol: str | None, data: dict[str, Any], ts: int) -> NewsEvent:
    title = _text(data, "title")
    if not title:
        raise DataError("missing_field", "data.title is required")
    symbols = data.get("symbols")
    if symbols is None:
        symbols = [symbol] if symbol else []
    elif not isinstance(symbols, list) or not all(type(s) is str for s in symbols):
        raise DataError("wrong_type", f"symbols must be a list of strings, got {show(symbols)}")
    sentiment = _signed(data, "sentiment")
    if sentiment is not None and not -1.0 <= sentiment <= 1.0:
        raise DataError("invalid_value", f"sentiment must be in [-1, 1], got {sentiment}")
    confidence = _signed(data, "confidence")
    if confidence is not None and not 0.0 <= confidence <= 1.0:
        raise DataError("invalid_value", f"confidence must be in [0, 1], got {confidence}")
    return NewsEvent(title, _text(data, "content"), _text(data, "source"), list(symbols),
                     sentiment, confidence, ts)


def build_macro(symbol: str | None, data: dict[str, Any], ts: int) -> MacroEvent:
    event = _text(data, "event")
    if not event:
        raise DataError("missing_field", "data.event is required")
    importance = data.get("importance", 1)
    if type(importance) is not int or not 1 <= importance <= 3:
        raise DataError("invalid_value", f"importance must be 1, 2 or 3, got {show(importance)}")
    return MacroEvent(event, _text(data, "country"), _signed(data, "value"),
                      _signed(data, "forecast"), _signed(data, "previous"), importance, ts)


def build_custom(symbol: str | None, data: dict[str, Any], ts: int) -> dict[str, Any]:
    """A custom message's ``data`` as the payload, with the envelope's symbol added."""
    if symbol and "symbol" not in data:
        data["symbol"] = symbol
    return data


def check_data(message: dict[str, Any]) -> dict[str, Any]:
    data = message.get("data")
    if type(data) is dict:
        return data
    if data is None:
        raise DataError("missing_field", "data is required (a JSON object)")
    raise DataError("wrong_type", f"data must be a JSON object, got {show(data)}")
