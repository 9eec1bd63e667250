"""The example plugin, driven through its hooks by the core's test harness."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import stockfish_csvfeed
from stockfish_core import (
    ConnectorStatus,
    DataType,
    Order,
    OrderAction,
    OrderRejected,
    OrderRequest,
    PluginRegistry,
    Subscription,
)
from stockfish_core.testing import ConnectorHarness, wait_until

ROWS = """timestamp_ns,symbol,bid,ask,last,bid_size,ask_size,volume
1000,SPY,449.5,450.5,450.0,10,12,100
1001,QQQ,380.0,380.2,,5,5,
1002,SPY,not-a-price,450.5,,,,
1003,SPY,449.6,450.4,450.1,11,12,110
"""


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "quotes.csv"
    path.write_text(ROWS)
    return path


def harness(settings: dict) -> ConnectorHarness:
    return ConnectorHarness(stockfish_csvfeed, "csvfeed", settings,
                            registry=PluginRegistry(entry_points=()), connector_name="replay")


async def test_replays_subscribed_symbols_and_counts_bad_rows(csv_file: Path) -> None:
    async with harness({"path": str(csv_file), "batch_size": 2}) as h:
        await h.connect()
        await h.subscribe(Subscription("SPY"))
        first = await h.next_update(timeout=5)
        second = await h.next_update(timeout=5)
        assert first.data_type is DataType.PRICE_TICK
        assert first.source == "replay"
        assert first.payload.symbol == "SPY"
        assert first.payload.bid == 449.5
        assert first.payload.mid_price == 450.0
        assert first.venue_ts_ns == 1000
        assert second.payload.bid == 449.6
        assert second.sequence_number == first.sequence_number + 1
        await h.listener.wait_for(lambda: h.listener.errors, 5, "the bad row")
        assert h.listener.errors[0].data
        assert "not-a-price" in h.listener.errors[0].message
        assert all(u.payload.symbol == "SPY" for u in h.listener.updates)


async def test_subscribe_and_unsubscribe(csv_file: Path) -> None:
    async with harness({"path": str(csv_file), "loop": True}) as h:
        await h.connect()
        await h.subscribe(Subscription("QQQ"))
        update = await h.next_update(timeout=5)
        assert update.payload.symbol == "QQQ"
        assert update.payload.last is None
        await h.unsubscribe(Subscription("QQQ"))
        assert "QQQ" not in h.connector.state.symbols
        with pytest.raises(ValueError, match="price ticks only"):
            await h.subscribe(Subscription("SPY", DataType.ORDERBOOK_SNAPSHOT, depth=5))


async def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    async with harness({"path": str(tmp_path / "absent.csv")}) as h:
        with pytest.raises(FileNotFoundError, match="no such file"):
            await h.connect()
        assert h.connector.status is ConnectorStatus.ERROR
        assert "absent.csv" in h.connector.status_reason


async def test_takes_no_orders(csv_file: Path) -> None:
    async with harness({"path": str(csv_file)}) as h:
        assert h.connector.data_only
        order = Order("SPY", "buy", 1, client_order_id="c1")
        with pytest.raises(OrderRejected, match="takes no orders"):
            await h.execute(OrderRequest(OrderAction.SUBMIT, order))


MINUTE = 60_000_000_000
BARS = "timestamp_ns,symbol,bid,ask,last,bid_size,ask_size,volume\n" + "\n".join(
    f"{MINUTE * (i // 3) + i},SPY,{100 + i}.0,{101 + i}.0,{100.5 + i},1,1,{10 * i}"
    for i in range(9)) + "\n2,SPY,not-a-price,1,,,,\n"


async def test_history_bars_and_ticks_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text(BARS)
    from stockfish_core.data import HistoryRequest

    async with harness({"path": str(path)}) as h:
        bars = await h.call("stockfish_history",
                            request=HistoryRequest("SPY", 0, 3 * MINUTE, "1m"))
        ticks = await h.call("stockfish_history",
                             request=HistoryRequest("SPY", MINUTE, 2 * MINUTE, what="ticks"))
        later = await h.call("stockfish_history",
                             request=HistoryRequest("SPY", 1, 3 * MINUTE, "1m"))
    assert [(b.timestamp_ns, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (0, 100.5, 102.5, 100.5, 102.5, 20.0),  # the first row's volume starts the count
        (MINUTE, 103.5, 105.5, 103.5, 105.5, 30.0),
        (2 * MINUTE, 106.5, 108.5, 106.5, 108.5, 30.0),
    ]
    assert [t.last for t in ticks] == [103.5, 104.5, 105.5]
    assert [b.timestamp_ns for b in later] == [MINUTE, 2 * MINUTE]  # bars starting in range
    # The bad row, counted by each of the two requests whose range holds it.
    assert len([e for e in h.listener.errors if e.data]) == 2


def test_manager_history_from_the_csv_file_is_cached(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    pytest.importorskip("pandas")
    from stockfish_core import ExchangeManager
    from stockfish_core.config import ManagerConfig

    path = tmp_path / "quotes.csv"
    path.write_text(BARS)
    registry = PluginRegistry(entry_points=())
    registry.register(stockfish_csvfeed, "csvfeed")
    manager = ExchangeManager(config=ManagerConfig(journal=":memory:",
                                                   history_cache=str(tmp_path / "cache")),
                              registry=registry)
    manager.add_connector("csv", "csvfeed", path=str(path))
    try:
        frame = manager.history("SPY", 0, 3 * MINUTE, "1m")
        assert frame["close"].tolist() == [102.5, 105.5, 108.5]
        path.unlink()  # the venue is gone: the same range still comes from the cache
        assert manager.history("SPY", 0, 3 * MINUTE, "1m").equals(frame)
    finally:
        manager.close()


async def test_two_symbols_are_numbered_each_without_false_gaps(tmp_path: Path) -> None:
    """The core tracks sequences per (source, stream, symbol): one counter across the
    symbols of the file made every symbol's stream look full of gaps."""
    from stockfish_core import ExchangeManager

    simulator = stockfish_csvfeed.CsvFeedSimulator(["SPY", "QQQ"], rows=200)
    settings = await simulator.start()
    registry = PluginRegistry(entry_points=())
    registry.register(stockfish_csvfeed, "csvfeed")
    manager = ExchangeManager(registry=registry, journal=":memory:")
    manager.add_connector("replay", "csvfeed", **{**settings, "loop": False})
    try:
        assert await manager.start()
        assert await manager.subscribe_async([Subscription("SPY"), Subscription("QQQ")]) == {}
        connector = manager.get_connector("replay")
        await wait_until(lambda: connector.stats.updates_delivered >= 200, asyncio.Event(), 10,
                         "the whole file", recheck=0.05)
        assert (connector.stats.gaps, connector.stats.lost) == (0, 0)
    finally:
        await manager.stop()
        manager.journal.close()
        await simulator.stop()


@pytest.fixture
def not_utf8(tmp_path: Path) -> Path:
    path = tmp_path / "broken.csv"
    path.write_bytes(b"\xff\xfe not UTF-8")  # the replay's reader fails on it
    return path


async def test_a_replay_task_that_dies_is_a_lost_connection(not_utf8: Path) -> None:
    async with harness({"path": str(not_utf8), "loop": True}) as h:
        await h.connect()
        h.connector.state.started.set()
        await h.wait_status(ConnectorStatus.DISCONNECTED, timeout=5)
        assert "task replay died: UnicodeDecodeError" in h.connector.status_reason
