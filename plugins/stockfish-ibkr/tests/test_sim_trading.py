"""The gateway simulator speaks the TWS protocol: market data and orders through
ib_insync / ib_async alone (no connector)."""

from __future__ import annotations

import datetime as dt
import math
from types import ModuleType
from typing import Any

import pytest

from stockfish_ibkr.testing import BURST_END_SIZE, GatewaySimulator, stream_request


def _errors(ib: Any) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    ib.errorEvent += lambda req_id, code, *rest: seen.append((req_id, code))
    return seen


def _stock(lib: ModuleType, symbol: str, con_id: int) -> Any:
    return lib.Stock(symbol, "SMART", "USD", conId=con_id)


# -- market data -------------------------------------------------------------------------
async def test_ticks_fill_the_ticker(gateway: GatewaySimulator, connect: Any,
                                     library: ModuleType, until: Any) -> None:
    ib = await connect(gateway)
    batches: list[int] = []
    ib.pendingTickersEvent += lambda tickers: batches.append(len(tickers))
    ticker = ib.reqMktData(_stock(library, "AAPL", 265598), "233")
    await until(ib, lambda: not math.isnan(ticker.last) and ticker.rtTime is not None, 10,
                "a trade")
    assert 0 < ticker.bid < ticker.ask
    assert ticker.bidSize > 0 and ticker.askSize > 0 and ticker.volume > 0
    assert ticker.marketDataType == 1
    assert abs(ticker.rtTime - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(seconds=30)
    assert batches


async def test_live_data_without_subscription_is_354(gateway: GatewaySimulator,
                                                     connect: Any, library: ModuleType,
                                                     until: Any) -> None:
    ib = await connect(gateway)
    seen = _errors(ib)
    nvda = ib.reqMktData(_stock(library, "NVDA", 4815747))
    aapl = ib.reqMktData(_stock(library, "AAPL", 265598))
    await until(ib, lambda: (354 in {c for _, c in seen}) and not math.isnan(aapl.bid), 5,
                "354 and AAPL data")
    assert math.isnan(nvda.bid)


async def test_delayed_data_is_10167_then_delayed_ticks(gateway: GatewaySimulator,
                                                        connect: Any, library: ModuleType,
                                                        until: Any) -> None:
    ib = await connect(gateway)
    seen = _errors(ib)
    ib.reqMarketDataType(3)
    nvda = ib.reqMktData(_stock(library, "NVDA", 4815747))
    await until(ib, lambda: not math.isnan(nvda.bid), 5, "delayed NVDA bid")
    assert 10167 in {c for _, c in seen}
    assert nvda.marketDataType == 3
    assert {t.tickType for t in nvda.ticks} <= {66, 67, 68, 69, 70, 71, 74}


async def test_depth_book_is_built_and_updated(gateway: GatewaySimulator, connect: Any,
                                               library: ModuleType, until: Any) -> None:
    ib = await connect(gateway)
    ticker = ib.reqMktDepth(_stock(library, "MSFT", 272093), numRows=5)
    await until(ib, lambda: len(ticker.domBids) == 5 and len(ticker.domAsks) == 5, 5, "book")
    first = [(lv.price, lv.size) for lv in ticker.domBids]
    await until(ib, lambda: [(lv.price, lv.size) for lv in ticker.domBids] != first, 5,
                "a book update")
    bids = [lv.price for lv in ticker.domBids]
    asks = [lv.price for lv in ticker.domAsks]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]
    smart = ib.reqMktDepth(_stock(library, "IBM", 8314), numRows=3, isSmartDepth=True)
    await until(ib, lambda: len(smart.domBids) == 3, 5, "smart book")
    assert smart.domBids[0].marketMaker == "NYSE"


async def test_historical_bars(gateway: GatewaySimulator, connect: Any,
                               library: ModuleType) -> None:
    ib = await connect(gateway)
    aapl = _stock(library, "AAPL", 265598)
    bars = await ib.reqHistoricalDataAsync(aapl, "", "3600 S", "1 min", "TRADES", False,
                                           formatDate=2)
    assert len(bars) == 60
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)
    times = [b.date for b in bars]
    assert times == sorted(times) and times[1] - times[0] == dt.timedelta(minutes=1)
    assert times[0].tzinfo is not None
    daily = await ib.reqHistoricalDataAsync(aapl, "", "10 D", "1 day", "MIDPOINT", False)
    assert len(daily) == 10 and isinstance(daily[0].date, dt.date)
    again = await ib.reqHistoricalDataAsync(aapl, "", "10 D", "1 day", "MIDPOINT", False)
    assert len(again) == 0  # identical request within 15 s: pacing violation (162)
    assert gateway.historical_pacing_violations == 1


async def test_historical_keep_up_to_date(gateway: GatewaySimulator, connect: Any,
                                          library: ModuleType, until: Any) -> None:
    ib = await connect(gateway)
    updates: list[bool] = []
    bars = await ib.reqHistoricalDataAsync(_stock(library, "SPY", 756733), "", "300 S",
                                           "5 secs", "TRADES", False, formatDate=2,
                                           keepUpToDate=True)
    bars.updateEvent += lambda b, new: updates.append(new)
    assert len(bars) == 60
    await until(ib, lambda: len(updates) >= 3, 5, "bar updates")


async def test_realtime_bars(gateway: GatewaySimulator, connect: Any, library: ModuleType,
                             until: Any) -> None:
    ib = await connect(gateway)
    bars = ib.reqRealTimeBars(_stock(library, "QQQ", 320227571), 5, "TRADES", False)
    await until(ib, lambda: len(bars) >= 2, 5, "two real-time bars")
    assert (bars[1].time - bars[0].time) == dt.timedelta(seconds=5)
    assert bars[0].low <= bars[0].close <= bars[0].high


# -- orders --------------------------------------------------------------------------------
async def test_market_order_partial_fills_with_commissions(library: ModuleType, connect: Any,
                                                           until: Any) -> None:
    async with GatewaySimulator(tick_interval=None, max_fill_qty=100) as gw:
        ib = await connect(gw)
        reports: list[Any] = []
        ib.commissionReportEvent += lambda trade, fill, report: reports.append(report)
        trade = ib.placeOrder(_stock(library, "AAPL", 265598),
                              library.MarketOrder("BUY", 250, orderRef="c-1"))
        await until(ib, lambda: trade.fills, 5, "first fill")
        assert trade.orderStatus.status == "Submitted" and trade.orderStatus.filled == 100
        for _ in range(2):
            gw.broker.step()
        await until(ib, lambda: trade.orderStatus.status == "Filled" and len(reports) == 3, 5,
                    "filled")
        assert [f.execution.shares for f in trade.fills] == [100, 100, 50]
        assert len({f.execution.execId for f in trade.fills}) == 3
        assert all(f.execution.orderRef == "c-1" for f in trade.fills)
        assert all(r.commission > 0 for r in reports)
        positions = await ib.reqPositionsAsync()
        assert [(p.contract.conId, p.position) for p in positions] == [(265598, 250)]


@pytest.mark.parametrize("tif", ["DAY", "GTC"])
async def test_limit_order_rests_then_cancel(quiet_gateway: GatewaySimulator, connect: Any,
                                             library: ModuleType, until: Any, tif: str) -> None:
    ib = await connect(quiet_gateway)
    order = library.LimitOrder("SELL", 10, 999.0, tif=tif)
    trade = ib.placeOrder(_stock(library, "IBM", 8314), order)
    await until(ib, lambda: trade.orderStatus.status == "Submitted", 5, "Submitted")
    assert trade.order.permId > 0 and trade.orderStatus.remaining == 10
    ib.cancelOrder(trade.order)
    await until(ib, lambda: trade.orderStatus.status == "Cancelled", 5, "Cancelled")
    assert not trade.fills


async def test_stop_order_is_presubmitted_until_triggered(quiet_gateway: GatewaySimulator,
                                                          connect: Any, library: ModuleType,
                                                          until: Any) -> None:
    gw = quiet_gateway
    ib = await connect(gw)
    inst = gw.instrument("TSLA")
    ask = gw.broker.market(inst).quote("TSLA").ask
    trade = ib.placeOrder(_stock(library, "TSLA", inst.con_id),
                          library.StopOrder("BUY", 5, round(ask + 1, 2)))
    await until(ib, lambda: trade.orderStatus.status == "PreSubmitted", 5, "PreSubmitted")
    gw.broker.set_quote(inst, ask + 1, ask + 1.01, 100, 100)
    await until(ib, lambda: trade.orderStatus.status == "Filled", 5, "Filled")
    assert trade.fills[0].execution.price == pytest.approx(ask + 1.01)


async def test_ioc_remainder_is_cancelled(library: ModuleType, connect: Any,
                                          until: Any) -> None:
    async with GatewaySimulator(tick_interval=None, max_fill_qty=10) as gw:
        ib = await connect(gw)
        inst = gw.instrument("SPY")
        ask = gw.broker.market(inst).quote("SPY").ask
        trade = ib.placeOrder(_stock(library, "SPY", inst.con_id),
                              library.LimitOrder("BUY", 30, round(ask + 1, 2), tif="IOC"))
        await until(ib, lambda: trade.orderStatus.status == "Cancelled", 5, "Cancelled")
        assert trade.orderStatus.filled == 10


async def test_rejected_order_is_inactive_with_201(quiet_gateway: GatewaySimulator,
                                                   connect: Any, library: ModuleType,
                                                   until: Any) -> None:
    ib = await connect(quiet_gateway)
    seen = _errors(ib)
    trade = ib.placeOrder(library.Index("SPX", "CBOE", "USD", conId=416904),
                          library.MarketOrder("BUY", 1))
    await until(ib, lambda: (trade.order.orderId, 201) in seen, 5, "error 201")
    assert trade.orderStatus.status in ("Inactive", "Cancelled")
    assert not trade.fills


async def test_duplicate_and_unknown_orders(quiet_gateway: GatewaySimulator, connect: Any,
                                            library: ModuleType, until: Any) -> None:
    ib = await connect(quiet_gateway)
    seen = _errors(ib)
    unknown = ib.placeOrder(library.Stock("NOPE", "SMART", "USD"), library.MarketOrder("BUY", 1))
    await until(ib, lambda: (unknown.order.orderId, 200) in seen, 5, "error 200")
    # The refused order still used its id: a lower id is a duplicate.
    lower = unknown.order.orderId - 1
    ib.client.placeOrder(lower, _stock(library, "AAPL", 265598), library.MarketOrder("BUY", 1))
    await until(ib, lambda: (lower, 103) in seen, 5, "error 103")
    assert quiet_gateway.broker.order(1, lower) is None
    ib.client.cancelOrder(999_999)
    await until(ib, lambda: (999_999, 10147) in seen, 5, "error 10147")


async def test_completed_orders_and_executions_after_reconnect(
        quiet_gateway: GatewaySimulator, connect: Any, library: ModuleType,
        until: Any) -> None:
    gw = quiet_gateway
    ib = await connect(gw, client_id=4)
    trade = ib.placeOrder(_stock(library, "MSFT", 272093),
                          library.MarketOrder("SELL", 20, orderRef="r-9"))
    await until(ib, lambda: trade.orderStatus.status == "Filled", 5, "Filled")
    ib.disconnect()
    ib2 = await connect(gw, client_id=4)
    done = [t for t in ib2.trades() if t.order.orderRef == "r-9"]
    assert [t.orderStatus.status for t in done] == ["Filled"]
    assert [f.execution.side for f in ib2.fills()] == ["SLD"]
    other = await connect(gw, client_id=9)
    assert other.fills() == []  # executions go to the client that placed the order


async def test_burst_mode_streams_then_marks_the_end(library: ModuleType, connect: Any,
                                                     until: Any) -> None:
    async with GatewaySimulator(tick_interval=None) as gw:
        gw.burst, gw.burst_delay = 300, 0.05
        ib = await connect(gw)
        updates: list[int] = []
        ib.pendingTickersEvent += lambda tickers: updates.append(len(tickers))
        tickers = [ib.reqMktData(_stock(library, "AAPL", 265598)),
                   ib.reqMktData(_stock(library, "IBM", 8314))]
        await until(ib, lambda: all(t.lastSize == BURST_END_SIZE for t in tickers), 10,
                    "the end of both bursts")
        assert all(t.volume > 0 for t in tickers)
        assert sum(updates) >= 2


async def test_stream_mode_writes_one_tick_per_credit(library: ModuleType, connect: Any,
                                                       until: Any) -> None:
    """The benchmarks' stream: every tick is written on its own once the client has
    handled the one before, so each pendingTickers event carries one ticker with one
    tick, round robin over the subscriptions, and the last one marks the end."""
    async with GatewaySimulator(tick_interval=None) as gw:
        gw.stream = True
        ib = await connect(gw)
        tickers = [ib.reqMktData(_stock(library, "AAPL", 265598)),
                   ib.reqMktData(_stock(library, "IBM", 8314))]
        await until(ib, lambda: all(t.bid > 0 for t in tickers), 5, "both snapshots")
        events: list[list[tuple[int, int]]] = []
        conn = ib.client.conn
        ack = stream_request(1)

        def on_tickers(pending: Any) -> None:
            events.append([(t.contract.conId, len(t.ticks)) for t in pending])
            for _ in pending:
                conn.sendMsg(ack)

        ib.pendingTickersEvent += on_tickers
        conn.sendMsg(stream_request(1, 301))
        await until(ib, lambda: tickers[0].lastSize == BURST_END_SIZE, 10, "the stream's end")
        assert len(events) == 301
        assert all(len(e) == 1 and e[0][1] == 1 for e in events)
        assert [e[0][0] for e in events[:4]] == [265598, 8314, 265598, 8314]
        assert gw.pacing_violations == 0
        assert tickers[1].lastSize != BURST_END_SIZE


async def test_stream_request_is_unknown_unless_stream_mode(
        quiet_gateway: GatewaySimulator, connect: Any, library: ModuleType,
        until: Any) -> None:
    ib = await connect(quiet_gateway)
    seen = _errors(ib)
    ticker = ib.reqMktData(_stock(library, "AAPL", 265598))
    await until(ib, lambda: ticker.bid > 0, 5, "the snapshot")
    ib.client.conn.sendMsg(stream_request(1, 10))
    await until(ib, lambda: any(code == 321 for _r, code in seen), 5, "error 321")
    assert ticker.lastSize != BURST_END_SIZE


async def test_snapshots_account_and_global_cancel(quiet_gateway: GatewaySimulator,
                                                   connect: Any, library: ModuleType,
                                                   until: Any) -> None:
    gw = quiet_gateway
    ib = await connect(gw, client_id=0)
    aapl = _stock(library, "AAPL", 265598)
    (ticker,) = await ib.reqTickersAsync(aapl)  # snapshot: ends with tickSnapshotEnd
    assert ticker.bid > 0 and ticker.ask > ticker.bid
    bought = ib.placeOrder(aapl, library.MarketOrder("BUY", 30))
    await until(ib, lambda: bought.orderStatus.status == "Filled", 5, "Filled")
    other = await connect(gw, client_id=12)
    resting = other.placeOrder(aapl, library.LimitOrder("BUY", 1, 1.0))
    await until(other, lambda: resting.orderStatus.status == "Submitted", 5, "Submitted")
    everyone = await ib.reqAllOpenOrdersAsync()
    assert [t.order.orderId for t in everyone] == [resting.order.orderId]
    ib.reqGlobalCancel()
    await until(other, lambda: resting.orderStatus.status == "Cancelled", 5, "Cancelled")
    await ib.reqAccountUpdatesAsync("DU1234567")
    values = {v.tag: v.value for v in ib.accountValues()}
    assert values["NetLiquidation"] == "1000000.00"
    assert [(p.contract.conId, p.position) for p in ib.portfolio()] == [(265598, 30.0)]
