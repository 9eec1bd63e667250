"""Historical bars through the ``stockfish_history`` hook, cached on disk as Parquet.

``manager.history(symbol, start, end, interval)`` asks the cache first; only the parts of
the range it does not hold are asked of the venue (one hook call per missing part), and
each answer is stored as one file whose name is the range it covers::

    CACHE/venue=sim/symbol=SPY/interval=1m/<start_ns>-<end_ns>.parquet

A range asked for again comes from the cache alone (``refresh=True`` asks the venue
again). The cache folder is ``manager: {history_cache: DIR}`` in the YAML, else
``$XDG_CACHE_HOME/stockfish/history`` (``~/.cache/stockfish/history``).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import StockfishError
from ..models import OHLCVBar
from ..sim.market import parse_interval
from .schema import TS, _to_decimal, decimal_to_float
from .settings import HistoryRequest, TimeLike, to_ns

if TYPE_CHECKING:
    import pandas

    from ..manager import ExchangeManager
    from ..venues import VenueState

__all__ = ["BAR_SCHEMA", "HistoryCache", "default_cache_dir", "history", "history_async",
           "to_frame"]

log = logging.getLogger("stockfish.history")

SCALE = 10
_DEC = pa.decimal128(38, SCALE)
BAR_SCHEMA = pa.schema([("ts", TS), ("open", _DEC), ("high", _DEC), ("low", _DEC),
                        ("close", _DEC), ("volume", _DEC)])
_FILE = re.compile(r"^(\d+)-(\d+)\.parquet$")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stockfish" / "history"


def _segment(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "_"


class HistoryCache:
    """Bars on disk, one file per fetched range."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, venue: str, symbol: str, interval: str) -> Path:
        return (self.root / f"venue={_segment(venue)}" / f"symbol={_segment(symbol)}"
                / f"interval={_segment(interval)}")

    def ranges(self, venue: str, symbol: str, interval: str) -> list[tuple[int, int, Path]]:
        folder = self.folder(venue, symbol, interval)
        if not folder.is_dir():
            return []
        out = []
        for path in folder.iterdir():
            match = _FILE.match(path.name)
            if match:
                out.append((int(match.group(1)), int(match.group(2)), path))
        return sorted(out)

    def missing(self, venue: str, symbol: str, interval: str, start: int,
                end: int) -> list[tuple[int, int]]:
        """The parts of ``[start, end)`` no cached file covers."""
        gaps = []
        cursor = start
        for a, b, _ in self.ranges(venue, symbol, interval):
            if b <= cursor:
                continue
            if a >= end:
                break
            if a > cursor:
                gaps.append((cursor, a))
            cursor = max(cursor, b)
            if cursor >= end:
                break
        if cursor < end:
            gaps.append((cursor, end))
        return gaps

    def store(self, venue: str, symbol: str, interval: str, start: int, end: int,
              bars: Sequence[OHLCVBar]) -> Path:
        folder = self.folder(venue, symbol, interval)
        folder.mkdir(parents=True, exist_ok=True)
        columns = [pa.array([b.timestamp_ns for b in bars], pa.int64()).cast(TS)]
        for name in ("open", "high", "low", "close", "volume"):
            array, inexact = _to_decimal([getattr(b, name) for b in bars], SCALE)
            if inexact:
                log.warning("history %s %s: %d values with more than %d decimals stored "
                            "rounded", symbol, interval, inexact, SCALE)
            columns.append(array)
        table = pa.Table.from_arrays(columns, schema=BAR_SCHEMA)
        path = folder / f"{start}-{end}.parquet"
        partial = path.with_name(path.name + ".partial")
        pq.write_table(table, partial)
        os.replace(partial, path)  # a file is either complete or absent
        return path

    def load(self, venue: str, symbol: str, interval: str, start: int, end: int) -> pa.Table:
        """The cached bars starting in ``[start, end)``, oldest first, each once."""
        paths = [p for a, b, p in self.ranges(venue, symbol, interval) if a < end and b > start]
        if not paths:
            return BAR_SCHEMA.empty_table()
        table = pa.concat_tables([pq.read_table(p) for p in paths])
        ts = table.column("ts")
        table = table.filter(pc.and_(pc.greater_equal(ts, pa.scalar(start, TS)),
                                     pc.less(ts, pa.scalar(end, TS))))
        table = table.sort_by("ts")
        if table.num_rows > 1:  # ranges fetched separately may share a bar
            ints = table.column("ts").cast(pa.int64()).to_numpy()
            keep = [True, *(ints[1:] != ints[:-1]).tolist()]
            table = table.filter(pa.array(keep))
        return table


def _history_venue(manager: ExchangeManager, connector: str | None) -> VenueState:
    if connector is not None:
        venue = manager._venue(connector)
        hooks = venue.connector.hooks
        if hooks is None or not hooks.has("stockfish_history"):
            raise StockfishError(f"connector {connector} (plugin {venue.connector.plugin}) "
                                 "offers no history")
        return venue
    for venue in manager._venues.values():
        hooks = venue.connector.hooks
        if hooks is not None and hooks.has("stockfish_history"):
            return venue
    raise StockfishError("no connector offers history (connectors: "
                         f"{', '.join(manager._venues) or 'none'})")


async def history_async(manager: ExchangeManager, symbol: str, start: TimeLike, end: TimeLike,
                        interval: str = "1m", connector: str | None = None, *,
                        refresh: bool = False) -> pa.Table:
    """The bars as a pyarrow Table (``ts`` and exact decimal prices); see :func:`history`."""
    start_ns, end_ns = to_ns(start), to_ns(end)
    if start_ns is None or end_ns is None:
        raise ValueError("history needs a start and an end")
    if not symbol:
        raise ValueError("history needs a symbol")
    parse_interval(interval)  # a clear error for an interval no one understands
    HistoryRequest(symbol, start_ns, end_ns, interval)
    venue = _history_venue(manager, connector)
    root = manager.config.history_cache
    cache = HistoryCache(root if root is not None else default_cache_dir())
    gaps = [(start_ns, end_ns)] if refresh else cache.missing(venue.name, symbol, interval,
                                                               start_ns, end_ns)
    for a, b in gaps:
        began = time.monotonic()
        result = await venue.hooks.history(HistoryRequest(symbol, a, b, interval))
        if result is None:
            raise StockfishError(f"connector {venue.name} returned no history for {symbol}")
        bars = [bar for bar in result if isinstance(bar, OHLCVBar)]
        if len(bars) != len(result):
            raise StockfishError(f"connector {venue.name} returned {len(result) - len(bars)} "
                                 "history items that are not bars")
        cache.store(venue.name, symbol, interval, a, b, bars)
        log.info("history %s %s %s: %d bars from %s in %.2fs", venue.name, symbol, interval,
                 len(bars), venue.name, time.monotonic() - began)
    return cache.load(venue.name, symbol, interval, start_ns, end_ns)


def to_frame(table: pa.Table) -> pandas.DataFrame:
    """Bars as a DataFrame indexed by ``ts`` (UTC), prices as the nearest floats."""
    columns: dict[str, Any] = {"ts": table.column("ts")}
    for name in ("open", "high", "low", "close", "volume"):
        columns[name] = decimal_to_float(table.column(name))
    frame = pa.table(columns).to_pandas()
    return frame.set_index("ts")


def history(manager: ExchangeManager, symbol: str, start: TimeLike, end: TimeLike,
            interval: str = "1m", connector: str | None = None, *,
            refresh: bool = False) -> pandas.DataFrame:
    """``manager.history``: the bars as a pandas DataFrame (blocking; not on the loop)."""
    table = manager._run(history_async(manager, symbol, start, end, interval, connector,
                                       refresh=refresh))
    return to_frame(table)
