"""Fuzz: every normalizer of the ibkr plugin fed what the TWS client library could hand it.

Tickers (quotes and depth), bars (historical and real-time) and executions with their
commission reports, built as the library's own objects with hypothesis-chosen values:
NaN, infinities, -1 (IB's "no value"), huge numbers, None, wrong types, and messages of
no subscription or no shape at all. Each test asserts that no exception escapes, that
every bad message is counted with a reason, and that every good message beside it is
delivered, in order, with its values.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("stockfish_ibkr")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from stockfish_core import (  # noqa: E402
    Connector,
    DataType,
    Order,
    OrderStatus,
    OrderType,
    Subscription,
)
from stockfish_core.testing import RecordingListener  # noqa: E402
from stockfish_ibkr.config import IBKRConfig  # noqa: E402
from stockfish_ibkr.marketdata import FeedKind, FeedSub, normalize  # noqa: E402
from stockfish_ibkr.orders import Tracked  # noqa: E402
from stockfish_ibkr.state import IBKRState  # noqa: E402

INF = math.inf
UTC = dt.timezone.utc


def _library() -> ModuleType:
    from stockfish_ibkr.library import load_library

    return load_library(IBKRConfig().library_preference())


LIB = _library()

# -- values ------------------------------------------------------------------------------
good_price = st.floats(min_value=0.0001, max_value=1e9, allow_nan=False)
good_size = st.floats(min_value=0, max_value=1e9, allow_nan=False)
junk = st.one_of(st.none(), st.text(max_size=4), st.just(Decimal("1.5")), st.just([1.0]),
                 st.just(object()))
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.just(-1.0), st.just(0.0),
    st.just(1.7976931348623157e308), st.just(1e300), st.integers(-(10**20), 10**20),
    st.sampled_from([math.nan, INF, -INF]),
)
anything = st.one_of(numbers, numbers, junk)
moments = st.one_of(
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1),
                 timezones=st.just(UTC)),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    st.dates(), st.none(), st.text(max_size=8), st.integers(),
)


def _is_number(value: Any) -> bool:
    return type(value) in (float, int, bool)


def _connector() -> tuple[Connector, RecordingListener, IBKRState]:
    listener = RecordingListener()
    connector = Connector("ibkr", "ibkr", listener=listener)
    state = IBKRState(connector, IBKRConfig(), LIB)
    connector.state = state
    return connector, listener, state


def _sub(symbol: str, kind: FeedKind) -> FeedSub:
    dtype = {FeedKind.PRICE: DataType.PRICE_TICK, FeedKind.DEPTH: DataType.ORDERBOOK_SNAPSHOT
             }.get(kind, DataType.OHLCV_BAR)
    return FeedSub(Subscription(symbol, dtype), kind, LIB.Contract(symbol=symbol),
                   f"{dtype.value}:{symbol}", interval="1m" if dtype is DataType.OHLCV_BAR
                   else "")


# -- quotes ------------------------------------------------------------------------------
QUOTE_FIELDS = ("bid", "ask", "last", "bidSize", "askSize", "lastSize", "volume")


@st.composite
def quote_message(draw: st.DrawFn) -> tuple[str, dict[str, Any], Any]:
    """(kind, fields, rtTime): kind good (sane values), fuzzed, unknown (no
    subscription) or junk (not a ticker at all)."""
    kind = draw(st.sampled_from(["good", "fuzzed", "fuzzed", "unknown", "junk"]))
    if kind == "good":
        fields = {f: draw(good_price if f in ("bid", "ask", "last") else good_size)
                  for f in QUOTE_FIELDS}
    else:
        fields = {f: draw(anything) for f in QUOTE_FIELDS}
    return kind, fields, draw(moments)


def _ticker(fields: dict[str, Any], rt_time: Any) -> Any:
    ticker = LIB.Ticker(contract=LIB.Contract(symbol="AAPL"))
    for name, value in fields.items():
        setattr(ticker, name, value)
    ticker.rtTime = rt_time
    ticker.ticks = [LIB.TickData(dt.datetime.now(UTC), 4, 1.0, 1.0)]
    return ticker


@given(st.lists(quote_message(), min_size=1, max_size=8))
def test_quotes(messages: list[tuple[str, dict[str, Any], Any]]) -> None:
    connector, listener, state = _connector()
    sub = _sub("AAPL", FeedKind.PRICE)
    batch: list[Any] = []
    expected_good: list[dict[str, Any]] = []
    bad = 0
    for kind, fields, rt_time in messages:
        if kind == "junk":
            batch.append(fields["bid"])
            bad += 1
            continue
        ticker = _ticker(fields, rt_time)
        if kind != "unknown":
            state.price_tickers[id(ticker)] = sub
        batch.append(ticker)
        values = list(fields.values())
        readable = all(_is_number(v) for v in values) and not any(
            v in (INF, -INF) for v in values)
        if kind == "unknown" or not readable:
            bad += 1
        else:
            expected_good.append(fields)
    assert kind != "good" or expected_good  # a good message is readable by construction
    out = normalize(connector, batch)
    assert len(out) == len(expected_good)
    assert len(listener.errors) == bad
    assert all(e.data and e.message for e in listener.errors)
    for update, fields in zip(out, expected_good, strict=True):
        tick = update.payload
        assert update.data_type is DataType.PRICE_TICK and tick.symbol == "AAPL"
        for attr, field in (("bid", "bid"), ("ask", "ask"), ("last", "last")):
            value = fields[field]
            assert getattr(tick, attr) == (value if value == value and value > 0 else None)
        for attr, field in (("bid_size", "bidSize"), ("ask_size", "askSize"),
                            ("last_size", "lastSize"), ("volume", "volume")):
            value = fields[field]
            assert getattr(tick, attr) == (value if value == value and value >= 0 else None)
        assert update.venue_ts_ns >= 0 and update.recv_ts_ns > 0


# -- depth -------------------------------------------------------------------------------
level = st.tuples(st.one_of(good_price, anything), st.one_of(good_size, anything))


@given(st.lists(st.tuples(st.booleans(), st.lists(level, max_size=4),
                          st.lists(level, max_size=4)), min_size=1, max_size=6))
def test_depth(messages: list[tuple[bool, list[tuple[Any, Any]], list[tuple[Any, Any]]]]
               ) -> None:
    connector, listener, state = _connector()
    sub = _sub("MSFT", FeedKind.DEPTH)
    batch = []
    good: list[tuple[list[tuple[Any, Any]], list[tuple[Any, Any]]]] = []
    bad = 0
    for subscribed, bids, asks in messages:
        ticker = LIB.Ticker(contract=LIB.Contract(symbol="MSFT"))
        ticker.domBids = [LIB.DOMLevel(p, s, "") for p, s in bids]
        ticker.domAsks = [LIB.DOMLevel(p, s, "") for p, s in asks]
        ticker.domTicks = [object()]
        if subscribed:
            state.depth_tickers[id(ticker)] = sub
        batch.append(ticker)
        readable = all(type(p) in (float, int) and type(s) in (float, int)
                       and 0 < p < INF and 0 <= s < INF for p, s in bids + asks)
        if subscribed and readable:
            good.append((bids, asks))
        else:
            bad += 1
    out = normalize(connector, batch)
    assert len(out) == len(good) and len(listener.errors) == bad
    assert all(e.data and e.message for e in listener.errors)
    for n, (update, (bids, asks)) in enumerate(zip(out, good, strict=True), 1):
        book = update.payload
        assert book.sequence == n  # only delivered books are numbered
        assert [(lv.price, lv.size) for lv in book.bids] == bids
        assert [(lv.price, lv.size) for lv in book.asks] == asks


# -- bars --------------------------------------------------------------------------------
@st.composite
def bar_message(draw: st.DrawFn) -> tuple[str, bool, dict[str, Any]]:
    kind = draw(st.sampled_from(["good", "fuzzed", "fuzzed", "junk", "not-a-bar-sub"]))
    realtime = draw(st.booleans())
    if kind == "good":
        values = {f: draw(good_price) for f in ("open", "high", "low", "close")}
        values["volume"] = draw(st.one_of(good_size, st.just(-1.0), st.just(math.nan)))
        values["when"] = draw(moments.filter(lambda m: isinstance(m, dt.datetime)
                                             and m.tzinfo is not None))
    else:
        values = {f: draw(anything) for f in ("open", "high", "low", "close", "volume")}
        values["when"] = draw(moments)
    return kind, realtime, values


def _bar(realtime: bool, v: dict[str, Any]) -> Any:
    if realtime:
        return LIB.RealTimeBar(time=v["when"], open_=v["open"], high=v["high"], low=v["low"],
                               close=v["close"], volume=v["volume"])
    return LIB.BarData(date=v["when"], open=v["open"], high=v["high"], low=v["low"],
                       close=v["close"], volume=v["volume"])


def _bar_readable(v: dict[str, Any]) -> bool:
    prices = [v[f] for f in ("open", "high", "low", "close")]
    if not all(type(p) in (float, int) and 0 < p < INF for p in prices):
        return False
    if type(v["volume"]) not in (float, int) or v["volume"] in (INF, -INF):
        return False
    when = v["when"]
    if isinstance(when, dt.datetime):
        aware = when if when.tzinfo else when.replace(tzinfo=UTC)
        return aware.timestamp() > 0
    if isinstance(when, dt.date):
        return dt.datetime(when.year, when.month, when.day, tzinfo=UTC).timestamp() > 0
    return False


@given(st.lists(bar_message(), min_size=1, max_size=8))
def test_bars(messages: list[tuple[str, bool, dict[str, Any]]]) -> None:
    connector, listener, _state = _connector()
    bars_sub = _sub("SPY", FeedKind.BARS)
    live_sub = _sub("SPY", FeedKind.REALTIME_BARS)
    quote_sub = _sub("SPY", FeedKind.PRICE)
    batch: list[Any] = []
    good = []
    bad = 0
    for kind, realtime, values in messages:
        if kind == "junk":
            batch.append((values["open"], values["close"], values["volume"]))
            bad += 1
            continue
        sub = quote_sub if kind == "not-a-bar-sub" else (live_sub if realtime else bars_sub)
        batch.append((sub, _bar(realtime, values)))
        if kind != "not-a-bar-sub" and _bar_readable(values):
            good.append(values)
        else:
            bad += 1
    out = normalize(connector, batch)
    assert len(out) == len(good) and len(listener.errors) == bad
    assert all(e.data and e.message for e in listener.errors)
    for update, values in zip(out, good, strict=True):
        bar = update.payload
        assert update.data_type is DataType.OHLCV_BAR
        assert (bar.open, bar.high, bar.low, bar.close) == tuple(
            float(values[f]) for f in ("open", "high", "low", "close"))
        volume = values["volume"]
        assert bar.volume == (float(volume) if volume == volume and volume > 0 else 0.0)
        assert bar.timestamp_ns > 0


# -- executions and commission reports -> OrderUpdate ----------------------------------------
@st.composite
def execution(draw: st.DrawFn) -> dict[str, Any]:
    fuzzed = draw(st.booleans())
    if fuzzed:
        return {"execId": draw(st.one_of(st.text(max_size=6), st.none(), st.integers())),
                "shares": draw(anything), "price": draw(anything), "cumQty": draw(anything),
                "side": draw(st.one_of(st.sampled_from(["BOT", "SLD", "BUY", ""]), junk)),
                "time": draw(moments), "commission": draw(anything)}
    return {"execId": draw(st.from_regex(r"\A0000[a-f0-9]{4}\.[0-9]{2}\.01\Z")),
            "shares": draw(st.integers(1, 1000)), "price": draw(good_price),
            "cumQty": draw(st.one_of(st.integers(1, 1000), st.just(0.0))),
            "side": draw(st.sampled_from(["BOT", "SLD"])),
            "time": dt.datetime.now(UTC),
            "commission": draw(st.floats(-5, 5, allow_nan=False))}


def _readable_fill(e: dict[str, Any]) -> bool:
    return (type(e["execId"]) is str and bool(e["execId"])
            and all(type(e[f]) in (float, int) and 0 < e[f] < 1e300
                    for f in ("shares", "price"))
            and e["side"] in ("BOT", "SLD"))


@given(st.lists(execution(), min_size=1, max_size=8))
def test_executions(executions: list[dict[str, Any]]) -> None:
    _, listener, state = _connector()
    orders = state.orders
    order = Order("IBM", "BUY", 10**9, OrderType.LIMIT, price=100, client_order_id="SFfuzz-1")
    order.status = OrderStatus.SUBMITTED
    tracked = orders.by_coid[order.client_order_id or ""] = Tracked(order, ib_order_id=7,
                                                                     acked=True)
    ib_order = LIB.Order(orderId=7, clientId=1, permId=99, orderRef=order.client_order_id,
                         action="BUY", totalQuantity=10**9, orderType="LMT", lmtPrice=100)
    trade = LIB.Trade(contract=LIB.Contract(symbol="IBM"), order=ib_order,
                      orderStatus=LIB.OrderStatus(orderId=7, status="Submitted"))

    async def feed() -> None:
        for e in executions:
            ex = LIB.Execution(execId=e["execId"], time=e["time"], side=e["side"],
                               shares=e["shares"], price=e["price"], permId=99, clientId=1,
                               orderId=7, cumQty=e["cumQty"], orderRef=order.client_order_id)
            report = LIB.CommissionReport(execId=e["execId"] or "x", commission=e["commission"])
            fill = LIB.Fill(trade.contract, ex, report, e["time"])
            orders.on_exec(trade, fill)
        await asyncio.sleep(0)  # the flush runs after the packet, as with the library
        orders.flush()

    asyncio.run(feed())
    good = [e for e in executions if _readable_fill(e)]
    updates = listener.order_updates
    assert len(updates) == len(good)
    errors = [x for x in listener.errors if x.code == "bad-report"]
    assert len(errors) == len(executions) - len(good)
    assert all(x.message and not x.data for x in errors)
    bad_commissions = [e for e in good
                       if not (type(e["commission"]) in (float, int)
                               and abs(e["commission"]) < 1e300)]
    assert len([x for x in listener.errors if x.code == "bad-commission"]) == len(
        bad_commissions)
    for update, e in zip(updates, good, strict=True):
        fill = update.fill
        assert fill is not None and update.client_order_id == order.client_order_id
        assert fill.execution_id == e["execId"]
        assert fill.quantity == Decimal(repr(float(e["shares"]))).normalize() or \
            fill.quantity == Decimal(int(e["shares"]))
        assert fill.side.value == ("BUY" if e["side"] == "BOT" else "SELL")
        assert update.status in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)
    assert tracked.queue == type(tracked.queue)()  # nothing left behind
