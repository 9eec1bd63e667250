"""IB history: the simulator enforces IB's historical pacing rules (error 162), the
connector's ``stockfish_history`` keeps within them, cuts long ranges into the chunks IB
serves per bar size, fetches ticks 1000 at a time; the manager caches what it got."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import stockfish_ibkr.plugin as plugin
from stockfish_core import ExchangeManager, OHLCVBar, PluginRegistry, PriceTick, Trade
from stockfish_core.config import ManagerConfig
from stockfish_core.data import HistoryRequest
from stockfish_ibkr.history import bar_chunks, max_duration
from stockfish_ibkr.pacing import HistoricalPacer
from stockfish_ibkr.testing import GatewaySimulator

NS = 1_000_000_000
JAN6 = 1_736_121_600  # 2025-01-06 00:00 UTC


def _stock(library: ModuleType, symbol: str, con_id: int) -> Any:
    return library.Stock(symbol, "SMART", "USD", conId=con_id)


class Errors:
    """The errors an IB client received, by code."""

    def __init__(self, ib: Any) -> None:
        self.codes: list[int] = []
        self.messages: list[str] = []
        ib.errorEvent += self.on_error

    def on_error(self, req_id: int, code: int, message: str, *_: Any) -> None:
        self.codes.append(code)
        self.messages.append(message)


async def test_a_bare_client_that_breaks_the_rules_gets_162(gateway: GatewaySimulator,
                                                            connect: Any,
                                                            library: ModuleType) -> None:
    ib = await connect(gateway)
    errors = Errors(ib)
    aapl = _stock(library, "AAPL", 265598)
    end = "20250106-16:00:00"
    # Six different requests for one contract at once: the sixth breaks the 2 s rule.
    answers = await asyncio.gather(*(
        ib.reqHistoricalDataAsync(aapl, end, f"{60 * (i + 1)} S", "1 min", "TRADES", False,
                                  formatDate=2, timeout=5) for i in range(6)))
    assert sorted(len(a) for a in answers) == [0, 1, 2, 3, 4, 5]
    assert errors.codes == [162]
    assert "6 or more requests for the same contract" in errors.messages[0]
    assert gateway.historical_pacing_violations == 1
    # Another tick type of the same contract is counted apart.
    assert len(await ib.reqHistoricalDataAsync(aapl, end, "60 S", "1 min", "MIDPOINT", False,
                                               formatDate=2, timeout=5)) == 1
    # An identical request within 15 s.
    again = await ib.reqHistoricalDataAsync(aapl, end, "60 S", "1 min", "MIDPOINT", False,
                                            formatDate=2, timeout=5)
    assert len(again) == 0
    assert errors.codes == [162, 162]
    assert "identical request" in errors.messages[1]
    # Historical ticks are paced by the same rules.
    ticks = await ib.reqHistoricalTicksAsync(aapl, end, "", 10, "BID_ASK", False)
    assert len(ticks) == 10 and all(t.priceBid < t.priceAsk for t in ticks)
    assert len(await ib.reqHistoricalTicksAsync(aapl, end, "", 10, "BID_ASK", False)) == 0
    assert errors.codes == [162, 162, 162]
    # More than 60 in the window (the 2 s rule lifted to reach it quickly).
    gateway.hist_burst_max = 1000
    counted = 10  # the requests above, refused ones included (TWS counts them too)
    await asyncio.gather(*(
        ib.reqHistoricalDataAsync(aapl, end, f"{60 * (i + 1)} S", "1 min", "BID_ASK", False,
                                  formatDate=2, timeout=5) for i in range(61 - counted)))
    assert errors.codes == [162] * 4
    assert "more than 60 requests" in errors.messages[3]
    assert gateway.historical_pacing_violations == 4


async def test_the_simulator_refuses_a_duration_beyond_ibs_longest(
        gateway: GatewaySimulator, connect: Any, library: ModuleType) -> None:
    ib = await connect(gateway)
    errors = Errors(ib)
    aapl = _stock(library, "AAPL", 265598)
    assert len(await ib.reqHistoricalDataAsync(aapl, "20250106-16:00:00", "2 D", "1 min",
                                               "TRADES", False, formatDate=2, timeout=5)) == 0
    assert errors.codes == [162] and "Time length exceed max" in errors.messages[0]
    assert gateway.historical_pacing_violations == 0


def test_ranges_are_cut_into_the_chunks_ib_serves() -> None:
    assert max_duration(1) == 1800 and max_duration(60) == 86400
    assert max_duration(300) == 7 * 86400 and max_duration(86400) == 365 * 86400
    start, end = JAN6 * NS, (JAN6 + 3 * 86400) * NS
    assert bar_chunks(start, end, 60) == [("20250109-00:00:00", "86400 S"),
                                          ("20250108-00:00:00", "86400 S"),
                                          ("20250107-00:00:00", "86400 S")]
    # An unaligned range asks for whole bars around it, and nothing longer than allowed.
    chunks = bar_chunks(start + 30 * NS, start + 3601 * NS, 1)
    assert chunks == [("20250106-01:00:01", "1800 S"), ("20250106-00:30:01", "1771 S")]
    assert bar_chunks(start, start + 400 * 86400 * NS, 86400) == [
        ("20260210-00:00:00", "365 D"), ("20250210-00:00:00", "35 D")]


async def test_history_bars_over_a_long_range(gateway: GatewaySimulator,
                                              make_harness: Any) -> None:
    start, end = (JAN6 + 1800) * NS, (JAN6 + 2 * 86400 + 600) * NS
    async with make_harness(gateway) as h:
        await h.connect()
        request = HistoryRequest("AAPL", start, end, "1m")
        bars = await plugin.stockfish_history(h.connector, request)
        assert all(isinstance(b, OHLCVBar) and b.interval == "1m" for b in bars)
        starts = [b.timestamp_ns for b in bars]
        assert starts == list(range(start, end, 60 * NS))  # every minute once, in order
        assert gateway.historical_requests == 2  # 1 D of 1 min bars a request at most
        assert gateway.historical_pacing_violations == 0
        # The simulator's bars depend on their time, not on the request: a range cut
        # differently gives the same bars.
        part = await plugin.stockfish_history(
            h.connector, HistoryRequest("AAPL", start + 86400 * NS, start + 86700 * NS, "1m"))
        assert part == bars[1440:1445]
        with pytest.raises(ValueError, match="bar interval '7m' is not offered"):
            await plugin.stockfish_history(h.connector, HistoryRequest("AAPL", start, end, "7m"))


async def test_history_ticks_1000_a_request(gateway: GatewaySimulator,
                                            make_harness: Any) -> None:
    start = (JAN6 + 3600) * NS
    async with make_harness(gateway) as h:
        await h.connect()
        trades = await plugin.stockfish_history(
            h.connector, HistoryRequest("MSFT", start, start + 2500 * NS, what="ticks"))
        assert all(isinstance(t, Trade) and t.price > 0 and t.size > 0 for t in trades)
        assert [t.timestamp_ns for t in trades] == list(range(start, start + 2500 * NS, NS))
        assert gateway.historical_requests == 3
        quotes = await plugin.stockfish_history(
            h.connector, HistoryRequest("EUR.USD", start, start + 30 * NS, what="ticks"))
        assert len(quotes) == 30
        assert all(isinstance(q, PriceTick) and q.bid is not None and q.ask is not None
                   and q.bid < q.ask for q in quotes)
        assert gateway.historical_pacing_violations == 0


SYMBOLS = ["AAPL", "MSFT", "SPY", "QQQ", "IBM", "TSLA", "NVDA", "EUR.USD", "GBP.USD",
           "USD.JPY"]


async def test_a_burst_of_100_requests_through_the_manager(
        tmp_path: Path, library_name: str, caplog: pytest.LogCaptureFixture) -> None:
    # manager.history caches in Parquet (the test extra installs pyarrow; an environment
    # made before it was added has none).
    pytest.importorskip("pyarrow")
    pytest.importorskip("pandas")
    caplog.set_level(logging.INFO, "stockfish.ibkr")
    # IB's 10 minutes shortened to 3 s at both ends, so that 100 requests (two windows
    # of the connector's 50) take seconds; the other rules are IB's.
    window = 3.0
    async with GatewaySimulator(tick_interval=None) as gw:
        gw.hist_window = window
        registry = PluginRegistry(entry_points=())
        registry.register(plugin, "ibkr")
        manager = ExchangeManager(
            config=ManagerConfig(history_cache=str(tmp_path / "cache")), registry=registry,
            journal=":memory:")
        manager.add_connector("ibkr", "ibkr", primary=True, host="127.0.0.1", port=gw.port,
                              client_id=1, library=library_name, connect_timeout=5.0)
        assert await manager.start()
        try:
            state = manager.get_connector("ibkr").state
            pacer = state.historical = HistoricalPacer(50, 5, 15.0, window_seconds=window,
                                                       messages=state.pacer)
            day = dt.timedelta(days=1)
            first = dt.datetime(2025, 1, 6, tzinfo=dt.timezone.utc)
            asks = [(symbol, first + i * day, first + (i + 1) * day)
                    for i in range(10) for symbol in SYMBOLS]
            began = time.monotonic()
            frames = await asyncio.wait_for(asyncio.gather(*(
                manager.history_async(symbol, a, b, "1h") for symbol, a, b in asks)), 60)
            took = time.monotonic() - began
            assert [len(f) for f in frames] == [24] * 100
            assert gw.historical_requests == 100
            assert gw.historical_pacing_violations == 0
            assert pacer.delayed >= 50  # the burst did wait for the window
            waits = [r for r in caplog.records if "wait for IB's pacing" in r.getMessage()]
            # Said once per 10 s at most, not once per request.
            assert 1 <= len(waits) <= 1 + took // 10
            # A repeated range, and a part of one, come from the cache alone.
            symbol, a, b = asks[37]
            again = await manager.history_async(symbol, a, b, "1h")
            part = await manager.history_async(symbol, a + dt.timedelta(hours=3),
                                               a + dt.timedelta(hours=9), "1h")
            assert again.equals(frames[37]) and part.equals(frames[37].iloc[3:9])
            assert gw.historical_requests == 100
        finally:
            await manager.stop()
            manager.journal.close()
