"""The Parquet schemas of a recording, and MarketUpdates to Arrow record batches and back.

Every data type has its own typed, columnar schema; every schema starts with the
envelope columns:

=============  ==========================  ==================================================
column         type                        what
=============  ==========================  ==================================================
rec_seq        int64                       recording order (delivery order of the manager)
recv_ts        timestamp[ns, UTC]          when this process received the update
venue_ts       timestamp[ns, UTC], null    when the venue stamped it (null: not stamped)
source         string                      the connector that delivered it
stream         string                      the sequence space inside the connector
sequence       int64, null                 the update's sequence number
symbol         string, null                the payload's symbol
ts             timestamp[ns, UTC], null    the payload's own ``timestamp_ns``
=============  ==========================  ==================================================

Prices, sizes, volumes and economic values are ``decimal128(38, scale)``: exact decimal
numbers, not binary floats. The models carry floats; a float is converted to the
nearest decimal at the scale (450.01 -> 450.0100000000) and back to the nearest float
(the same float, whenever it has at most ``scale`` decimals). Sentiment and confidence
are scores, not quoted numbers: float64. Custom payloads (free-form dicts) are JSON text,
with Decimals kept exact as ``{"$decimal": "1.25"}``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any, Union

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..hotpath import without_gc
from ..models import (
    DataType,
    MacroEvent,
    MarketUpdate,
    NewsEvent,
    OHLCVBar,
    OrderBookLevel,
    OrderBookSnapshot,
    PriceTick,
    Trade,
)

__all__ = [
    "DICTIONARY_COLUMNS",
    "ENVELOPE",
    "FORMAT_VERSION",
    "STATISTICS_COLUMNS",
    "Decoded",
    "batch_from_updates",
    "decimal_to_float",
    "decode",
    "schema_for",
    "updates_from_table",
]

#: Written into every file's metadata under ``stockfish``.
FORMAT_VERSION = 1

TS = pa.timestamp("ns", tz="UTC")

ENVELOPE: list[tuple[str, pa.DataType]] = [
    ("rec_seq", pa.int64()),
    ("recv_ts", TS),
    ("venue_ts", TS),
    ("source", pa.string()),
    ("stream", pa.string()),
    ("sequence", pa.int64()),
    ("symbol", pa.string()),
    ("ts", TS),
]

#: Decimal fields of each payload class, in column order.
_DECIMALS: dict[DataType, tuple[str, ...]] = {
    DataType.PRICE_TICK: ("bid", "ask", "last", "bid_size", "ask_size", "last_size", "volume"),
    DataType.OHLCV_BAR: ("open", "high", "low", "close", "volume"),
    DataType.TRADE: ("price", "size"),
    DataType.MACRO: ("value", "forecast", "previous"),
}


def _level(scale: int) -> pa.DataType:
    dec = pa.decimal128(38, scale)
    return pa.struct([("price", dec), ("size", dec), ("orders", pa.int64())])


def schema_for(data_type: DataType, scale: int) -> pa.Schema:
    """The schema of ``data_type``'s files at decimal ``scale``."""
    dec = pa.decimal128(38, scale)
    fields: list[tuple[str, pa.DataType]] = list(ENVELOPE)
    fields += [(name, dec) for name in _DECIMALS.get(data_type, ())]
    if data_type is DataType.ORDERBOOK_SNAPSHOT:
        fields += [("bids", pa.list_(_level(scale))), ("asks", pa.list_(_level(scale))),
                   ("book_sequence", pa.int64())]
    elif data_type is DataType.OHLCV_BAR:
        fields += [("interval", pa.string())]
    elif data_type is DataType.TRADE:
        fields += [("side", pa.string()), ("trade_id", pa.string())]
    elif data_type is DataType.NEWS:
        fields += [("title", pa.string()), ("content", pa.string()),
                   ("news_source", pa.string()), ("symbols", pa.list_(pa.string())),
                   ("sentiment", pa.float64()), ("confidence", pa.float64())]
    elif data_type is DataType.MACRO:
        fields += [("event", pa.string()), ("country", pa.string()),
                   ("importance", pa.int64())]
    elif data_type is DataType.CUSTOM:
        fields += [("payload", pa.string())]
    return pa.schema(fields)


# -- floats <-> decimals ---------------------------------------------------------------
def _to_decimal(values: list[Any], scale: int) -> tuple[pa.Array, int]:
    """Floats (or None) to decimal128(38, scale); returns the array and how many values
    do not come back as the same float."""
    floats = pa.array(values, pa.float64())
    decimals = pc.cast(floats, pa.decimal128(38, scale), safe=False)
    back = decimal_to_float(decimals)
    same = pc.equal(back, floats)
    inexact = len(values) - floats.null_count - (pc.sum(same).as_py() or 0)
    return decimals, int(inexact)


_EXACT = float(2**53)


def decimal_to_float(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Decimals to the nearest float64, exactly rounded (Arrow's own cast is not).

    An unscaled value below 2**53 (after dropping trailing zeros) is divided by the
    power of ten in floating point: one correctly rounded operation on exact operands.
    Larger ones go through their decimal text, parsed with correct rounding.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    scale: int = array.type.scale
    n = len(array)
    if n == 0:
        return pa.array([], pa.float64())
    raw = np.frombuffer(array.buffers()[1], dtype=np.int64,
                        count=2 * (array.offset + n))[2 * array.offset:].reshape(n, 2)
    lo, hi = raw[:, 0], raw[:, 1]
    fits64 = hi == (lo >> 63)
    unscaled = np.where(fits64, lo, 0)
    exponent = np.full(n, scale, dtype=np.int64)
    big = fits64 & (np.abs(unscaled) >= _EXACT)
    for _ in range(scale):  # drop trailing zeros while that makes the value fit
        if not big.any():
            break
        divisible = big & (unscaled % 10 == 0) & (exponent > 0)
        unscaled = np.where(divisible, unscaled // 10, unscaled)
        exponent = np.where(divisible, exponent - 1, exponent)
        big = fits64 & (np.abs(unscaled) >= _EXACT)
    out = unscaled.astype(np.float64) / np.power(10.0, exponent)
    slow = np.nonzero(~fits64 | big)[0]
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    if len(slow):
        texts = pc.cast(pc.cast(array.take(pa.array(slow)), pa.string()), pa.float64())
        out[slow] = texts.to_numpy(zero_copy_only=False)
    return pa.array(out, pa.float64(), mask=~valid)


# -- updates -> record batch -----------------------------------------------------------
def _timestamps(values: list[int]) -> pa.Array:
    """Integer nanoseconds to timestamps, 0 (not stamped) to null."""
    ints = pa.array(values, pa.int64())
    return pc.if_else(pc.equal(ints, 0), pa.scalar(None, TS), ints.cast(TS))


def _custom_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    raise TypeError(f"a {type(value).__name__} cannot be recorded in a custom payload")


def _custom_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$decimal" in obj:
        return Decimal(obj["$decimal"])
    return obj


def encode_custom(payload: dict[str, Any]) -> str:
    return json.dumps(payload, default=_custom_default, separators=(",", ":"),
                      allow_nan=True)


def decode_custom(text: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(text, object_hook=_custom_hook)
    return result


class Unrecordable(ValueError):
    """An update whose payload does not fit its data type's schema."""


_PAYLOAD_CLASS: dict[DataType, type] = {
    DataType.PRICE_TICK: PriceTick,
    DataType.ORDERBOOK_SNAPSHOT: OrderBookSnapshot,
    DataType.OHLCV_BAR: OHLCVBar,
    DataType.TRADE: Trade,
    DataType.NEWS: NewsEvent,
    DataType.MACRO: MacroEvent,
    DataType.CUSTOM: dict,
}


def check_payload(update: MarketUpdate) -> bool:
    """Whether the update's payload is of its data type's class (and, for a custom
    payload, can be written as JSON)."""
    payload = update.payload
    if update.data_type is DataType.CUSTOM:
        if not isinstance(payload, dict):
            return False
        try:
            encode_custom(payload)
        except (TypeError, ValueError):
            return False
        return True
    return isinstance(payload, _PAYLOAD_CLASS[update.data_type])


_PAYLOAD = attrgetter("payload")
_STAMP = attrgetter("timestamp_ns")
_SYMBOL = attrgetter("symbol")
_RECV = attrgetter("recv_ts_ns")
_VENUE = attrgetter("venue_ts_ns")
_SOURCE = attrgetter("source")
_STREAM = attrgetter("stream")
_SEQUENCE = attrgetter("sequence_number")

#: Columns worth a dictionary in Parquet (few distinct values) and those whose min/max
#: statistics let readers (DuckDB, polars, pyarrow filters) skip row groups. Statistics
#: on every decimal column cost more to write than the rest of a row together.
DICTIONARY_COLUMNS = ["source", "stream", "symbol", "interval", "side", "news_source",
                      "country", "event"]
STATISTICS_COLUMNS = ["rec_seq", "recv_ts", "venue_ts", "ts", "symbol", "sequence"]


def batch_from_updates(data_type: DataType, updates: Sequence[MarketUpdate],
                       rec_seqs: Sequence[int], scale: int,
                       book_depth: int | None = None) -> tuple[pa.RecordBatch, int]:
    """One record batch of ``updates`` (all of ``data_type``, payloads already checked
    with :func:`check_payload`); returns it and the count of inexact decimal values."""
    schema = schema_for(data_type, scale)
    payloads = list(map(_PAYLOAD, updates))
    if data_type is DataType.CUSTOM:
        symbols: list[Any] = [p.get("symbol") if isinstance(p.get("symbol"), str) else None
                              for p in payloads]
        stamps = [0] * len(payloads)
    elif data_type in (DataType.NEWS, DataType.MACRO):
        symbols = [None] * len(payloads)
        stamps = list(map(_STAMP, payloads))
    else:
        symbols = list(map(_SYMBOL, payloads))
        stamps = list(map(_STAMP, payloads))
    columns: list[pa.Array] = [
        pa.array(rec_seqs, pa.int64()),
        _timestamps(list(map(_RECV, updates))),
        _timestamps(list(map(_VENUE, updates))),
        pa.array(list(map(_SOURCE, updates)), pa.string()),
        pa.array(list(map(_STREAM, updates)), pa.string()),
        pa.array(list(map(_SEQUENCE, updates)), pa.int64()),
        pa.array(symbols, pa.string()),
        _timestamps(stamps),
    ]
    inexact = 0
    names = _DECIMALS.get(data_type, ())
    if names:
        for name in names:
            array, bad = _to_decimal(list(map(attrgetter(name), payloads)), scale)
            columns.append(array)
            inexact += bad
    if data_type is DataType.ORDERBOOK_SNAPSHOT:
        for side in ("bids", "asks"):
            array, bad = _levels([getattr(p, side) for p in payloads], scale, book_depth)
            columns.append(array)
            inexact += bad
        columns.append(pa.array([p.sequence for p in payloads], pa.int64()))
    elif data_type is DataType.OHLCV_BAR:
        columns.append(pa.array([p.interval for p in payloads], pa.string()))
    elif data_type is DataType.TRADE:
        columns.append(pa.array([p.side for p in payloads], pa.string()))
        columns.append(pa.array([p.trade_id for p in payloads], pa.string()))
    elif data_type is DataType.NEWS:
        columns += [
            pa.array([p.title for p in payloads], pa.string()),
            pa.array([p.content for p in payloads], pa.string()),
            pa.array([p.source for p in payloads], pa.string()),
            pa.array([list(p.symbols) for p in payloads], pa.list_(pa.string())),
            pa.array([p.sentiment for p in payloads], pa.float64()),
            pa.array([p.confidence for p in payloads], pa.float64()),
        ]
    elif data_type is DataType.MACRO:
        columns += [
            pa.array([p.event for p in payloads], pa.string()),
            pa.array([p.country for p in payloads], pa.string()),
            pa.array([p.importance for p in payloads], pa.int64()),
        ]
    elif data_type is DataType.CUSTOM:
        columns.append(pa.array([encode_custom(p) for p in payloads], pa.string()))
    return pa.RecordBatch.from_arrays(columns, schema=schema), inexact


def _levels(sides: list[list[OrderBookLevel]], scale: int,
            depth: int | None) -> tuple[pa.Array, int]:
    offsets = [0]
    prices: list[float] = []
    sizes: list[float] = []
    orders: list[int | None] = []
    for levels in sides:
        if depth is not None and len(levels) > depth:
            levels = levels[:depth]
        for level in levels:
            prices.append(level.price)
            sizes.append(level.size)
            orders.append(level.orders)
        offsets.append(len(prices))
    price_array, bad_price = _to_decimal(prices, scale)
    size_array, bad_size = _to_decimal(sizes, scale)
    structs = pa.StructArray.from_arrays(
        [price_array, size_array, pa.array(orders, pa.int64())],
        fields=list(_level(scale)),
    )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), structs), bad_price + bad_size


# -- table -> updates ------------------------------------------------------------------
def _ints(table: pa.Table, name: str) -> Column:
    """An integer or timestamp column (None where null)."""
    column = table.column(name)
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    if column.null_count == 0:
        return column.to_numpy()  # type: ignore[no-any-return]
    values: list[Any] = column.to_pylist()
    return values


def _stamps(table: pa.Table, name: str) -> Column:
    """A timestamp column as integer nanoseconds, 0 where null (not stamped)."""
    return table.column(name).cast(pa.int64()).fill_null(0).to_numpy()  # type: ignore[no-any-return]


def _floats(table: pa.Table, name: str) -> Column:
    column = table.column(name)
    array = decimal_to_float(column) if pa.types.is_decimal(column.type) else column
    if array.null_count == 0:
        return array.to_numpy()  # type: ignore[no-any-return]
    return array.to_pylist()  # type: ignore[no-any-return]


def _strings(table: pa.Table, name: str) -> list[str | None]:
    """A string column as Python strings, one object per distinct value (a dictionary
    encoding: a symbol, source or stream repeats on most rows)."""
    column = table.column(name)
    if column.num_chunks != 1:
        column = column.combine_chunks()
        encoded = pc.dictionary_encode(column, null_encoding="encode")
    else:
        encoded = pc.dictionary_encode(column.chunk(0), null_encoding="encode")
    values = encoded.dictionary.to_pylist()
    return list(map(values.__getitem__, encoded.indices.to_numpy().tolist()))


def _same(value: Any) -> Any:
    return value


def _news(title: str, content: str, source: str, symbols: list[str] | None,
          sentiment: float | None, confidence: float | None, ts: int) -> NewsEvent:
    return NewsEvent(title, content, source, symbols or [], sentiment, confidence, ts)


#: A decoded column: a numpy array (numbers without nulls, turned into Python objects a
#: batch at a time) or a list of Python objects.
Column = Union["np.ndarray[Any, Any]", list[Any]]


def _rows(column: Column, start: int, stop: int) -> list[Any]:
    part = column[start:stop]
    if isinstance(part, np.ndarray):
        values: list[Any] = part.tolist()
        return values
    return part


@attrs.frozen
class Decoded:
    """The columns of a table ready to build updates from in slices: the Arrow work done
    once for many rows (:func:`decode`: decimals to floats, strings shared), the Python
    objects made per batch (:meth:`build`). Numbers stay in numpy arrays until their
    batch is built: making every row's floats at once wrote a million-row recording's
    12 million Python numbers to fresh memory, and cost as much as building the models.
    """

    data_type: DataType
    rec_seq: Column
    envelope: list[Column]  # source, sequence, venue_ts, recv_ts, stream
    factory: Callable[..., Any]
    args: list[Column]

    def __len__(self) -> int:
        return len(self.rec_seq)

    def build(self, start: int = 0, stop: int | None = None) -> list[MarketUpdate]:
        """The MarketUpdates of rows ``[start, stop)``.

        The cyclic garbage collector is paused meanwhile (as the zmq connector's hot path
        does): the payloads and envelopes built here hold floats, strings and each other,
        never a cycle, and a collection every few hundred of them only walks them, and
        every object alive, without freeing anything (most of the cost of building a
        recording that is kept: 5-7 us a row instead of about 1)."""
        return without_gc(self._build, start, stop)

    def _build(self, start: int, stop: int | None) -> list[MarketUpdate]:
        stop = len(self.rec_seq) if stop is None else stop
        payloads = list(map(self.factory, *(_rows(c, start, stop) for c in self.args)))
        source, sequence, venue, recv, stream = (_rows(c, start, stop)
                                                 for c in self.envelope)
        return list(map(MarketUpdate, [self.data_type] * (stop - start), payloads, source,
                        sequence, venue, recv, stream))


def decode(data_type: DataType, table: pa.Table) -> Decoded:
    """Decode a table of ``data_type``'s schema (see :class:`Decoded`)."""
    envelope = [_strings(table, "source"), _ints(table, "sequence"),
                _stamps(table, "venue_ts"), _stamps(table, "recv_ts"),
                _strings(table, "stream")]
    stamps = _stamps(table, "ts")
    factory: Callable[..., Any]
    args: list[Column]
    if data_type is DataType.CUSTOM:
        factory = _same
        args = [[decode_custom(t) for t in table.column("payload").to_pylist()]]
    elif data_type is DataType.NEWS:
        factory = _news
        args = [table.column(c).to_pylist() for c in
                ("title", "content", "news_source", "symbols", "sentiment", "confidence")]
        args.append(stamps)
    elif data_type is DataType.MACRO:
        factory = MacroEvent
        args = [table.column("event").to_pylist(), table.column("country").to_pylist(),
                *(_floats(table, c) for c in ("value", "forecast", "previous")),
                table.column("importance").to_pylist(), stamps]
    elif data_type is DataType.ORDERBOOK_SNAPSHOT:
        factory = OrderBookSnapshot
        args = [table.column("symbol").to_pylist(), _book_side(table.column("bids")),
                _book_side(table.column("asks")), table.column("book_sequence").to_pylist(),
                stamps]
    else:
        factory = _PAYLOAD_CLASS[data_type]
        args = [_strings(table, "symbol"), *(_floats(table, c) for c in _DECIMALS[data_type])]
        if data_type is DataType.OHLCV_BAR:
            args.append(table.column("interval").to_pylist())
        elif data_type is DataType.TRADE:
            args += [table.column("side").to_pylist(), table.column("trade_id").to_pylist()]
        args.append(stamps)
    return Decoded(data_type, _ints(table, "rec_seq"), envelope, factory, args)


def updates_from_table(data_type: DataType, table: pa.Table) -> list[MarketUpdate]:
    """The MarketUpdates of a table of one data type's schema, in the table's order."""
    return decode(data_type, table).build()


def _book_side(column: pa.ChunkedArray) -> list[list[OrderBookLevel]]:
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if len(array) == 0:
        return []
    flat = array.flatten()
    prices = decimal_to_float(flat.field("price")).to_pylist()
    sizes = decimal_to_float(flat.field("size")).to_pylist()
    orders = flat.field("orders").to_pylist()
    offsets = array.offsets.to_pylist()
    base = offsets[0]
    levels = list(map(OrderBookLevel, prices, sizes, orders))
    return [levels[a - base:b - base] for a, b in itertools.pairwise(offsets)]
