"""Reading a recording back: :func:`read` gives a pyarrow Table or a pandas DataFrame.

The same files are plain hive-partitioned Parquet; other tools read them directly::

    duckdb.sql("SELECT * FROM read_parquet('rec/*/type=price_tick/*/*.parquet', "
               "hive_partitioning=true) WHERE symbol = 'SPY'")
    polars.scan_parquet("rec/*/type=price_tick/*/*.parquet", hive_partitioning=True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ..models import DataType, MarketUpdate
from .schema import TS, decimal_to_float, updates_from_table
from .settings import TimeLike, to_ns

__all__ = ["Selection", "TimeLike", "files", "read", "read_updates", "to_ns"]

_PART = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def _types(types: Iterable[DataType | str] | None) -> list[DataType]:
    if types is None:
        return list(DataType)
    if isinstance(types, (str, DataType)):
        types = [types]
    out = []
    for t in types:
        try:
            out.append(DataType(t))
        except ValueError:
            known = ", ".join(d.value for d in DataType)
            raise ValueError(f"unknown data type {t!r} (known: {known})") from None
    return out


class Selection:
    """Which part of a recording: symbols, types, connectors (venues), a receive-time
    range ``[start, end)``."""

    def __init__(self, path: str | Path, *, symbols: Iterable[str] | str | None = None,
                 types: Iterable[DataType | str] | DataType | str | None = None,
                 venues: Iterable[str] | str | None = None, start: TimeLike = None,
                 end: TimeLike = None) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"no recording at {self.path} (not a folder)")
        self.symbols = None if symbols is None else (
            {symbols} if isinstance(symbols, str) else set(symbols))
        self.types = _types(types)  # type: ignore[arg-type]
        self.venues = None if venues is None else ({venues} if isinstance(venues, str)
                                                   else set(venues))
        self.start = to_ns(start)
        self.end = to_ns(end)
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")

    def days(self) -> list[tuple[date, Path]]:
        """The date partitions in the selection's time range, in order."""
        out = []
        first = None if self.start is None else _day(self.start)
        last = None if self.end is None else _day(self.end - 1)
        for folder in sorted(self.path.iterdir()):
            match = _PART.match(folder.name)
            if match is None or not folder.is_dir():
                continue
            day = date.fromisoformat(match.group(1))
            if (first is not None and day < first) or (last is not None and day > last):
                continue
            out.append((day, folder))
        return out

    def files(self, data_type: DataType, day: date | None = None) -> list[Path]:
        """The closed files of ``data_type`` in the selection (of one ``day``), in order."""
        out: list[Path] = []
        # One day's folder is looked up, not found by listing every day (a recording of
        # years of daily bars has thousands: reading it day by day was quadratic).
        if day is not None and not (
                (self.start is None or day >= _day(self.start))
                and (self.end is None or day <= _day(self.end - 1))):
            return out
        days = self.days() if day is None else [
            (day, self.path / f"date={day.isoformat()}")]
        for _folder_day, folder in days:
            if not folder.is_dir():
                continue
            type_dir = folder / f"type={data_type.value}"
            if not type_dir.is_dir():
                continue
            for venue_dir in sorted(type_dir.iterdir()):
                venue = venue_dir.name.removeprefix("venue=")
                if self.venues is not None and venue not in self.venues:
                    continue
                out.extend(sorted(venue_dir.glob("*.parquet"),
                                  key=lambda p: _part_number(p.name)))
        return out

    def table(self, data_type: DataType, day: date | Sequence[date] | None = None
              ) -> pa.Table | None:
        """The rows of one data type (of one ``day``, or of several days read in one
        pass), in recording order (None if there are none)."""
        if isinstance(day, date) or day is None:
            paths = self.files(data_type, day)
        else:
            paths = [p for d in day for p in self.files(data_type, d)]
        if not paths:
            return None
        # The time and symbol selection goes into the Parquet read: row groups whose
        # statistics (recv_ts, symbol) rule them out are not read at all.
        condition = None
        if self.start is not None:
            condition = _and_expr(condition, ds.field("recv_ts") >= pa.scalar(self.start, TS))
        if self.end is not None:
            condition = _and_expr(condition, ds.field("recv_ts") < pa.scalar(self.end, TS))
        if self.symbols is not None and data_type is not DataType.NEWS:
            wanted = pa.array(sorted(self.symbols), pa.string())
            condition = _and_expr(condition, ds.field("symbol").isin(wanted))
        if len(paths) == 1 and condition is None:
            table = pq.read_table(paths[0])
        else:
            # Every file in one scan: a file per day of daily bars is thousands of files,
            # and opening each on its own cost more than reading its rows. The scan keeps
            # the files' order.
            table = ds.dataset([str(p) for p in paths], format="parquet").to_table(
                filter=condition)
        if self.symbols is not None and data_type is DataType.NEWS:
            hits = [bool(self.symbols.intersection(s or ()))
                    for s in table.column("symbols").to_pylist()]
            table = table.filter(pa.array(hits, pa.bool_()))
        if table.num_rows == 0:
            return None
        if len(paths) > 1:
            table = _recording_order(table)
        return table


def _recording_order(table: pa.Table) -> pa.Table:
    """Rows by day (the date partition, of their receive time), then by rec_seq: the
    order the recording was played in, day by day."""
    import pyarrow.compute as pc

    day = pc.divide(table.column("recv_ts").cast(pa.int64()), pa.scalar(_DAY_NS, pa.int64()))
    keyed = table.append_column("__day", day)
    return keyed.sort_by([("__day", "ascending"), ("rec_seq", "ascending")]).drop_columns(
        ["__day"])


_DAY_NS = 86_400_000_000_000


def _and_expr(condition: ds.Expression | None, other: ds.Expression) -> ds.Expression:
    return other if condition is None else condition & other


def _day(ns: int) -> date:
    return date(1970, 1, 1) + timedelta(days=ns // 86_400_000_000_000)


def _part_number(name: str) -> int:
    try:
        return int(name.removeprefix("part-").removesuffix(".parquet"))
    except ValueError:
        return 0


def files(path: str | Path, **selection: Any) -> dict[DataType, list[Path]]:
    """The closed Parquet files of a recording, by data type."""
    sel = Selection(path, **selection)
    return {t: f for t in sel.types if (f := sel.files(t))}


def read(path: str | Path, *, symbols: Iterable[str] | str | None = None,
         types: Sequence[DataType | str] | DataType | str | None = None,
         venues: Iterable[str] | str | None = None, start: TimeLike = None,
         end: TimeLike = None, pandas: bool = False, decimals: bool = True) -> Any:
    """A recording (or part of it) as one pyarrow Table, or a pandas DataFrame.

    Rows come in recording order (the order the manager delivered them) with a
    ``data_type`` column; a table of several types has the union of their columns
    (null where a column does not apply). ``start``/``end`` select on the receive time,
    ``[start, end)``: datetimes (naive ones are UTC), dates, ISO strings or nanoseconds.
    ``decimals=False`` gives prices and sizes as float64 instead of exact decimals
    (the nearest float, the value the feed delivered). ``pandas=True`` returns a
    DataFrame (needs pandas: ``pip install 'stockfish-core[data]'``).
    """
    sel = Selection(path, symbols=symbols, types=types, venues=venues, start=start, end=end)
    tables = []
    for data_type in sel.types:
        table = sel.table(data_type)
        if table is None:
            continue
        tables.append(table.add_column(
            1, "data_type", pa.array([data_type.value] * table.num_rows, pa.string())))
    if not tables:
        result = pa.table({"rec_seq": pa.array([], pa.int64()),
                           "data_type": pa.array([], pa.string())})
    elif len(tables) == 1:
        result = tables[0]
    else:
        result = pa.concat_tables(tables, promote_options="default").sort_by("rec_seq")
    if not decimals:
        result = _floats(result)
    result = result.replace_schema_metadata(None)
    if pandas:
        return result.to_pandas()
    return result


def _floats(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if pa.types.is_decimal(field.type):
            table = table.set_column(i, field.name, decimal_to_float(table.column(i)))
    return table


def read_updates(path: str | Path, **selection: Any) -> list[MarketUpdate]:
    """The recorded MarketUpdates themselves, in recording order."""
    sel = Selection(path, **selection)
    merged: list[tuple[int, MarketUpdate]] = []
    for data_type in sel.types:
        table = sel.table(data_type)
        if table is None:
            continue
        seqs = table.column("rec_seq").to_pylist()
        merged.extend(zip(seqs, updates_from_table(data_type, table), strict=True))
    merged.sort(key=lambda item: item[0])
    return [u for _, u in merged]
