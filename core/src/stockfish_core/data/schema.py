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

import gc
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
    "ENVELOPE_NAMES",
    "FORMAT_VERSION",
    "STATISTICS_COLUMNS",
    "AttributeColumns",
    "Decoded",
    "batch_from_columns",
    "batch_from_updates",
    "decimal_to_float",
    "decode",
    "envelope_columns",
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
    return _decimals(pa.array(values, pa.float64()), scale)


#: Below this many units of the scale, a float times the power of ten, rounded, is the
#: unscaled decimal exactly (the product's rounding error and the float's distance to the
#: decimal it stands for add up to less than half a unit).
_FAST = float(2**50)


def _decimals(floats: pa.Array, scale: int) -> tuple[pa.Array, int]:
    """A float64 array to decimal128(38, scale), and the count of values that do not
    come back as the same float (stored rounded).

    Whole columns in numpy: the unscaled value is the float times 10**scale, rounded, as
    a 64-bit integer, sign-extended into the decimal's 128 bits. A value whose unscaled
    form reaches 2**50 (1e5 at scale 10: large volumes), or not a finite number, goes
    through Arrow's own cast, with the exactness check of :func:`decimal_to_float`.
    """
    n = len(floats)
    dec = pa.decimal128(38, scale)
    if n == 0:
        return pa.array([], dec), 0
    if floats.offset:
        floats = pa.concat_arrays([floats])  # a slice: its own buffers, from offset 0
    values = np.frombuffer(floats.buffers()[1], dtype=np.float64, count=n)
    valid = None
    if floats.null_count:
        valid = floats.is_valid().to_numpy(zero_copy_only=False)
        values = np.where(valid, values, 0.0)
    power = 10.0 ** scale
    with np.errstate(invalid="ignore", over="ignore"):
        unscaled = np.rint(values * power)
        fast = np.abs(unscaled) < _FAST  # False for NaN and infinities
    words = np.empty((n, 2), dtype=np.int64)
    ints = np.where(fast, unscaled, 0.0).astype(np.int64)
    words[:, 0] = ints
    words[:, 1] = ints >> 63
    back = ints / power  # one correctly rounded division of exact operands
    wrong = fast & (back != values)
    if valid is not None:
        wrong &= valid
    inexact = int(np.count_nonzero(wrong))
    slow = np.nonzero(~fast if valid is None else (~fast & valid))[0]
    if len(slow):
        exact, bad = _to_decimal_arrow(floats.take(pa.array(slow)), scale)
        raw = np.frombuffer(exact.buffers()[1], dtype=np.int64, count=2 * len(slow))
        words[slow] = raw.reshape(len(slow), 2)
        inexact += bad
    buffers = [floats.buffers()[0] if valid is not None else None, pa.py_buffer(words)]
    return pa.Array.from_buffers(dec, n, buffers, null_count=floats.null_count), inexact


def _to_decimal_arrow(floats: pa.Array, scale: int) -> tuple[pa.Array, int]:
    """Arrow's cast of floats to decimals, and the count that do not come back as the
    same float: the path of the values :func:`_decimals` does not take in numpy."""
    decimals = pc.cast(floats, pa.decimal128(38, scale), safe=False)
    back = decimal_to_float(decimals)
    same = pc.equal(back, floats)
    inexact = len(floats) - floats.null_count - (pc.sum(same).as_py() or 0)
    return decimals, int(inexact)


_EXACT = float(2**53)


def decimal_to_float(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Decimals to the nearest float64, exactly rounded (Arrow's own cast is not)."""
    values, valid = _decimal_floats(array)
    return pa.array(values, pa.float64(), mask=None if valid is None else ~valid)


def _decimal_floats(array: pa.Array | pa.ChunkedArray
                    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """Decimals to the nearest float64 in a numpy array, and where they are valid (None:
    no nulls; a null's float is 0).

    An unscaled value below 2**53 (after dropping trailing zeros) is divided by the
    power of ten in floating point: one correctly rounded operation on exact operands.
    Larger ones go through their decimal text, parsed with correct rounding.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    scale: int = array.type.scale
    n = len(array)
    if n == 0:
        return np.zeros(0, dtype=np.float64), None
    raw = np.frombuffer(array.buffers()[1], dtype=np.int64,
                        count=2 * (array.offset + n))[2 * array.offset:].reshape(n, 2)
    lo, hi = raw[:, 0], raw[:, 1]
    valid = None if array.null_count == 0 else array.is_valid().to_numpy(zero_copy_only=False)
    fits64 = hi == (lo >> 63)
    if valid is not None:
        lo = np.where(valid, lo, 0)
        fits64 |= ~valid
    if fits64.all():
        small = np.abs(lo) < _EXACT
        if small.all():  # the common case: one division
            return lo / np.power(10.0, scale), valid
        whole, rest = np.divmod(lo, 10 ** scale)  # large whole numbers (volumes): exact
        if (small | ((rest == 0) & (np.abs(whole) < _EXACT))).all():
            return np.where(small, lo / np.power(10.0, scale), whole.astype(np.float64)), valid
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
    if len(slow):
        texts = pc.cast(pc.cast(array.take(pa.array(slow)), pa.string()), pa.float64())
        out[slow] = texts.to_numpy(zero_copy_only=False)
    return out, valid


# -- updates -> record batch -----------------------------------------------------------
def _timestamps(values: Sequence[int] | np.ndarray[Any, Any]) -> pa.Array:
    """Integer nanoseconds to timestamps, 0 (not stamped) to null."""
    ints = values if isinstance(values, np.ndarray) else np.fromiter(values, np.int64,
                                                                      len(values))
    zero = ints == 0
    return pa.array(ints, TS, mask=zero if zero.any() else None)


def _int_array(values: Sequence[int | None]) -> pa.Array:
    """Python ints (or None) to int64."""
    try:
        return pa.array(np.fromiter(values, np.int64, len(values)))
    except TypeError:  # a None among them
        return pa.array(values, pa.int64())


def _string_array(values: Sequence[str | None]) -> pa.Array:
    """Python strings (or None) to an Arrow string array; one value on every row (a
    source, a stream) without converting each."""
    n = len(values)
    if n and isinstance(values[0], str) and values.count(values[0]) == n:
        return pa.repeat(pa.scalar(values[0], pa.string()), n)
    return pa.array(values, pa.string())


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


class AttributeColumns:
    """The values of some attributes of many objects of one slotted attrs class, a list
    per attribute, taken in one pass in C.

    ``gc.get_referents(*objects)`` lists what each object refers to, object after object:
    for an instance of a slotted class, its slot values in a fixed order and its class.
    Where that order is, is found once per class on a probe instance whose slots hold
    markers; the column of an attribute is then a slice of the list. This costs a
    fraction of one ``attrgetter`` pass per attribute (the recorder's main cost was
    taking 16 values out of each update that way). When the layout cannot be found (an
    interpreter that lays objects out otherwise), or the objects are not all exactly of
    the class (a subclass, a payload of the wrong type), or one has an attribute unset,
    the values are taken with ``attrgetter`` instead: the same lists.
    """

    def __init__(self, cls: type, names: Sequence[str]) -> None:
        self.cls = cls
        self.names = tuple(names)
        self._getters = [attrgetter(name) for name in self.names]
        self.layout = _slot_layout(cls, self.names)

    def __call__(self, objects: Sequence[Any]) -> list[list[Any]]:
        layout = self.layout
        if layout is not None and objects and set(map(type, objects)) == {self.cls}:
            width, at = layout
            refs = gc.get_referents(*objects)
            if len(refs) == width * len(objects):  # no slot left unset
                return [refs[i::width] for i in at]
        return [list(map(getter, objects)) for getter in self._getters]


def _slot_layout(cls: type, names: Sequence[str]) -> tuple[int, list[int]] | None:
    """How many referents an instance of ``cls`` has, and the place of each of
    ``names`` among them (None: not a layout :class:`AttributeColumns` can use)."""
    try:
        fields = [f.name for f in attrs.fields(cls)]
        probe: Any = object.__new__(cls)
        markers = {name: object() for name in fields}
        for name, marker in markers.items():
            object.__setattr__(probe, name, marker)
        refs = gc.get_referents(probe)
    except Exception:  # noqa: BLE001 - no usable layout: attrgetter it is
        return None
    place = {id(ref): i for i, ref in enumerate(refs)}
    if len(refs) != len(fields) + 1 or len(place) != len(refs) or id(cls) not in place:
        return None
    at = [place.get(id(markers[name]), -1) for name in names]
    if -1 in at:
        return None
    return len(refs), at


ENVELOPE_NAMES = ("data_type", "payload", "recv_ts_ns", "venue_ts_ns", "source", "stream",
                   "sequence_number")
#: The envelope columns of updates, in the order of :data:`ENVELOPE_NAMES`.
envelope_columns = AttributeColumns(MarketUpdate, ENVELOPE_NAMES)

#: Columns of each payload class after the envelope's: (attribute names, how each is
#: made an Arrow array). The symbol and the timestamp come first (the envelope's
#: ``symbol`` and ``ts``; None where the class has none).
_STRING, _INT, _FLOAT, _DECIMAL = "string", "int", "float", "decimal"
_PAYLOAD_FIELDS: dict[DataType, tuple[str | None, str | None, tuple[tuple[str, str], ...]]] = {
    DataType.PRICE_TICK: ("symbol", "timestamp_ns",
                          tuple((n, _DECIMAL) for n in _DECIMALS[DataType.PRICE_TICK])),
    DataType.OHLCV_BAR: ("symbol", "timestamp_ns",
                         (*((n, _DECIMAL) for n in _DECIMALS[DataType.OHLCV_BAR]),
                          ("interval", _STRING))),
    DataType.TRADE: ("symbol", "timestamp_ns",
                     (*((n, _DECIMAL) for n in _DECIMALS[DataType.TRADE]),
                      ("side", _STRING), ("trade_id", _STRING))),
    DataType.NEWS: (None, "timestamp_ns",
                    (("title", _STRING), ("content", _STRING), ("source", _STRING),
                     ("symbols", "symbols"), ("sentiment", _FLOAT),
                     ("confidence", _FLOAT))),
    DataType.MACRO: (None, "timestamp_ns",
                     (*((n, _DECIMAL) for n in _DECIMALS[DataType.MACRO]),
                      ("event", _STRING), ("country", _STRING), ("importance", _INT))),
    DataType.ORDERBOOK_SNAPSHOT: ("symbol", "timestamp_ns",
                                  (("bids", "levels"), ("asks", "levels"),
                                   ("sequence", _INT))),
}


def _payload_reader(data_type: DataType) -> AttributeColumns:
    symbol, stamp, fields = _PAYLOAD_FIELDS[data_type]
    names = [n for n in (symbol, stamp) if n is not None] + [n for n, _ in fields]
    return AttributeColumns(_PAYLOAD_CLASS[data_type], names)


_PAYLOAD_COLUMNS = {t: _payload_reader(t) for t in _PAYLOAD_FIELDS}

#: Columns worth a dictionary in Parquet (few distinct values) and those whose min/max
#: statistics let readers (DuckDB, polars, pyarrow filters) skip row groups. Statistics
#: on every decimal column cost more to write than the rest of a row together.
DICTIONARY_COLUMNS = ["source", "stream", "symbol", "interval", "side", "news_source",
                      "country", "event"]
STATISTICS_COLUMNS = ["rec_seq", "recv_ts", "venue_ts", "ts", "symbol", "sequence"]


def batch_from_updates(data_type: DataType, updates: Sequence[MarketUpdate],
                       rec_seqs: Sequence[int] | np.ndarray[Any, Any], scale: int,
                       book_depth: int | None = None) -> tuple[pa.RecordBatch, int]:
    """One record batch of ``updates`` (all of ``data_type``, payloads already checked
    with :func:`check_payload`); returns it and the count of inexact decimal values."""
    envelope = dict(zip(ENVELOPE_NAMES, envelope_columns(updates), strict=True))
    return batch_from_columns(data_type, envelope, rec_seqs, scale, book_depth)


def batch_from_columns(data_type: DataType, envelope: dict[str, Any],
                       rec_seqs: Sequence[int] | np.ndarray[Any, Any], scale: int,
                       book_depth: int | None = None) -> tuple[pa.RecordBatch, int]:
    """:func:`batch_from_updates` from the updates' envelope columns (as
    :data:`envelope_columns` gives them, by name; ``recv_ts_ns`` may be a numpy array)."""
    schema = schema_for(data_type, scale)
    payloads: list[Any] = envelope["payload"]
    n = len(payloads)
    inexact = 0
    extra: list[pa.Array] = []
    if data_type is DataType.CUSTOM:
        symbols: list[Any] = [p.get("symbol") if isinstance(p.get("symbol"), str) else None
                              for p in payloads]
        stamps: Any = np.zeros(n, dtype=np.int64)
        extra.append(pa.array([encode_custom(p) for p in payloads], pa.string()))
    else:
        symbol_name, _stamp, fields = _PAYLOAD_FIELDS[data_type]
        values = _PAYLOAD_COLUMNS[data_type](payloads)
        if symbol_name is None:
            symbols = [None] * n
            stamps, values = values[0], values[1:]
        else:
            symbols, stamps, values = values[0], values[1], values[2:]
        by_name = {}
        for (name, kind), column in zip(fields, values, strict=True):
            if kind == _DECIMAL:
                array, bad = _decimals(pa.array(column, pa.float64()), scale)
                inexact += bad
            elif kind == "levels":
                array, bad = _levels(column, scale, book_depth)
                inexact += bad
            elif kind == "symbols":
                array = pa.array([list(s) for s in column], pa.list_(pa.string()))
            else:
                array = pa.array(column, _KINDS[kind])
            by_name[name] = array
        # In the schema's column order (a news item's ``source`` is ``news_source``).
        for field in schema.names[len(ENVELOPE):]:
            extra.append(by_name["source" if field == "news_source" else
                                 "sequence" if field == "book_sequence" else field])
    columns: list[pa.Array] = [
        pa.array(rec_seqs, pa.int64()),
        _timestamps(envelope["recv_ts_ns"]),
        _timestamps(envelope["venue_ts_ns"]),
        _string_array(envelope["source"]),
        _string_array(envelope["stream"]),
        _int_array(envelope["sequence_number"]),
        _string_array(symbols),
        _timestamps(stamps),
        *extra,
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema), inexact


_KINDS = {_STRING: pa.string(), _INT: pa.int64(), _FLOAT: pa.float64()}


def _levels(sides: Sequence[list[OrderBookLevel]], scale: int,
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
    if pa.types.is_decimal(column.type):
        values, valid = _decimal_floats(column)
        if valid is None:
            return values
        out: list[Any] = values.tolist()
        for i in np.nonzero(~valid)[0].tolist():
            out[i] = None
        return out
    if column.null_count == 0:
        return column.to_numpy()  # type: ignore[no-any-return]
    return column.to_pylist()  # type: ignore[no-any-return]


def _strings(table: pa.Table, name: str) -> list[str | None]:
    """A string column as Python strings, one object per distinct value (a dictionary
    encoding: a symbol, source or stream repeats on most rows)."""
    column = table.column(name)
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    n = len(array)
    if n and array.null_count == 0:
        first = array[0]
        if pc.all(pc.equal(array, first)).as_py():  # one value (a source, a stream)
            return [first.as_py()] * n
    encoded = pc.dictionary_encode(array, null_encoding="encode")
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
