"""Market data from the exchange simulator: MarketDataRequest, W snapshot, X updates, Y."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stockfish_core import (
    DataType,
    MarketUpdate,
    Order,
    OrderAction,
    OrderBookSnapshot,
    OrderRequest,
    PriceTick,
    Subscription,
    Trade,
)
from stockfish_core.testing import ConnectorHarness
from stockfish_fix.testing import FixExchange

SOH = "\x01"


def of(symbol: str, data_type: DataType):  # type: ignore[no-untyped-def]
    return lambda u: u.symbol == symbol and u.data_type is data_type


def levels(update: MarketUpdate) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    book = update.payload
    assert isinstance(book, OrderBookSnapshot)
    return ([(lv.price, lv.size) for lv in book.bids], [(lv.price, lv.size) for lv in book.asks])


async def test_book_snapshot_then_incremental_updates_with_depth(
    connected: ConnectorHarness, exchange: FixExchange, version: str
) -> None:
    exchange.set_book("SPY", [("99.99", 100), ("99.98", 200), ("99.97", 300)],
                      [("100.01", 400), ("100.02", 500), ("100.03", 600)])
    await connected.subscribe(Subscription("SPY", DataType.ORDERBOOK_SNAPSHOT, depth=2))
    snapshot = await connected.next_update(5, of("SPY", DataType.ORDERBOOK_SNAPSHOT))
    assert levels(snapshot) == ([(99.99, 100.0), (99.98, 200.0)],
                                [(100.01, 400.0), (100.02, 500.0)])
    assert snapshot.source == "fix" and snapshot.stream == "fix-md1"
    assert snapshot.venue_ts_ns > 0 and snapshot.recv_ts_ns >= snapshot.venue_ts_ns - 10**9
    request = next(text for _, text in exchange.messages if f"{SOH}35=V{SOH}" in text)
    assert f"{SOH}264=2{SOH}" in request and f"{SOH}263=1{SOH}" in request
    # A level leaves the top two, one changes size, a better one arrives.
    exchange.set_book("SPY", [("99.995", 50), ("99.99", 150), ("99.97", 300)],
                      [("100.01", 400), ("100.03", 600)])
    update = await connected.next_update(5, of("SPY", DataType.ORDERBOOK_SNAPSHOT))
    assert levels(update) == ([(99.995, 50.0), (99.99, 150.0)], [(100.01, 400.0), (100.03, 600.0)])
    if version == "FIXT.1.1":  # RptSeq is in FIX 5.0's MDEntries only
        assert update.sequence_number is not None and update.sequence_number > 0


async def test_price_ticks_and_trades(connected: ConnectorHarness, exchange: FixExchange) -> None:
    exchange.set_quote("QQQ", "400.10", "400.20", 300, 300)
    await connected.subscribe(Subscription("QQQ", DataType.PRICE_TICK))
    await connected.subscribe(Subscription("QQQ", DataType.TRADE))
    tick = await connected.next_update(5, of("QQQ", DataType.PRICE_TICK))
    assert isinstance(tick.payload, PriceTick)
    assert (tick.payload.bid, tick.payload.ask, tick.payload.bid_size) == (400.1, 400.2, 300.0)
    await connected.execute(OrderRequest(OrderAction.SUBMIT, Order(
        "QQQ", "BUY", 7, "LIMIT", price=Decimal("400.25"), client_order_id="T1")))
    trade = await connected.next_update(5, of("QQQ", DataType.TRADE))
    assert isinstance(trade.payload, Trade)
    assert (trade.payload.price, trade.payload.size) == (400.2, 7.0)
    last = await connected.listener.wait_for(lambda: next(
        (u for u in connected.listener.updates
         if of("QQQ", DataType.PRICE_TICK)(u) and u.payload.last is not None), None),
        5, "a tick with the last trade")
    assert (last.payload.last, last.payload.last_size) == (400.2, 7.0)


async def test_the_random_walk_market_streams(connected: ConnectorHarness,
                                              exchange: FixExchange) -> None:
    await connected.subscribe(Subscription("AAPL", DataType.ORDERBOOK_SNAPSHOT, depth=5))
    first = await connected.next_update(5, of("AAPL", DataType.ORDERBOOK_SNAPSHOT))
    assert first.payload.depth == 5
    for _ in range(3):
        exchange.step("AAPL")
    moved = await connected.next_update(5, of("AAPL", DataType.ORDERBOOK_SNAPSHOT))
    book = moved.payload
    assert book.best_bid is not None and book.best_ask is not None
    assert book.best_bid.price < book.best_ask.price
    assert len(book.bids) == 5 and len(book.asks) == 5
    quote = exchange.engine.quote("AAPL")
    assert quote is not None
    # Once the three steps are through, the book's top is the engine's quote.
    await connected.listener.wait_for(
        lambda: getattr(connected.connector.state.market.by_req_id["fix-md1"].book.best_bid(),
                        "price", None) == float(quote.bid), 5, "the last step")


async def test_unknown_symbol_is_reported_with_the_symbol(connected: ConnectorHarness) -> None:
    await connected.subscribe(Subscription("NOSUCH", DataType.PRICE_TICK))
    error = await connected.listener.wait_for(
        lambda: next((e for e in connected.listener.errors if e.symbol == "NOSUCH"), None),
        5, "the market data reject")
    assert error.code == "Y:0"
    assert "NOSUCH" in error.message and "unknown symbol" in error.message
    assert not error.data
    # The subscription is gone: subscribing again asks again.
    assert not connected.connector.state.market.by_subscription


async def test_unsubscribe_stops_the_updates(connected: ConnectorHarness,
                                             exchange: FixExchange) -> None:
    spy = Subscription("SPY", DataType.PRICE_TICK)
    await connected.subscribe(spy)
    await connected.subscribe(Subscription("QQQ", DataType.PRICE_TICK))
    await connected.next_update(5, of("SPY", DataType.PRICE_TICK))
    await connected.next_update(5, of("QQQ", DataType.PRICE_TICK))
    await connected.unsubscribe(spy)
    mark = len(connected.listener.updates)
    exchange.set_quote("SPY", "1.00", "1.01")
    exchange.set_quote("QQQ", "2.00", "2.01")  # after SPY's: the marker that SPY's is not coming
    await connected.next_update(5, lambda u: u.symbol == "QQQ" and u.payload.bid == 2.0)
    assert not [u for u in connected.listener.updates[mark:] if u.symbol == "SPY"]


async def test_unsupported_data_type(connected: ConnectorHarness) -> None:
    with pytest.raises(ValueError, match="not ohlcv_bar"):
        await connected.subscribe(Subscription("SPY", DataType.OHLCV_BAR, interval="1m"))
