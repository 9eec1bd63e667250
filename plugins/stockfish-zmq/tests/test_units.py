"""The pieces without a network: timestamps, the book, rate-limited logs (the sequencer's
tests are the core's: core/tests/test_sequencing.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import pytest

from stockfish_core.book import BookError, L2Book
from stockfish_zmq.schema import format_iso, parse_iso_ns, topic_of
from stockfish_zmq.stats import RateLimitedLog
from stockfish_zmq.testing.synthetic import SyntheticMarket, symbol_names


# -- timestamps ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-19T10:30:45.123Z", 1768818645_123_000_000),
        ("2026-01-19T10:30:45Z", 1768818645_000_000_000),
        ("2026-01-19T10:30:45.123456789Z", 1768818645_123_456_789),
        ("2026-01-19T11:30:45.5+01:00", 1768818645_500_000_000),
        ("2026-01-19T10:30:45.000001", 1768818645_000_001_000),
    ],
)
def test_iso_timestamps_parse_to_exact_nanoseconds(text: str, expected: int) -> None:
    assert parse_iso_ns(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-01-19T10:30:45.Z", "2026-13-01T00:00:00Z",
                                  "2026-01-19T10:30:45.1234567890Z"])
def test_bad_iso_timestamps_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"ISO|month|invalid"):
        parse_iso_ns(text)


def test_format_iso_round_trips_to_the_millisecond() -> None:
    ns = 1768818645_123_999_999
    assert format_iso(ns) == "2026-01-19T10:30:45.123Z"
    assert parse_iso_ns(format_iso(ns)) == 1768818645_123_000_000
    now = datetime.now(timezone.utc)
    assert format_iso(int(now.timestamp()) * 10**9).startswith(f"{now:%Y-%m-%dT%H}")


def test_topic_is_the_symbol_or_else_the_type() -> None:
    assert topic_of({"type": "ticker", "symbol": "BTCUSD"}) == "BTCUSD"
    assert topic_of({"type": "news"}) == "news"


# -- book ------------------------------------------------------------------------------
def test_book_applies_snapshot_then_updates_and_deletes() -> None:
    book = L2Book("X")
    book.apply({"snapshot": True, "bids": [[99.0, 1], [98.0, 2]], "asks": [[101.0, 3, 4]]}, 1)
    book.apply({"bids": [[99.5, 5.0], [98.0, 0]], "asks": [[100.5, 1.5]]}, 2)
    snap = book.snapshot(10, 7)
    assert [(lv.price, lv.size) for lv in snap.bids] == [(99.5, 5.0), (99.0, 1.0)]
    assert [(lv.price, lv.size, lv.orders) for lv in snap.asks] == [(100.5, 1.5, None),
                                                                    (101.0, 3.0, 4)]
    assert snap.sequence == 2 and snap.timestamp_ns == 7
    assert book.snapshot(1, 0).depth == 1
    assert book.to_wire() == {"snapshot": True, "bids": [[99.5, 5.0], [99.0, 1.0]],
                              "asks": [[100.5, 1.5], [101.0, 3.0, 4]]}


def test_emitted_snapshots_do_not_change_afterwards() -> None:
    book = L2Book("X")
    book.apply({"snapshot": True, "bids": [[99.0, 1]], "asks": [[101.0, 1]]}, 1)
    first = book.snapshot(5, 0)
    book.apply({"bids": [[99.0, 7]]}, 2)
    assert first.bids[0].size == 1.0
    assert book.snapshot(5, 0).bids[0].size == 7.0


def test_book_keeps_at_most_max_levels_dropping_the_far_ones() -> None:
    book = L2Book("X", max_levels=3)
    book.apply({"snapshot": True, "bids": [[float(p), 1] for p in range(90, 100)],
                "asks": [[float(p), 1] for p in range(101, 111)]}, 1)
    assert [lv.price for lv in book.snapshot(10, 0).bids] == [99.0, 98.0, 97.0]
    assert [lv.price for lv in book.snapshot(10, 0).asks] == [101.0, 102.0, 103.0]
    assert book.depth == 3


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"bids": [[100.0, -1]]}, "invalid_value"),
        ({"bids": [[float("nan"), 1]]}, "invalid_value"),
        ({"bids": [["100", 1]]}, "wrong_type"),
        ({"bids": [[100.0]]}, "wrong_type"),
        ({"bids": {"100": 1}}, "wrong_type"),
        ({"snapshot": "yes"}, "wrong_type"),
        ({"bids": [[102.0, 1]]}, "crossed_book"),
    ],
)
def test_bad_depth_data_raises_book_error_with_a_code(data: dict[str, Any], code: str) -> None:
    book = L2Book("X")
    book.apply({"snapshot": True, "bids": [[99.0, 1]], "asks": [[101.0, 1]]}, 1)
    with pytest.raises(BookError) as info:
        book.apply(data, 2)
    assert info.value.code == code


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- rate-limited log -------------------------------------------------------------------
def test_rate_limited_log_keeps_a_budget_per_key_and_counts_the_rest(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("stockfish.zmq.test"), interval=10, burst=2,
                             clock=clock)
    with caplog.at_level(logging.WARNING, "stockfish.zmq.test"):
        results = [limited.log(logging.WARNING, "k", "bad %d", i) for i in range(5)]
        limited.log(logging.WARNING, "other", "other key")
        clock.now = 11
        limited.log(logging.WARNING, "k", "bad again")
    assert results == [True, True, False, False, False]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:3] == ["bad 0", "bad 1", "other key"]
    assert messages[3] == "bad again (3 similar messages suppressed in the last 10s)"


# -- synthetic market -------------------------------------------------------------------
def test_synthetic_market_books_are_never_crossed_and_tickers_match_them() -> None:
    market = SyntheticMarket(symbol_names(3), levels=5, snapshot_every=7, seed=3)
    books = {s: L2Book(s) for s in market.symbols}
    kinds = set()
    for n, (kind, symbol, data) in enumerate(market):
        if n >= 3000:
            break
        kinds.add(kind)
        if kind == "depth":
            books[symbol].apply(data, n)  # raises BookError if crossed
        elif kind == "ticker" and books[symbol].sequence is not None:
            assert data["bid"] < data["ask"]
    assert kinds == {"ticker", "depth", "trade"}


def test_symbol_names_are_not_prefixes_of_each_other() -> None:
    names = symbol_names(1500)
    assert len(set(names)) == 1500
    assert not any(a != b and b.startswith(a) for a in names[:50] for b in names)


# -- the worker setting -------------------------------------------------------------------
def test_worker_refuses_a_snapshot_service_with_a_clear_error() -> None:
    from stockfish_zmq.config import ZmqConfig

    assert ZmqConfig(endpoints=["tcp://127.0.0.1:1"], worker=True).worker
    with pytest.raises(ValueError, match="worker: true does not take a snapshot service"):
        ZmqConfig(endpoints=["tcp://127.0.0.1:1"], worker=True,
                  snapshot_endpoint="tcp://127.0.0.1:2")
