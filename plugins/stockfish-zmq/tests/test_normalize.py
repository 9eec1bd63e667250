"""Normalization of each message type and each kind of bad input, through the plugin's
normalize hook (``connector.feed``) with no network: the schema, message by message."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from stockfish_core import (
    DataType,
    MacroEvent,
    NewsEvent,
    OHLCVBar,
    OrderBookSnapshot,
    PriceTick,
    Trade,
)
from stockfish_core.testing import ConnectorHarness
from stockfish_zmq.schema import parse_iso_ns
from stockfish_zmq.testing import stats_of, zmq_harness

TS = "2026-01-19T10:30:45.123Z"


def harness(**settings: Any) -> ConnectorHarness:
    return zmq_harness(["tcp://127.0.0.1:5555"], **settings)


def msg(kind: str, data: Any, symbol: str | None = "BTCUSD", **extra: Any) -> bytes:
    body: dict[str, Any] = {"type": kind, "data": data, "timestamp": TS, **extra}
    if symbol is not None:
        body["symbol"] = symbol
    return json.dumps(body).encode()


def test_ticker_becomes_a_price_tick_with_venue_and_receive_times() -> None:
    h = harness(reorder_wait=0)  # the first message of a stream is not held for the next
    h.connector.feed([msg("ticker", {"bid": 50000.5, "ask": 50001, "bid_size": 1.5,
                                     "ask_size": 2, "last": 50000.75, "last_size": 0.1,
                                     "volume": 1234}, sequence=12345)])
    (update,) = h.listener.updates
    assert update.data_type is DataType.PRICE_TICK
    assert update.payload == PriceTick("BTCUSD", 50000.5, 50001.0, 50000.75, 1.5, 2.0, 0.1,
                                       1234.0, parse_iso_ns(TS))
    assert update.source == "zmq" and update.sequence_number == 12345
    assert update.venue_ts_ns == parse_iso_ns(TS)
    assert update.recv_ts_ns > update.venue_ts_ns - 10**18
    assert update.stream == ""  # fed directly: no publisher endpoint


def test_ts_ns_takes_precedence_over_the_iso_timestamp() -> None:
    h = harness()
    h.connector.feed([msg("ticker", {"last": 1.0}, ts_ns=123456789)])
    assert h.listener.updates[0].venue_ts_ns == 123456789
    assert h.listener.updates[0].payload.timestamp_ns == 123456789


def test_every_message_type_is_normalized_to_its_model() -> None:
    h = harness()
    h.connector.feed([
        msg("trade", {"price": 100.5, "size": 2, "side": "BUY", "trade_id": 77}),
        msg("bar", {"open": 1, "high": 3, "low": 0.5, "close": 2, "volume": 10,
                    "interval": "5s"}),
        msg("news", {"title": "Fed holds", "content": "...", "source": "wire",
                     "sentiment": -0.2, "confidence": 0.9}, symbol=None),
        msg("macro", {"event": "CPI", "country": "US", "value": -0.1, "forecast": 0.2,
                      "previous": 0.3, "importance": 3}, symbol=None),
        msg("custom", {"funding_rate": 0.0001}),
        msg("depth", {"snapshot": True, "bids": [[99, 1], [98, 2]], "asks": [[101, 1, 3]]}),
    ])
    payloads = [u.payload for u in h.listener.updates]
    assert [u.data_type for u in h.listener.updates] == [
        DataType.TRADE, DataType.OHLCV_BAR, DataType.NEWS, DataType.MACRO, DataType.CUSTOM,
        DataType.ORDERBOOK_SNAPSHOT]
    ts = parse_iso_ns(TS)
    assert payloads[0] == Trade("BTCUSD", 100.5, 2.0, "buy", "77", ts)
    assert payloads[1] == OHLCVBar("BTCUSD", 1.0, 3.0, 0.5, 2.0, 10.0, "5s", ts)
    assert payloads[2] == NewsEvent("Fed holds", "...", "wire", [], -0.2, 0.9, ts)
    assert payloads[3] == MacroEvent("CPI", "US", -0.1, 0.2, 0.3, 3, ts)
    assert payloads[3].surprise == pytest.approx(-0.3)
    assert payloads[4] == {"funding_rate": 0.0001, "symbol": "BTCUSD"}
    assert h.listener.updates[4].symbol == "BTCUSD"
    book = payloads[5]
    assert isinstance(book, OrderBookSnapshot)
    assert [(lv.price, lv.size) for lv in book.bids] == [(99.0, 1.0), (98.0, 2.0)]
    assert book.asks[0].orders == 3 and book.mid_price == 100.0
    assert stats_of(h).data_errors == 0


BAD: list[tuple[str, Any, str | None]] = [
    ("not json", b"{not json", "malformed"),
    ("not utf-8", b"\xff\xfe garbage", "malformed"),
    ("a json list", b"[1, 2]", "malformed"),
    ("a json string", b'"hello"', "malformed"),
    ("not bytes", 12345, "malformed"),
    ("unknown type", msg("rumour", {}), "unknown_type"),
    ("no type", b'{"symbol": "BTCUSD", "data": {}}', "missing_field"),
    ("type not a string", b'{"type": 5, "data": {}}', "wrong_type"),
    ("symbol not a string", msg("ticker", {"bid": 1}, symbol=42), "wrong_type"),  # type: ignore[arg-type]
    ("empty symbol", msg("ticker", {"bid": 1}, symbol=""), "wrong_type"),
    ("no data", b'{"type": "ticker", "symbol": "BTCUSD"}', "missing_field"),
    ("data not an object", msg("ticker", [1, 2]), "wrong_type"),
    ("price as a string", msg("ticker", {"bid": "100.5"}), "wrong_type"),
    ("price as a bool", msg("ticker", {"bid": True}), "wrong_type"),
    ("NaN price", b'{"type":"ticker","symbol":"X","data":{"bid":NaN,"ask":1.0}}', None),
    ("infinite size", b'{"type":"ticker","symbol":"X","data":{"bid":1,"bid_size":Infinity}}',
     None),
    ("negative size", msg("trade", {"price": 10.0, "size": -5}), "invalid_value"),
    ("negative price", msg("ticker", {"bid": -1.0}), "invalid_value"),
    ("empty ticker", msg("ticker", {"volume": 5}), "missing_field"),
    ("crossed quote", msg("ticker", {"bid": 101.0, "ask": 100.0}), "crossed_quote"),
    ("trade without size", msg("trade", {"price": 1.0}), "missing_field"),
    ("bad trade side", msg("trade", {"price": 1.0, "size": 1, "side": "up"}), "invalid_value"),
    ("inconsistent bar", msg("bar", {"open": 5, "high": 4, "low": 1, "close": 2}),
     "invalid_value"),
    ("news without title", msg("news", {"content": "x"}, symbol=None), "missing_field"),
    ("sentiment out of range", msg("news", {"title": "t", "sentiment": 3}, symbol=None),
     "invalid_value"),
    ("macro importance", msg("macro", {"event": "CPI", "importance": 7}, symbol=None),
     "invalid_value"),
    ("bad timestamp", msg("ticker", {"bid": 1.0}, timestamp="yesterday"), "invalid_value"),
    ("timestamp as a number", msg("ticker", {"bid": 1.0}, timestamp=12.5), "wrong_type"),
    ("negative ts_ns", msg("ticker", {"bid": 1.0}, ts_ns=-1), "wrong_type"),
    ("sequence as a string", msg("ticker", {"bid": 1.0}, sequence="7"), "wrong_type"),
    ("negative sequence", msg("ticker", {"bid": 1.0}, sequence=-7), "wrong_type"),
    ("session as a list", msg("ticker", {"bid": 1.0}, sequence=1, session=[1]), "wrong_type"),
    ("depth level with a string", msg("depth", {"snapshot": True, "bids": [["1", 1]]}),
     "wrong_type"),
    ("crossed book", msg("depth", {"snapshot": True, "bids": [[2, 1]], "asks": [[1, 1]]}),
     "crossed_book"),
]


@pytest.mark.parametrize(("raw", "code"), [(r, c) for _, r, c in BAD],
                         ids=[name for name, _, _ in BAD])
def test_bad_input_is_counted_reported_and_never_raised(raw: Any, code: str | None) -> None:
    h = harness()
    good = msg("ticker", {"bid": 1.0, "ask": 2.0})
    h.connector.feed([raw, good])  # a bad message never stops the rest of its batch
    assert len(h.listener.updates) == 1 and h.listener.updates[0].payload.bid == 1.0
    stats = stats_of(h)
    assert stats.data_errors == 1
    (error,) = h.listener.errors
    assert error.data is True
    if code is None:
        # NaN/Infinity literals: orjson rejects the document, json accepts it and the
        # value check rejects the number; either way the message is a data error.
        assert error.code in ("malformed", "invalid_value")
    else:
        assert error.code == code
        assert stats.errors_by_code == {code: 1}
    assert "dropped" in error.message


NORMALIZERS = """
from stockfish_core import PriceTick


def funding_to_tick(message):
    data = message["data"]
    if data.get("skip"):
        return None
    return PriceTick(message["symbol"], last=data["rate"])


def always_fails(message):
    raise RuntimeError("boom")
"""


def test_a_plugged_normalizer_handles_its_own_message_type(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "zmq_test_normalizers.py").write_text(NORMALIZERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    h = harness(normalizers={"funding": "zmq_test_normalizers:funding_to_tick",
                             "broken": "zmq_test_normalizers:always_fails"})
    h.connector.feed([msg("funding", {"rate": 0.5}), msg("broken", {}),
                      msg("funding", {"skip": True})])
    (update,) = h.listener.updates
    assert update.data_type is DataType.PRICE_TICK
    assert update.payload.last == 0.5 and update.source == "zmq"
    (error,) = h.listener.errors
    assert error.code == "normalizer_error" and "boom" in error.message


def test_feed_type_keeps_only_one_message_type() -> None:
    h = harness(feed_type="ticker")
    h.connector.feed([msg("trade", {"price": 1.0, "size": 1}), msg("ticker", {"last": 1.0})])
    assert [u.data_type for u in h.listener.updates] == [DataType.PRICE_TICK]
    assert stats_of(h).filtered == 1 and stats_of(h).data_errors == 0


def test_nan_from_a_json_encoder_is_never_delivered() -> None:
    h = harness()
    h.connector.feed([json.dumps({"type": "ticker", "symbol": "X",
                                  "data": {"last": math.nan}}).encode()])
    assert not h.listener.updates and stats_of(h).data_errors == 1
