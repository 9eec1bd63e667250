"""W and X kept as books and normalized (messages as QuickFIX hands them to the loop)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockfish_core import Connector, DataType, OrderBookSnapshot, PriceTick, Subscription, Trade
from stockfish_core.testing import RecordingListener
from stockfish_fix.marketdata import MarketData
from stockfish_fix.messages import (
    SOH,
    decimal_text,
    fields,
    flat,
    msg_type,
    transact_time,
    utc_timestamp_ns,
)


def raw(*pairs: tuple[int, object]) -> str:
    head = [(8, "FIX.4.4"), (9, "100"), (35, pairs[0][1])]
    return "".join(f"{t}={v}{SOH}" for t, v in head + list(pairs[1:])) + f"10=000{SOH}"


@pytest.fixture
def market() -> tuple[MarketData, Connector]:
    connector = Connector("fix", "fix", listener=RecordingListener())
    return MarketData("fix"), connector


def test_snapshot_then_incremental_updates_of_a_book(
    market: tuple[MarketData, Connector],
) -> None:
    data, connector = market
    sub, new = data.add(Subscription("SPY", DataType.ORDERBOOK_SNAPSHOT, depth=2), 2)
    assert new and sub.md_req_id == "fix-md1"
    assert data.add(Subscription("SPY", DataType.ORDERBOOK_SNAPSHOT, depth=2), 2) == (sub, False)
    snapshot = raw((35, "W"), (52, "20260102-14:30:00.000"), (55, "SPY"), (262, "fix-md1"),
                   (268, 4), (269, 0), (270, "99.99"), (271, 100), (269, 0), (270, "99.98"),
                   (271, 200), (269, 1), (270, "100.01"), (271, 300), (269, 1), (270, "100.03"),
                   (271, 400))
    (update,) = data.normalize(connector, [(5, snapshot)])
    book = update.payload
    assert isinstance(book, OrderBookSnapshot)
    assert [(lv.price, lv.size) for lv in book.bids] == [(99.99, 100.0), (99.98, 200.0)]
    assert [(lv.price, lv.size) for lv in book.asks] == [(100.01, 300.0), (100.03, 400.0)]
    assert (update.stream, update.recv_ts_ns, update.venue_ts_ns) == (
        "fix-md1", 5, 1767364200000000000)
    increment = raw((35, "X"), (262, "fix-md1"), (268, 3),
                    (279, 2), (269, 0), (55, "SPY"), (270, "99.99"),
                    (279, 1), (269, 1), (55, "SPY"), (270, "100.01"), (271, 50),
                    (279, 0), (269, 1), (55, "SPY"), (270, "100.00"), (271, 10), (83, 7))
    (update,) = data.normalize(connector, [(6, increment)])
    book = update.payload
    assert [(lv.price, lv.size) for lv in book.bids] == [(99.98, 200.0)]
    assert [(lv.price, lv.size) for lv in book.asks] == [(100.0, 10.0), (100.01, 50.0)]
    assert update.sequence_number == 7


def test_entries_at_one_price_add_up_and_an_empty_level_is_none(
    market: tuple[MarketData, Connector],
) -> None:
    """The book is the core's L2 book: entries (by MDEntryID) at one price are one level."""
    data, connector = market
    data.add(Subscription("SPY", DataType.ORDERBOOK_SNAPSHOT, depth=5), 5)
    (update,) = data.normalize(connector, [(1, raw(
        (35, "W"), (55, "SPY"), (262, "fix-md1"), (268, 4),
        (269, 0), (278, "B1"), (270, "99.5"), (271, 100),
        (269, 0), (278, "B2"), (270, "99.5"), (271, 50),
        (269, 1), (278, "A1"), (270, "100.5"), (271, 30),
        (269, 1), (278, "A2"), (270, "100.0"), (271, 0)))])
    book = update.payload
    assert [(lv.price, lv.size) for lv in book.bids] == [(99.5, 150.0)]
    assert [(lv.price, lv.size) for lv in book.asks] == [(100.5, 30.0)]
    # B1 moves to another price (its old level keeps B2), B2 goes, A1 changes its size
    # without a price.
    (update,) = data.normalize(connector, [(2, raw(
        (35, "X"), (262, "fix-md1"), (268, 3),
        (279, 1), (269, 0), (278, "B1"), (55, "SPY"), (270, "99.0"), (271, 70),
        (279, 2), (269, 0), (278, "B2"), (55, "SPY"),
        (279, 1), (269, 1), (278, "A1"), (55, "SPY"), (271, 10)))])
    book = update.payload
    assert [(lv.price, lv.size) for lv in book.bids] == [(99.0, 70.0)]
    assert [(lv.price, lv.size) for lv in book.asks] == [(100.5, 10.0)]


def test_price_tick_and_trades(market: tuple[MarketData, Connector]) -> None:
    data, connector = market
    data.add(Subscription("QQQ", DataType.PRICE_TICK), 1)
    data.add(Subscription("QQQ", DataType.TRADE), 0)
    updates = data.normalize(connector, [
        (1, raw((35, "W"), (55, "QQQ"), (262, "fix-md1"), (268, 2), (269, 0), (270, "400.1"),
                (271, 5), (269, 1), (270, "400.2"), (271, 6))),
        (2, raw((35, "X"), (262, "fix-md2"), (268, 2),
                (279, 0), (269, 2), (278, "T1"), (55, "QQQ"), (270, "400.15"), (271, 3),
                (279, 0), (269, 2), (278, "T2"), (55, "QQQ"), (270, "400.2"), (271, 1))),
        (3, raw((35, "X"), (268, 1), (279, 0), (269, 2), (278, "T3"), (55, "QQQ"),
                (270, "400.25"), (271, 2))),
    ])
    ticks = [u.payload for u in updates if isinstance(u.payload, PriceTick)]
    trades = [u.payload for u in updates if isinstance(u.payload, Trade)]
    assert (ticks[0].bid, ticks[0].ask, ticks[0].last) == (400.1, 400.2, None)
    # Without an MDReqID an X entry goes to every subscription of its symbol.
    assert (ticks[-1].last, ticks[-1].last_size, ticks[-1].volume) == (400.25, 2.0, 2.0)
    assert [(t.trade_id, t.price, t.size) for t in trades] == [
        ("T1", 400.15, 3.0), ("T2", 400.2, 1.0), ("T3", 400.25, 2.0)]


def test_bad_and_foreign_messages_are_counted_not_raised(
    market: tuple[MarketData, Connector],
) -> None:
    data, connector = market
    data.add(Subscription("SPY", DataType.ORDERBOOK_SNAPSHOT), 5)
    updates = data.normalize(connector, [
        (1, raw((35, "X"), (262, "fix-md1"), (268, 1), (279, 0), (269, 0), (270, "abc"),
                (271, 1))),
        (2, raw((35, "X"), (262, "fix-md1"), (268, 1), (279, 0), (269, 0), (271, 1))),
        (3, raw((35, "X"), (262, "someone-else"), (268, 1), (279, 0), (269, 0), (270, "1"))),
        "not a pair",
    ])
    assert updates == []
    listener = connector.listener
    assert isinstance(listener, RecordingListener)
    assert len(listener.errors) == 3
    assert all(e.data for e in listener.errors)


def test_message_helpers() -> None:
    text = f"8=FIX.4.4{SOH}9=5{SOH}35=8{SOH}55=A{SOH}55=B{SOH}10=1{SOH}"
    assert msg_type(text) == "8"
    assert msg_type("8=FIX.4.4") == ""
    assert flat(text)["55"] == "B"
    # A value may hold "="; a field without one, or an empty field, does not stop the rest.
    assert flat(f"35=8{SOH}58=a=b{SOH}{SOH}11{SOH}44=1.5{SOH}") == {
        "35": "8", "58": "a=b", "11": "", "44": "1.5"}
    assert flat(f"35=8{SOH}55=X") == {"35": "8", "55": "X"}
    assert flat("") == {}
    # As many "=" as fields, but one field has none and another two: not paired wrongly.
    assert flat(f"35=8{SOH}99{SOH}58=1=2{SOH}") == {"35": "8", "99": "", "58": "1=2"}
    assert [v for t, v in fields(text) if t == "55"] == ["A", "B"]
    from decimal import Decimal

    assert decimal_text(Decimal("1E+2")) == "100"
    assert decimal_text(Decimal("0.00000001")) == "0.00000001"
    assert decimal_text(Decimal("450.10")) == "450.10"
    assert utc_timestamp_ns("20260102-14:30:00") == 1767364200000000000
    assert utc_timestamp_ns("20260102-14:30:00.123456789") == 1767364200123456789
    assert utc_timestamp_ns("garbage!!!!!!!!!!!!") == 0
    assert utc_timestamp_ns(None) == 0
    assert utc_timestamp_ns(transact_time(1767364200123999999)) == 1767364200123000000


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["8", "35", "58", "11", "99"]),
                          st.text(alphabet="=ab1", max_size=4)), max_size=8),
       st.booleans())
def test_flat_reads_any_fields_as_a_field_by_field_parse(
        items: list[tuple[str, str]], with_equals: bool) -> None:
    text = "".join(f"{tag}={value}{SOH}" if with_equals or i else f"{tag}{value}{SOH}"
                   for i, (tag, value) in enumerate(items))
    expected: dict[str, str] = {}
    for item in text.split(SOH):
        if item:
            tag, _, value = item.partition("=")
            expected[tag] = value
    assert flat(text) == expected
