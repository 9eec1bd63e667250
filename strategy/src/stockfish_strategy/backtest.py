"""The backtester: recorded data through the same manager path as live trading.

A recording (``stockfish record``, or :meth:`ExchangeManager.record`) is played by the
core's ``replay`` connector as fast as the manager takes it; the manager delivers it to
the ``paper`` venue (which fills against it on the shared fill engine) and to the strategy
(through a :class:`~.strategy.StrategyRunner`: portfolio, buying power, timers, errors).
Orders go through the manager's routing, risk checks and state machine as live. The clock
is the recording's: ``now()``, timers, fill times and the equity curve are in market
time, and order ids are numbered, so the same inputs give byte-identical results.

The replay hands the manager updates in batches (one Arrow read of the whole selection,
columns to updates in bulk). An order a strategy sends on an update is journalled (in
memory) and reaches the paper venue inside the callback: it fills against the quote the
strategy saw (plus slippage), as it would live with no latency, and the venue reports it
before the next update reaches anyone.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import attrs

from stockfish_core.config import ManagerConfig
from stockfish_core.connector import Subscription
from stockfish_core.data.replay import ReplayState
from stockfish_core.data.settings import TimeLike, to_ns
from stockfish_core.errors import StockfishError
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import DataType

from .adapter import adapt
from .calendar import MarketHours
from .paper import PaperVenue
from .portfolio import Portfolio
from .results import Results
from .strategy import RiskLimits, Strategy, StrategyRunner

__all__ = ["Backtest", "BacktestError", "DataSummary", "download_history", "record_bars",
           "scan_data"]

#: Data types a strategy subscribes to per symbol.
SYMBOL_TYPES = (DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.OHLCV_BAR,
                DataType.TRADE)


#: Updates the replay hands over per loop turn. An order a strategy sends reaches the
#: paper venue inside its callback, and the venue reports before the next update.
BATCH_SIZE = 1000


class BacktestError(StockfishError):
    """A backtest that cannot run: its message says why and what to do."""


@attrs.frozen
class DataSummary:
    """What a selection of a recording holds."""

    rows: dict[DataType, int]
    symbols: tuple[str, ...]
    intervals: dict[str, tuple[str, ...]]
    #: The rows themselves, by data type (Arrow tables, in recording order).
    tables: dict[DataType, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def scan_data(path: str | Path, *, symbols: Iterable[str] | None = None,
              start: TimeLike = None, end: TimeLike = None) -> DataSummary:
    """Count what ``[start, end)`` of the recording at ``path`` holds; BacktestError for
    a missing or empty folder or a selection with no data (saying what there is)."""
    from stockfish_core.data.reader import Selection

    folder = Path(path)
    if not folder.is_dir():
        raise BacktestError(f"--data {path}: no such folder (give the folder a recording "
                            "was written to: stockfish record ... --out DIR)")
    everything = Selection(folder)
    all_days = everything.days()
    if not all_days:
        raise BacktestError(f"--data {path}: the folder holds no recording (no date=YYYY-MM-DD"
                            " partitions; record one with stockfish record ... --out DIR)")
    try:
        selection = Selection(folder, symbols=symbols, start=start, end=end)
    except ValueError as exc:
        raise BacktestError(f"--from/--to: {exc}") from None
    rows: dict[DataType, int] = {}
    tables: dict[DataType, Any] = {}
    found: set[str] = set()
    intervals: dict[str, set[str]] = {}
    for data_type in SYMBOL_TYPES:
        table = selection.table(data_type)
        if table is None:
            continue
        rows[data_type] = table.num_rows
        tables[data_type] = table
        found.update(s for s in table.column("symbol").unique().to_pylist() if s)
        if data_type is DataType.OHLCV_BAR:
            pairs = table.select(["symbol", "interval"]).group_by(["symbol", "interval"])
            for row in pairs.aggregate([]).to_pylist():
                intervals.setdefault(row["symbol"], set()).add(row["interval"])
    if not rows:
        wanted = f" for {', '.join(sorted(symbols))}" if symbols else ""
        span = f"{all_days[0][0]} to {all_days[-1][0]}"
        raise BacktestError(f"--data {path}: no data{wanted} in the range "
                            f"[{start or 'start'}, {end or 'end'}); the recording holds days "
                            f"{span}")
    return DataSummary(rows, tuple(sorted(found)),
                       {s: tuple(sorted(i)) for s, i in sorted(intervals.items())}, tables)


def record_bars(frames: dict[str, Any], interval: str, path: str | Path,
                source: str = "history") -> Path:
    """Write historical bars (``manager.history`` DataFrames, by symbol: indexed by bar
    start, columns open/high/low/close/volume) as a recording the backtester replays. Each
    bar is delivered at its close (start plus ``interval``), all symbols in time order."""
    from stockfish_core.models import MarketUpdate, OHLCVBar
    from stockfish_core.sim.market import parse_interval

    from .testing import record

    try:
        step = parse_interval(interval)
    except ValueError as exc:
        raise BacktestError(f"--interval: {exc}") from None
    rows = []
    for symbol, frame in frames.items():
        for ts, row in zip(frame.index.as_unit("ns").asi8, frame.itertuples(index=False),
                           strict=True):
            rows.append((int(ts) + step, symbol, int(ts), row))
    rows.sort(key=lambda r: (r[0], r[1]))
    seqs: dict[str, int] = {}
    updates = []
    for end, symbol, start, row in rows:
        seqs[symbol] = seqs.get(symbol, 0) + 1
        bar = OHLCVBar(symbol, float(row.open), float(row.high), float(row.low),
                       float(row.close), float(row.volume), interval, start)
        updates.append(MarketUpdate(DataType.OHLCV_BAR, bar, source, seqs[symbol], end, end))
    if not updates:
        raise BacktestError("no historical bars for "
                            f"{', '.join(frames) or 'no symbols'} in that range")
    return record(Path(path), updates)


def download_history(symbols: list[str], start: TimeLike, end: TimeLike, interval: str,
                     out: str | Path, *, config: str | None = None,
                     cache: str | None = None) -> Path:
    """Bars of ``symbols`` from the history hook of a configuration's connectors (default:
    the built-in simulated venue), through the manager's Parquet cache, written as a
    recording under ``out``."""
    import attrs

    from stockfish_core.config import Config, load_config
    from stockfish_core.plugins import PluginRegistry

    if start is None or end is None:
        raise BacktestError("--history needs --from and --to")
    registry = PluginRegistry()
    cfg = load_config(config, registry) if config else Config.default(registry)
    manager = ExchangeManager.from_config(cfg, registry)
    if cache:
        manager.config = attrs.evolve(manager.config, history_cache=cache)
    frames = {}
    try:
        manager.start_all(timeout=30)
        for symbol in symbols:
            frames[symbol] = manager.history(symbol, start, end, interval)
    except (StockfishError, ValueError, TypeError, TimeoutError) as exc:
        raise BacktestError(f"--history: {exc}") from None
    finally:
        manager.close()
    return record_bars(frames, interval, out)


class Backtest:
    """One strategy (a :class:`Strategy`, or a seed-style one, adapted) over one recording;
    :meth:`run` returns the :class:`Results`.

    ``commission`` and ``slippage`` take the paper venue's forms (``per_share:0.005,min=1``,
    ``bps:1``; ``spread:0.5``); ``symbols`` defaults to the strategy's, else everything
    recorded; ``progress`` a stream to draw a progress bar on.
    """

    def __init__(self, strategy: Strategy | Any, data: str | Path, *, start: TimeLike = None,
                 end: TimeLike = None, symbols: Iterable[str] | None = None,
                 capital: Decimal | int | str = 100_000, commission: str = "per_unit:0",
                 slippage: str = "bps:0", limits: RiskLimits | None = None,
                 session: str | None = None, progress: TextIO | None = None) -> None:
        self.strategy = adapt(strategy, list(symbols) if symbols else None)
        self.data = Path(data)
        self.start, self.end = start, end
        for name, value in (("--from", start), ("--to", end)):
            try:
                to_ns(value)
            except (ValueError, TypeError) as exc:
                raise BacktestError(f"{name}: {exc}") from None
        wanted = list(symbols) if symbols else list(self.strategy.symbols or [])
        self.symbols = wanted or None
        self.capital = capital
        self.commission = commission
        self.slippage = slippage
        self.limits = limits
        self.session = session
        if session is not None:
            try:
                MarketHours(session)
            except (ImportError, ValueError) as exc:
                raise BacktestError(f"--session: {exc}") from None
        self.progress = progress

    def run(self) -> Results:
        return asyncio.run(self.run_async())

    async def run_async(self) -> Results:
        scan = scan_data(self.data, symbols=self.symbols, start=self.start, end=self.end)
        symbols = list(self.symbols or scan.symbols)
        manager = ExchangeManager(config=ManagerConfig(), journal=":memory:")
        try:
            manager.add_connector("replay", "replay", path=str(self.data), speed=0,
                                  symbols=symbols, start=_iso(self.start), end=_iso(self.end),
                                  types=[t.value for t in scan.rows],
                                  batch_size=BATCH_SIZE)
            paper = manager.add_connector("paper", "paper", commission=self.commission,
                                          slippage=self.slippage)
        except Exception as exc:  # noqa: BLE001 - a bad setting, said as the CLI's
            raise BacktestError(str(exc)) from None
        # The selection was read once, in one pass, to check it: the replay plays those
        # tables rather than reading the recording again.
        replay_connector = manager.get_connector("replay")
        replay_connector.state = ReplayState(replay_connector.config, tables=scan.tables)
        runner = StrategyRunner(self.strategy, manager, portfolio=Portfolio(self.capital),
                                backtest=True, connector="paper", limits=self.limits,
                                session=self.session)
        subscriptions = [Subscription(s, t, interval=i)
                         for s in symbols for t in scan.rows
                         for i in (scan.intervals.get(s, ("1m",))
                                   if t is DataType.OHLCV_BAR else (None,))]
        async with manager:
            # The journal is in memory and nothing else reads it: an order is written and
            # sent at once (inside the strategy's callback, on the quote it saw) rather
            # than after this loop turn's group commit.
            manager.orders.defer_writes(None)
            replay = manager.get_connector("replay").state
            runner.start()
            await manager.subscribe_async(subscriptions, ["replay"])
            await self._wait(replay, scan.total)
            if replay.error:
                raise BacktestError(f"replay of {self.data} failed: {replay.error}")
            await _settle(runner, paper.state)
            runner.stop()
        return Results.from_runner(runner, "backtest")

    async def _wait(self, replay: Any, total: int) -> None:
        bar = _ProgressBar(self.progress, total) if self.progress is not None else None
        while not replay.done.is_set():
            try:
                await asyncio.wait_for(asyncio.shield(replay.done.wait()), 0.25)
            except asyncio.TimeoutError:
                pass
            if bar is not None:
                bar.show(replay.played)
        if bar is not None:
            bar.show(replay.played, final=True)


async def _settle(runner: StrategyRunner, paper: PaperVenue, turns: int = 1000) -> None:
    """Let the last orders reach the paper venue and their reports come back."""
    for _ in range(turns):
        if not paper.in_flight and not any(
                o.status.value == "PENDING" for o in runner.open_orders.values()):
            return
        await asyncio.sleep(0)


def _iso(value: TimeLike) -> str | None:
    if value is None:
        return None
    from datetime import datetime, timezone

    ns = to_ns(value)
    assert ns is not None
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat()


class _ProgressBar:
    def __init__(self, out: TextIO, total: int, width: int = 30) -> None:
        self.out = out
        self.total = max(total, 1)
        self.width = width
        self.last = -1

    def show(self, done: int, *, final: bool = False) -> None:
        fraction = min(done / self.total, 1.0)
        percent = int(fraction * 100)
        if percent == self.last:
            if final:
                self.out.write("\n")
                self.out.flush()
            return
        self.last = percent
        filled = int(fraction * self.width)
        self.out.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}% "
                       f"{done}/{self.total} updates")
        if final:
            self.out.write("\n")
        self.out.flush()


def load_strategy_class(spec: str) -> Callable[[], Any]:
    """``path/to/file.py:Class`` or ``package.module:Class``: the class (or factory)."""
    import importlib
    import importlib.util

    source, _, attr = spec.rpartition(":")
    if not source or not attr:
        raise BacktestError(f"strategy {spec!r}: write FILE.py:Class or module:Class")
    try:
        if source.endswith(".py"):
            path = Path(source)
            if not path.is_file():
                raise BacktestError(f"strategy {spec!r}: no such file {source}")
            module_spec = importlib.util.spec_from_file_location(
                f"stockfish_user_strategy_{path.stem}", path)
            if module_spec is None or module_spec.loader is None:
                raise BacktestError(f"strategy {spec!r}: cannot load {source}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_spec.name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(source)
    except BacktestError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the user's file raises on import
        raise BacktestError(f"strategy {spec!r}: {source} does not import: "
                            f"{type(exc).__name__}: {exc}") from None
    target = getattr(module, attr, None)
    if target is None:
        names = sorted(n for n, v in vars(module).items()
                       if isinstance(v, type) and v.__module__ == module.__name__)
        raise BacktestError(f"strategy {spec!r}: {source} has no {attr!r} (classes there: "
                            f"{', '.join(names) or 'none'})")
    if not callable(target):
        raise BacktestError(f"strategy {spec!r}: {attr} is not a class")
    result: Callable[[], Any] = target
    return result
