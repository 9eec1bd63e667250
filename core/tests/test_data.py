"""Data on disk: the recorder, reading, the replay connector and the history cache."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("pandas")

from stockfish_core import (  # noqa: E402
    API_VERSION,
    Capabilities,
    Connector,
    ConnectorStatus,
    DataType,
    MarketUpdate,
    PluginSpec,
    Subscription,
    hookimpl,
)
from stockfish_core.cli import main  # noqa: E402
from stockfish_core.config import ManagerConfig, parse_config  # noqa: E402
from stockfish_core.data import HistoryRequest, RecordingConfig, read, read_updates  # noqa: E402
from stockfish_core.data import replay as replay_plugin  # noqa: E402
from stockfish_core.data.recorder import Recorder  # noqa: E402
from stockfish_core.errors import ConfigError  # noqa: E402
from stockfish_core.manager import ExchangeManager  # noqa: E402
from stockfish_core.models import (  # noqa: E402
    MacroEvent,
    NewsEvent,
    OHLCVBar,
    OrderBookLevel,
    OrderBookSnapshot,
    PriceTick,
    Trade,
    now_ns,
)
from stockfish_core.plugins import PluginRegistry  # noqa: E402
from stockfish_core.sim import plugin as sim_plugin  # noqa: E402
from stockfish_core.testing import ConnectorHarness, wait_until  # noqa: E402

T0 = 1_765_000_000_000_000_000  # 2025-12-06


def every_type(n: int = 5, source: str = "feed", t0: int = T0) -> list[MarketUpdate]:
    """``n`` updates of each data type, interleaved, with exactly decimal prices."""
    out: list[MarketUpdate] = []
    for i in range(n):
        ts = t0 + i * 1_000_000
        px = round(450.01 + i * 0.01, 2)
        out += [
            MarketUpdate(DataType.PRICE_TICK,
                         PriceTick("SPY", px, round(px + 0.02, 2), None if i % 2 else px, 100.0,
                                   200.0, None, 1_234_567_890.0 + i, ts),
                         source, i + 1, ts, ts + 1000, "s1"),
            MarketUpdate(DataType.ORDERBOOK_SNAPSHOT,
                         OrderBookSnapshot("QQQ", [OrderBookLevel(px, 1.5, 3),
                                                   OrderBookLevel(round(px - 0.01, 2), 2.25,
                                                                  None)],
                                           [OrderBookLevel(round(px + 0.01, 2), 0.00012345, 1)],
                                           i, ts),
                         source, i + 1, ts, ts + 2000),
            MarketUpdate(DataType.OHLCV_BAR,
                         OHLCVBar("SPY", px, px + 1, px - 1, px, 1e6 + i, "1m", ts), source,
                         None, 0, ts + 3000),
            MarketUpdate(DataType.TRADE,
                         Trade("BTCUSD", 97_123.45 + i, 0.00314159, "buy" if i % 2 else None,
                               f"t{i}", ts), source, i + 1, ts, ts + 4000, "trades"),
            MarketUpdate(DataType.NEWS,
                         NewsEvent(f"headline {i}", "body é ✓", "wire", ["SPY", "QQQ"][: i % 3],
                                   0.25 if i % 2 else None, 0.9, ts), source, None, ts,
                         ts + 5000),
            MarketUpdate(DataType.MACRO,
                         MacroEvent("CPI", "US", 3.2, 3.1 if i % 2 else None, -0.4, 3, ts),
                         source, None, ts, ts + 6000),
            MarketUpdate(DataType.CUSTOM,
                         {"symbol": "SPY", "score": Decimal("1.000000000000000000001"),
                          "tags": ["a", 1, None], "nested": {"x": 1.5}},
                         source, i + 1, 0, ts + 7000, "custom"),
        ]
    return out


class FeedPlugin:
    """A venue plugin whose normalize passes MarketUpdates through: tests call
    ``connector.feed(updates)``."""

    def __init__(self, types: frozenset[DataType] = frozenset(DataType)) -> None:
        self.types = types

    @hookimpl
    def stockfish_plugin_spec(self) -> PluginSpec:
        return PluginSpec(API_VERSION, None, Capabilities(data_types=self.types))  # type: ignore[arg-type]

    @hookimpl
    def stockfish_connect(self, connector: Connector) -> None:
        connector.report_connected()

    @hookimpl
    def stockfish_disconnect(self, connector: Connector) -> None:
        connector.report_closed()

    @hookimpl
    def stockfish_subscribe(self, connector: Connector, subscription: Any) -> None:
        pass

    @hookimpl
    def stockfish_normalize(self, connector: Connector, messages: list[Any]) -> list[Any]:
        return messages


class Collector:
    """A subscriber keeping every update."""

    def __init__(self) -> None:
        self.updates: list[MarketUpdate] = []
        self.changed = asyncio.Event()

    def on_update(self, update: MarketUpdate) -> None:
        self.updates.append(update)
        self.changed.set()

    async def until(self, predicate: Any, what: str, timeout: float = 10.0) -> Any:
        return await wait_until(predicate, self.changed, timeout, what)


def registry() -> PluginRegistry:
    reg = PluginRegistry(entry_points=())
    reg.register(sim_plugin, "sim")
    reg.register(replay_plugin, "replay")
    return reg


def config(**kwargs: Any) -> ManagerConfig:
    return ManagerConfig(journal=":memory:", **kwargs)


def record_directly(path: Path, updates: list[MarketUpdate], **options: Any) -> Recorder:
    recorder = Recorder(RecordingConfig(str(path), **options)).start()
    for update in updates:
        recorder.on_update(update)
    recorder.close()
    return recorder


# -- the recorder and the files ------------------------------------------------------------
def test_every_data_type_comes_back_from_the_files_exactly(tmp_path: Path) -> None:
    updates = every_type(20)
    recorder = record_directly(tmp_path, updates)
    stats = recorder.stats()
    assert stats["recorded"] == len(updates)
    assert stats["inexact_values"] == stats["unrecordable"] == stats["dropped_queue_full"] == 0
    back = read_updates(tmp_path)
    assert back == updates  # same updates, same order, same payloads
    custom = [u.payload for u in back if u.data_type is DataType.CUSTOM]
    assert custom[0]["score"] == Decimal("1.000000000000000000001")


def test_read_back_values_are_plain_python_and_the_collector_is_left_as_found(
        tmp_path: Path) -> None:
    """Numbers come out of numpy arrays a batch at a time, with the cyclic collector
    paused meanwhile: every value is a plain int, float or str (a numpy int64 is not an
    int), and the collector is enabled or disabled afterwards as it was before."""
    import gc

    from stockfish_core.data.reader import Selection
    from stockfish_core.data.schema import decode

    updates = every_type(6)
    record_directly(tmp_path, updates)
    plain = (int, float, str, type(None))
    for enabled in (True, False):
        if not enabled:
            gc.disable()
        try:
            back = read_updates(tmp_path)
            assert gc.isenabled() is enabled
            table = Selection(tmp_path).table(DataType.PRICE_TICK)
            assert table is not None
            built = decode(DataType.PRICE_TICK, table).build(1, 4)
            assert gc.isenabled() is enabled
        finally:
            gc.enable()
        assert back == updates
        assert built == [u for u in updates if u.data_type is DataType.PRICE_TICK][1:4]
        for update in back:
            assert type(update.recv_ts_ns) is int and type(update.venue_ts_ns) is int
            assert type(update.sequence_number) in (int, type(None))
            assert type(update.source) is str and type(update.stream) is str
            payload = update.payload
            if update.data_type in (DataType.PRICE_TICK, DataType.OHLCV_BAR,
                                    DataType.TRADE, DataType.MACRO):
                values = attrs.astuple(payload)
                assert all(type(v) in plain for v in values), values
            if update.data_type is DataType.ORDERBOOK_SNAPSHOT:
                for level in payload.bids + payload.asks:
                    assert type(level.price) is float and type(level.size) is float


def test_files_are_partitioned_typed_and_exact(tmp_path: Path) -> None:
    record_directly(tmp_path, every_type(3))
    days = [p.name for p in tmp_path.iterdir()]
    assert days == ["date=2025-12-06"]
    types = sorted(p.name for p in (tmp_path / days[0]).iterdir())
    assert types == sorted(f"type={t.value}" for t in DataType)
    ticks = list((tmp_path / days[0] / "type=price_tick" / "venue=feed").glob("*.parquet"))
    assert len(ticks) == 1
    table = pq.read_table(ticks[0])
    assert table.schema.field("bid").type == pa.decimal128(38, 10)
    assert table.schema.field("recv_ts").type == pa.timestamp("ns", tz="UTC")
    assert table.column("bid").to_pylist()[:2] == [Decimal("450.01"), Decimal("450.02")]
    assert table.column("volume").to_pylist()[0] == Decimal("1234567890")
    books = read(tmp_path, types="orderbook_snapshot")
    first = books.column("bids").to_pylist()[0]
    assert first[0] == {"price": Decimal("450.01"), "size": Decimal("1.5"), "orders": 3}
    assert books.column("asks").to_pylist()[0][0]["size"] == Decimal("0.00012345")


def test_read_selects_symbols_types_venues_and_time(tmp_path: Path) -> None:
    updates = every_type(10) + every_type(10, source="other", t0=T0 + 86_400 * 10**9)
    record_directly(tmp_path, updates)
    everything = read(tmp_path)
    assert everything.num_rows == len(updates)
    assert everything.column("rec_seq").to_pylist() == sorted(everything.column("rec_seq")
                                                              .to_pylist())
    ticks = read(tmp_path, types=["price_tick"], symbols=["SPY"], venues="feed")
    assert ticks.num_rows == 10
    assert set(ticks.column("data_type").to_pylist()) == {"price_tick"}
    news = read(tmp_path, types="news", symbols="QQQ")
    expected = [u for u in updates if u.data_type is DataType.NEWS and "QQQ" in u.payload.symbols]
    assert news.num_rows == len(expected) > 0
    window = read(tmp_path, start=T0 + 86_400 * 10**9, end=T0 + 86_400 * 10**9 + 3_000_000)
    assert set(window.column("source").to_pylist()) == {"other"}
    assert window.num_rows == 3 * 7  # updates received in the first 3 ms of the second day
    frame = read(tmp_path, types="price_tick", pandas=True, decimals=False)
    assert frame["bid"].iloc[0] == 450.01
    assert str(frame["recv_ts"].dtype) == "datetime64[ns, UTC]"
    with pytest.raises(ValueError, match="unknown data type"):
        read(tmp_path, types="quotes")
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "nowhere")


def test_a_selection_is_read_from_the_row_groups_that_hold_it(tmp_path: Path) -> None:
    # Small row groups: the time and symbol selection goes into the Parquet read, and
    # what comes back is exactly the selected rows, in recording order.
    symbols = ["SPY", "QQQ", "IWM"]
    updates = [MarketUpdate(DataType.PRICE_TICK,
                            PriceTick(symbols[i % 3], round(100 + i / 100, 2), timestamp_ns=T0 + i),
                            "feed", i // 3 + 1, T0 + i, T0 + i * 1_000) for i in range(3000)]
    record_directly(tmp_path, updates, row_group_rows=100)
    paths = sorted(tmp_path.glob("**/*.parquet"))
    assert sum(pq.ParquetFile(p).num_row_groups for p in paths) >= 30
    start, end = T0 + 1_234_000, T0 + 2_001_000
    got = read_updates(tmp_path, symbols=["QQQ"], start=start, end=end)
    expected = [u for u in updates
                if u.payload.symbol == "QQQ" and start <= u.recv_ts_ns < end]
    assert got == expected and len(expected) == 256


def test_inexact_and_unrecordable_updates_are_counted(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    good = every_type(1)[0]
    tiny = MarketUpdate(DataType.PRICE_TICK, PriceTick("SPY", 0.123456789012345, 1.0),
                        "feed", None, 0, T0)
    wrong = MarketUpdate(DataType.PRICE_TICK, {"symbol": "SPY"}, "feed", None, 0, T0)
    with caplog.at_level(logging.WARNING, "stockfish.recorder"):
        recorder = record_directly(tmp_path, [good, tiny, wrong])
    stats = recorder.stats()
    assert stats["recorded"] == 2
    assert stats["unrecordable"] == 1
    assert stats["inexact_values"] == 1
    assert any("cannot be recorded" in r.message for r in caplog.records)
    assert any("stored rounded" in r.message for r in caplog.records)
    assert read_updates(tmp_path)[1].payload.bid == pytest.approx(0.123456789, abs=1e-10)


def test_columns_are_read_in_one_pass_as_attrgetter_reads_them() -> None:
    """The recorder reads an update's values through ``gc.get_referents`` (one C pass
    per object): the same values as ``attrgetter``, and ``attrgetter`` itself where the
    layout does not hold (a subclass)."""
    from operator import attrgetter

    from stockfish_core.data.schema import AttributeColumns, envelope_columns

    updates = every_type(4)
    assert envelope_columns.layout is not None  # CPython: the one-pass path is taken
    names = envelope_columns.names
    assert envelope_columns(updates) == [list(map(attrgetter(n), updates)) for n in names]
    for cls in (PriceTick, OrderBookSnapshot, OHLCVBar, Trade, NewsEvent, MacroEvent):
        fields = [f.name for f in attrs.fields(cls)]
        reader = AttributeColumns(cls, list(reversed(fields)))
        assert reader.layout is not None
        payloads = [u.payload for u in updates if type(u.payload) is cls]
        assert reader(payloads) == [list(map(attrgetter(n), payloads))
                                    for n in reversed(fields)]

    @attrs.define(slots=True)
    class Tagged(PriceTick):
        tag: str = "x"

    mixed = [PriceTick("SPY", 1.5), Tagged("QQQ", 2.5, tag="y"), PriceTick("IWM", None)]
    reader = AttributeColumns(PriceTick, ["symbol", "bid"])
    assert reader(mixed) == [["SPY", "QQQ", "IWM"], [1.5, 2.5, None]]


def test_decimals_are_converted_in_numpy_as_arrows_cast_converts_them() -> None:
    from stockfish_core.data.schema import _decimals, _to_decimal_arrow, decimal_to_float

    values = [450.01, 450.02, None, 0.0, -0.0, -12.5, 1e-10, 0.123456789012345, 97_123.45,
              1_234_567_890.0, 16_500_000.0, 1e15 + 0.5, 1e25, 2.0**50 / 1e10, None, 3.3,
              0.1 + 0.2, 123456.7890123456, -99_999.99]
    floats = pa.array(values, pa.float64())
    for scale in (0, 2, 8, 10, 18):
        fast, fast_bad = _decimals(floats, scale)
        arrow, arrow_bad = _to_decimal_arrow(floats, scale)
        assert fast.type == arrow.type and fast.null_count == arrow.null_count == 2
        assert (fast.to_pylist(), fast_bad) == (arrow.to_pylist(), arrow_bad), scale
        back = decimal_to_float(fast).to_pylist()
        exact = [v for v, b in zip(values, back, strict=True) if v == b or v is b]
        assert len(values) - len(exact) == fast_bad
    sliced, _ = _decimals(floats.slice(5, 4), 10)
    assert sliced.to_pylist() == [Decimal("-12.5"), Decimal("1E-10"), Decimal("0.1234567890"),
                                  Decimal("97123.45")]


def test_one_pass_of_mixed_types_venues_and_days_is_split_into_partitions(
        tmp_path: Path) -> None:
    """Everything queued before the writer starts is taken in one pass: types, venues and
    days interleaved, an unrecordable update among them, an update never stamped."""
    day = 86_400 * 10**9
    first, second = every_type(6), every_type(6, source="other", t0=T0 + day)
    mixed = [u for pair in zip(first, second, strict=True) for u in pair]
    wrong = MarketUpdate(DataType.TRADE, PriceTick("SPY", 1.0), "feed", None, 0, T0)
    unstamped = MarketUpdate(DataType.PRICE_TICK, PriceTick("IWM", 1.25), "feed")
    recorder = Recorder(RecordingConfig(str(tmp_path)))
    recorder.on_update_batch([*mixed[:40], wrong, *mixed[40:]])
    recorder.on_update(unstamped)
    assert recorder.stats()["queue_depth"] == len(mixed) + 2
    assert recorder.start().ready.wait(30)
    recorder.close()
    stats = recorder.stats()
    assert stats["recorded"] == len(mixed) + 1 and stats["unrecordable"] == 1
    assert stats["writer_cpu_s"] > 0
    back = read_updates(tmp_path)
    assert back[:len(mixed)] == mixed  # in recording order
    assert back[-1].payload == unstamped.payload and back[-1].recv_ts_ns == 0
    folders = {p.parent.relative_to(tmp_path).as_posix()
               for p in tmp_path.glob("**/*.parquet")}
    assert {f for f in folders if "2025-12-0" in f} >= {
        f"date={d}/type={t.value}/venue={v}" for d, v in (("2025-12-06", "feed"),
                                                            ("2025-12-07", "other"))
        for t in DataType}


def test_files_rotate_by_size_and_time_and_each_is_complete(tmp_path: Path) -> None:
    recorder = Recorder(RecordingConfig(str(tmp_path), rotate_bytes=1, row_group_rows=10,
                                        flush_interval=0.01)).start()
    updates = [u for u in every_type(100) if u.data_type is DataType.PRICE_TICK]
    for update in updates:
        recorder.on_update(update)
    recorder.close()
    files = sorted(tmp_path.glob("**/*.parquet"))
    assert len(files) >= 10  # a file closes after each row group of 10 rows
    assert not list(tmp_path.glob("**/*.partial"))
    assert sum(pq.read_table(f).num_rows for f in files) == 100
    assert read_updates(tmp_path) == updates

    timed = tmp_path / "timed"
    recorder = Recorder(RecordingConfig(str(timed), rotate_seconds=0.05,
                                        flush_interval=0.01)).start()
    try:
        recorder.on_update(updates[0])
        # Closed by time while the recorder runs, not only at close().
        for _ in range(500):
            if recorder.files_closed:
                break
            recorder._wake.wait(0.01)
        assert recorder.files_closed == 1
        assert pq.read_table(next(timed.glob("**/*.parquet"))).num_rows == 1
    finally:
        recorder.close()


def test_recording_config_is_validated() -> None:
    good = parse_config({"manager": {"recording": {"path": "rec", "types": ["price_tick", "bars"],
                                                   "symbols": ["SPY"], "rotate_seconds": 30}}},
                        validate_plugins=False)
    assert good.manager.recording == RecordingConfig(
        "rec", types=[DataType.PRICE_TICK, DataType.OHLCV_BAR], symbols=["SPY"],
        rotate_seconds=30.0)
    with pytest.raises(ConfigError) as err:
        parse_config({"manager": {"recording": {"types": ["quotes"], "rotate_seconds": -1,
                                                "compression": "xz", "colour": 1}}},
                     validate_plugins=False)
    text = str(err.value)
    assert "manager.recording" in text
    for word in ("colour", "quotes"):
        assert word in text


# -- the recorder in the manager -----------------------------------------------------------
async def test_the_manager_records_what_it_delivers(tmp_path: Path) -> None:
    manager = ExchangeManager(config=config(), registry=registry())
    manager.add_connector("sim", "sim", primary=True, tick_interval=0.002, seed=3)
    collector = Collector()
    manager.add_subscriber(collector)
    recorder = manager.record(tmp_path, flush_interval=0.05)
    manager.subscribe_price(["SPY", "QQQ"])
    manager.subscribe_orderbook(["SPY"], depth=5)
    manager.subscribe_bars(["SPY"], "100ms")
    manager.subscribe_trades(["SPY"])
    async with manager:
        await collector.until(lambda: {u.data_type for u in collector.updates} >= {
            DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.OHLCV_BAR,
            DataType.TRADE} and len(collector.updates) > 300, "every type delivered")
        stats = manager.get_stats()["recording"]
        assert stats["path"] == str(tmp_path)
        assert stats["running"]
    assert manager.recorder is None  # stopped with the manager
    assert recorder.stats()["recorded"] == len(collector.updates)
    assert read_updates(tmp_path) == collector.updates


async def test_a_full_queue_drops_from_the_recording_never_from_delivery(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manager = ExchangeManager(config=config(), registry=registry())
    manager.registry.register(FeedPlugin(), "feed")
    manager.add_connector("feed", "feed")
    collector = Collector()
    manager.add_subscriber(collector)
    # A recorder whose writer has not started: nothing leaves its queue.
    recorder = Recorder(RecordingConfig(str(tmp_path), max_queue=10))
    manager.add_subscriber(recorder)
    manager.recorder = recorder
    updates = [u for u in every_type(50) if u.data_type is DataType.PRICE_TICK]
    with caplog.at_level(logging.WARNING, "stockfish.recorder"):
        async with manager:
            manager.get_connector("feed").feed(updates)
            assert collector.updates == updates  # delivery is untouched
            stats = manager.get_stats()["recording"]
            assert stats["dropped_queue_full"] == 40
            assert stats["queue_depth"] == 10
    warnings = [r for r in caplog.records if "queue full" in r.message]
    assert len(warnings) == 1  # one line, not one per dropped update
    recorder.start()
    recorder.close()
    assert read_updates(tmp_path) == updates[:10]


# -- replay ----------------------------------------------------------------------------------
def replay_manager(path: Path, **settings: Any) -> tuple[ExchangeManager, Collector]:
    manager = ExchangeManager(config=config(), registry=registry())
    manager.add_connector("replay", "replay", path=str(path), **settings)
    collector = Collector()
    manager.add_subscriber(collector)
    manager.subscribe_price(["SPY"], connectors=["replay"])  # starts the playback
    return manager, collector


def replay_state(manager: ExchangeManager) -> replay_plugin.ReplayState:
    state = manager.get_connector("replay").state
    assert isinstance(state, replay_plugin.ReplayState)
    return state


async def test_a_recorded_run_replays_identically_through_the_manager(tmp_path: Path) -> None:
    live = ExchangeManager(config=config(), registry=registry())
    live.registry.register(FeedPlugin(frozenset({DataType.CUSTOM})), "feed")
    live.add_connector("sim", "sim", primary=True, tick_interval=0.002, seed=5)
    live.add_connector("feed", "feed")
    seen = Collector()
    live.add_subscriber(seen)
    live.record(tmp_path / "rec", flush_interval=0.05)
    live.subscribe_price(["SPY", "QQQ"])
    live.subscribe_orderbook(["QQQ"], depth=3)
    live.subscribe_bars(["SPY"], "50ms")
    live.subscribe_trades(["SPY", "QQQ"])
    customs = [u for u in every_type(30, source="feed") if u.data_type is DataType.CUSTOM]
    async with live:
        for update in customs:  # interleaved with the simulator's data, received now
            live.get_connector("feed").feed([attrs.evolve(update, recv_ts_ns=now_ns())])
            count = len(seen.updates)
            await seen.until(lambda c=count: len(seen.updates) > c + 3, "sim data")
        await seen.until(lambda: {u.data_type for u in seen.updates} >= {
            DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.OHLCV_BAR,
            DataType.TRADE, DataType.CUSTOM}, "every type delivered")
    assert len({u.data_type for u in seen.updates}) == 5

    manager, replayed = replay_manager(tmp_path / "rec")
    async with manager:
        state = replay_state(manager)
        await replayed.until(lambda: state.finished is not None, "the replay to finish")
    assert state.finished == len(seen.updates)
    assert replayed.updates == seen.updates  # same updates, order, payloads and stamps
    stats = manager.get_stats()["connectors"]["replay"]
    assert stats["gaps"] == stats["duplicates"] == stats["out_of_order"] == 0


async def test_replay_normalizes_every_data_type_exactly(tmp_path: Path) -> None:
    updates = every_type(10)
    record_directly(tmp_path, updates)
    async with ConnectorHarness(replay_plugin, "replay", {"path": str(tmp_path)}) as h:
        await h.connect()
        await h.subscribe(Subscription("SPY"))
        await h.listener.wait_for(lambda: len(h.listener.updates) >= len(updates), 10,
                                  "every update replayed")
    assert h.listener.updates == updates


async def test_news_and_macro_replay_through_the_manager(tmp_path: Path) -> None:
    updates = [u for u in every_type(5) if u.data_type in (DataType.NEWS, DataType.MACRO)]
    record_directly(tmp_path, updates)
    manager, replayed = replay_manager(tmp_path)
    async with manager:
        state = replay_state(manager)
        await replayed.until(lambda: state.done.is_set(), "the replay to end")
    assert replayed.updates == updates


async def test_replay_plays_the_configured_selection(tmp_path: Path) -> None:
    updates = every_type(10)
    record_directly(tmp_path, updates)
    start = T0 + 2_000_000  # receive times are T0 + i ms (+ a few us per type)
    end = T0 + 5_000_000
    manager, replayed = replay_manager(
        tmp_path, symbols=["SPY"], types=["price_tick", "ohlcv_bar"],
        start="2025-12-06T05:46:40.002+00:00", end="2025-12-06T05:46:40.005+00:00")
    async with manager:
        state = replay_state(manager)
        await replayed.until(lambda: state.finished is not None, "the replay to finish")
    expected = [u for u in updates if u.data_type in (DataType.PRICE_TICK, DataType.OHLCV_BAR)
                and start <= u.recv_ts_ns < end]
    assert len(expected) == 6
    assert replayed.updates == expected
    stats = manager.get_stats()["connectors"]["replay"]
    assert stats["gaps"] == stats["out_of_order"] == 0  # a selection skips numbers


class ArrivalClock:
    def __init__(self) -> None:
        self.arrivals: list[float] = []

    def on_price_tick(self, update: MarketUpdate) -> None:
        self.arrivals.append(asyncio.get_running_loop().time())


async def test_replay_keeps_the_recorded_pace_or_a_multiple(tmp_path: Path) -> None:
    ticks = [MarketUpdate(DataType.PRICE_TICK, PriceTick("SPY", 100.0 + i, 101.0 + i, None, 1.0,
                                                         1.0, None, None, T0 + i * 50_000_000),
                          "feed", i + 1, T0 + i * 50_000_000, T0 + i * 50_000_000)
             for i in range(9)]  # 0.4 s of receive time
    record_directly(tmp_path, ticks)
    for speed, least in ((1.0, 0.4), (4.0, 0.1)):
        manager, replayed = replay_manager(tmp_path, speed=speed)
        clock = ArrivalClock()
        manager.add_subscriber(clock)
        async with manager:
            state = replay_state(manager)
            await replayed.until(lambda s=state: s.finished is not None, "the replay", 10)
        assert replayed.updates == ticks
        arrivals = clock.arrivals
        # Never ahead of the recorded pace (a busy machine may make it later, not sooner).
        assert state.clock0 is not None
        assert arrivals[-1] - state.clock0 >= least
        for i, arrived in enumerate(arrivals):
            assert arrived - state.clock0 >= i * 0.05 / speed - 0.001  # timer resolution


async def test_replay_settings_and_a_missing_recording_are_clear_errors(tmp_path: Path) -> None:
    for settings, problem in (({"speed": -1}, "replay.speed: must not be negative"),
                              ({"start": "yesterday"}, "not an ISO date or time: 'yesterday'"),
                              ({"types": ["quotes"]}, "quotes"),
                              ({"batch_size": 0}, "replay.batch_size: must be positive")):
        with pytest.raises(ConfigError) as err:
            parse_config({"connectors": {"replay": {"path": str(tmp_path), **settings}}},
                         registry=registry())
        assert "connectors.replay" in str(err.value)
        assert problem in str(err.value)
    manager, _ = replay_manager(tmp_path / "missing")
    async with manager:
        assert manager.get_connector("replay").status is ConnectorStatus.ERROR
        assert "no recording" in manager.get_connector("replay").status_reason


# -- history -----------------------------------------------------------------------------
class HistoryCounter:
    """Wraps stockfish_history and keeps every request that reached the venue."""

    def __init__(self) -> None:
        self.requests: list[HistoryRequest] = []

    @hookimpl(wrapper=True)
    def stockfish_history(self, request: HistoryRequest) -> Any:
        self.requests.append(request)
        return (yield)


def history_manager(tmp_path: Path) -> tuple[ExchangeManager, HistoryCounter]:
    reg = registry()
    counter = HistoryCounter()
    reg.register(counter, "counter")
    manager = ExchangeManager(config=config(history_cache=str(tmp_path / "cache")),
                              registry=reg)
    manager.add_connector("sim", "sim", seed=11, start_prices={"SPY": 450.0})
    return manager, counter


def test_history_is_served_from_the_cache_when_the_range_is_there(tmp_path: Path) -> None:
    manager, counter = history_manager(tmp_path)
    try:
        first = manager.history("SPY", "2025-01-06", "2025-01-07", "1h")
        assert len(first) == 24
        assert list(first.columns) == ["open", "high", "low", "close", "volume"]
        assert str(first.index[0]) == "2025-01-06 00:00:00+00:00"
        assert (first["high"] >= first[["open", "close"]].max(axis=1)).all()
        assert (first["low"] <= first[["open", "close"]].min(axis=1)).all()
        assert len(counter.requests) == 1

        again = manager.history("SPY", "2025-01-06T06:00", "2025-01-06T12:00", "1h")
        assert len(counter.requests) == 1  # from the cache alone
        assert again.equals(first.iloc[6:12])

        wider = manager.history("SPY", "2025-01-05T12:00", "2025-01-07T06:00", "1h")
        assert len(wider) == 42
        asked = [(r.start_ns, r.end_ns) for r in counter.requests[1:]]
        day = 86_400 * 10**9
        jan6 = 1_736_121_600 * 10**9
        assert asked == [(jan6 - day // 2, jan6), (jan6 + day, jan6 + day + day // 4)]
        assert wider.loc[first.index].equals(first)  # overlapping answers agree

        manager.history("SPY", "2025-01-06", "2025-01-07", "1h", refresh=True)
        assert len(counter.requests) == 4
        with pytest.raises(ValueError, match="bar interval"):
            manager.history("SPY", "2025-01-06", "2025-01-07", "7 parsecs")
        with pytest.raises(ValueError, match="end must be after"):
            manager.history("SPY", "2025-01-07", "2025-01-06", "1h")
    finally:
        manager.close()


def test_record_and_history_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "sim.yaml"
    cfg.write_text("connectors:\n  sim: {primary: true, tick_interval: 0.005}\n"
                   "manager: {journal: ':memory:'}\n"
                   "subscriptions:\n  - {symbols: [SPY], type: price_tick}\n"
                   "  - {symbols: [SPY], type: trade}\n")
    rec = tmp_path / "rec"
    assert main(["record", str(cfg), "--out", str(rec), "--duration", "1"]) == 0
    out = capsys.readouterr().out
    table = read(rec)
    assert table.num_rows > 0
    assert f"recorded {table.num_rows} updates" in out
    assert set(table.column("data_type").to_pylist()) == {"price_tick", "trade"}

    cache = tmp_path / "cache"
    assert main(["history", "SPY", "--from", "2025-01-06", "--to", "2025-01-07",
                 "--interval", "1h", "--out", str(cache), "--config", str(cfg)]) == 0
    assert "24 bars of SPY (1h)" in capsys.readouterr().out
    assert len(list(cache.glob("venue=sim/symbol=SPY/interval=1h/*.parquet"))) == 1
    assert main(["history", "SPY", "--from", "2025-01-07", "--to", "2025-01-06",
                 "--out", str(cache), "--config", str(cfg)]) == 1
    assert "end must be after" in capsys.readouterr().err


async def test_replay_goes_on_after_a_reconnect_without_repeating(tmp_path: Path) -> None:
    ticks = [u for u in every_type(400) if u.data_type is DataType.PRICE_TICK]
    record_directly(tmp_path, ticks)
    manager, replayed = replay_manager(tmp_path, speed=1.0, batch_size=10)  # 400 ms
    manager.config = attrs.evolve(manager.config, reconnect_initial_delay=0.01,
                                  reconnect_max_delay=0.05)
    async with manager:
        connector = manager.get_connector("replay")
        state = replay_state(manager)
        await replayed.until(lambda: len(replayed.updates) >= 100, "part of the replay")
        connector.report_lost("dropped by the test")
        assert len(replayed.updates) < len(ticks)  # dropped part-way
        await replayed.until(lambda: state.finished is not None, "the replay to finish")
        assert manager.get_stats()["connectors"]["replay"]["reconnects"] >= 1
    assert replayed.updates == ticks  # each once, in order


def test_several_days_are_read_in_one_pass_in_the_order_of_a_day_by_day_read(
        tmp_path: Path) -> None:
    from stockfish_core.data.reader import Selection

    # Three days, the last recorded first (a recording added to later: its rec_seq are
    # smaller), and two files on one day: the one-pass read keeps day order, then rec_seq.
    day = 86_400 * 10**9
    record_directly(tmp_path / "rec", every_type(6, t0=T0 + 2 * day))
    record_directly(tmp_path / "rec", every_type(6, t0=T0) + every_type(6, t0=T0 + day))
    record_directly(tmp_path / "rec", every_type(3, source="late", t0=T0 + 3_600 * 10**9))
    selection = Selection(tmp_path / "rec")
    days = [d for d, _ in selection.days()]
    assert len(days) == 3
    one_pass = selection.table(DataType.PRICE_TICK, days)
    assert one_pass is not None
    by_day = pa.concat_tables([t for d in days
                               if (t := selection.table(DataType.PRICE_TICK, d)) is not None])
    assert one_pass.to_pylist() == by_day.to_pylist()
    assert one_pass.num_rows == 6 * 3 + 3
    recv = one_pass.column("recv_ts").cast(pa.int64()).to_pylist()
    assert [r // day for r in recv] == sorted(r // day for r in recv)
