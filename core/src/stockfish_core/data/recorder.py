"""The recorder: every update the manager delivers, written to Parquet by a background
thread.

The manager hands the recorder each batch it delivered, in one call
(:meth:`Recorder.on_update_batch`: the recorder is an ordinary subscriber); that call only
filters (when the recording is narrowed) and appends the list to a queue. A thread of its
own, ``stockfish-recorder``, takes the queue every ``flush_interval``, reads the updates'
values out of the Python objects a column at a time (one C pass per object:
:class:`~stockfish_core.data.schema.AttributeColumns`), converts them to typed Arrow
columns in numpy and Arrow, and writes Parquet row groups. Nothing the recorder does can
stall delivery: when the queue holds ``max_queue`` updates, further ones are dropped
FROM THE RECORDING (counted as ``dropped_queue_full``, one warning a second at most),
never from delivery.

Layout (hive partitions, readable by pyarrow, DuckDB, polars, Spark)::

    DIR/date=2026-12-07/type=price_tick/venue=sim/part-<first rec_seq>.parquet

``date`` is the UTC date of the receive time, ``venue`` the connector. A file being
written is named ``*.parquet.partial`` and renamed when it is closed, so every
``*.parquet`` file is complete. Files close after ``rotate_seconds`` or ``rotate_bytes``;
after a crash (SIGKILL) the ``.partial`` files of that moment are what is lost: at most
the last ``rotate_seconds + flush_interval`` of each partition.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..models import (
    DataType,
    MacroEvent,
    MarketUpdate,
    NewsEvent,
    OHLCVBar,
    OrderBookSnapshot,
    PriceTick,
    Trade,
)
from .schema import (
    DICTIONARY_COLUMNS,
    ENVELOPE_NAMES,
    FORMAT_VERSION,
    STATISTICS_COLUMNS,
    TS,
    batch_from_columns,
    check_payload,
    envelope_columns,
    schema_for,
)
from .settings import RecordingConfig

__all__ = ["PARTIAL_SUFFIX", "Recorder"]

log = logging.getLogger("stockfish.recorder")

PARTIAL_SUFFIX = ".partial"
_DAY_NS = 86_400 * 1_000_000_000

PartitionKey = tuple[int, DataType, str]

#: The payload class of each data type whose payload needs no check beyond its class
#: (a custom payload is also checked for JSON).
_PLAIN_CLASSES: dict[DataType, type] = {
    DataType.PRICE_TICK: PriceTick, DataType.ORDERBOOK_SNAPSHOT: OrderBookSnapshot,
    DataType.OHLCV_BAR: OHLCVBar, DataType.TRADE: Trade, DataType.NEWS: NewsEvent,
    DataType.MACRO: MacroEvent,
}


class _OpenFile:
    __slots__ = ("final", "opened", "partial", "rows", "sink", "writer")

    def __init__(self, final: Path, schema: pa.Schema, compression: str) -> None:
        self.final = final
        self.partial = final.with_name(final.name + PARTIAL_SUFFIX)
        self.sink = pa.OSFile(str(self.partial), "wb")
        names = set(schema.names)
        self.writer = pq.ParquetWriter(
            self.sink, schema, compression=None if compression == "none" else compression,
            use_dictionary=[c for c in DICTIONARY_COLUMNS if c in names],
            write_statistics=[c for c in STATISTICS_COLUMNS if c in names])
        self.opened = time.monotonic()
        self.rows = 0

    def close(self) -> int:
        """Close and rename to the final name; returns the file's size."""
        self.writer.close()
        size = self.sink.tell()
        self.sink.close()
        os.replace(self.partial, self.final)
        return int(size)


class Recorder:
    """Records delivered MarketUpdates to Parquet (see the module docstring).

    ``manager.record(path)`` makes one and attaches it; or attach by hand with
    ``manager.add_subscriber(recorder)`` after :meth:`start`. :meth:`close` writes what is
    queued and closes every file.
    """

    def __init__(self, config: RecordingConfig) -> None:
        self.config = config
        self.path = Path(config.path)
        self._types = frozenset(config.types) if config.types else None
        self._symbols = frozenset(config.symbols) if config.symbols else None
        self._connectors = frozenset(config.connectors) if config.connectors else None
        self._filtering = not (self._types is None and self._symbols is None
                               and self._connectors is None)
        #: Delivered updates waiting for the writer, a delivered batch (a list) at a time.
        self._queue: collections.deque[list[MarketUpdate]] = collections.deque()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._files: dict[PartitionKey, _OpenFile] = {}
        #: Per partition: the rows not yet written, as record batches, and their count.
        self._buffers: dict[PartitionKey, tuple[int, list[pa.RecordBatch]]] = {}
        self._dates: dict[int, str] = {}
        self._seq_base = time.time_ns()
        # Counters: the loop side writes queued/dropped/filtered, the writer the rest.
        self.queued = 0
        self.taken = 0
        self.dropped_queue_full = 0
        self.filtered = 0
        self.recorded = 0
        self.unrecordable = 0
        self.inexact_values = 0
        self.write_errors = 0
        self.lost_write_errors = 0
        self.files_closed = 0
        self.bytes_closed = 0
        #: CPU seconds the writer thread has used on updates (its own clock, read after
        #: each pass; its start-up, importing what Arrow needs, is not counted).
        self.writer_cpu = 0.0
        #: Set once the writer thread is started up and waiting for updates.
        self.ready = threading.Event()
        self._last_drop_log = 0.0
        self._last_error_log = 0.0
        self._wake_at = max(1, min(config.row_group_rows, config.max_queue // 2))

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Recorder:
        """Create the folder and start the writer thread (idempotent)."""
        if self._thread is not None:
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        left = sorted(self.path.glob(f"**/*.parquet{PARTIAL_SUFFIX}"))
        if left:
            log.warning("recording %s: %d unfinished file(s) from an earlier run (a crash); "
                        "their data is lost, e.g. %s", self.path, len(left), left[0])
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="stockfish-recorder",
                                        daemon=True)
        self._thread.start()
        log.info("recording to %s", self.path)
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, close every file and stop the thread."""
        thread = self._thread
        if thread is None:
            return
        self._stop = True
        self._wake.set()
        thread.join(timeout)
        if thread.is_alive():
            log.error("recording %s: the writer did not finish within %.0fs", self.path,
                      timeout)
            return
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    # -- the subscriber (manager loop) -------------------------------------------------
    def on_update_batch(self, updates: list[MarketUpdate]) -> None:
        """Queue the updates one manager call delivered, in order; never blocks. The
        manager hands them over at once (one call, one list), not one by one: with no
        ``types``, ``symbols`` or ``connectors`` to filter on, this costs the loop a
        few operations per batch, whatever its size."""
        if self._filtering:
            wanted = [u for u in updates if self._wanted(u)]
            self.filtered += len(updates) - len(wanted)
            updates = wanted
        n = len(updates)
        if not n:
            return
        depth = self.queued - self.taken
        room = self.config.max_queue - depth
        if n > room:
            self._dropped(n - max(room, 0))
            if room <= 0:
                return
            updates, n = updates[:room], room
        self._queue.append(updates)
        self.queued += n
        if depth < self._wake_at <= depth + n:  # a row group is waiting: wake the writer
            self._wake.set()

    def on_update(self, update: MarketUpdate) -> None:
        """Queue one update for the writer; never blocks (a recorder attached by hand
        with :meth:`ExchangeManager.add_subscriber` gets whole batches instead, through
        :meth:`on_update_batch`)."""
        self.on_update_batch([update])

    def _wanted(self, update: MarketUpdate) -> bool:
        if self._types is not None and update.data_type not in self._types:
            return False
        if self._connectors is not None and update.source not in self._connectors:
            return False
        return self._symbols is None or self._wanted_symbol(update)

    def _dropped(self, count: int) -> None:
        self.dropped_queue_full += count
        now = time.monotonic()
        if now - self._last_drop_log >= 1.0:
            self._last_drop_log = now
            log.warning("recording %s: queue full (%d updates waiting); %d updates "
                        "dropped from the recording so far (delivery is not affected)",
                        self.path, self.config.max_queue, self.dropped_queue_full)

    def _wanted_symbol(self, update: MarketUpdate) -> bool:
        symbols = self._symbols
        assert symbols is not None
        payload = update.payload
        if isinstance(payload, dict):
            return payload.get("symbol") in symbols
        symbol = getattr(payload, "symbol", None)
        if symbol is not None:
            return symbol in symbols
        return any(s in symbols for s in getattr(payload, "symbols", ()))

    def stats(self) -> dict[str, Any]:
        """Counters, for ``manager.get_stats()["recording"]``."""
        return {
            "path": str(self.path),
            "running": self.running,
            "queued": self.queued,
            "queue_depth": self.queued - self.taken,
            "recorded": self.recorded,
            "filtered": self.filtered,
            "dropped_queue_full": self.dropped_queue_full,
            "unrecordable": self.unrecordable,
            "inexact_values": self.inexact_values,
            "write_errors": self.write_errors,
            "lost_write_errors": self.lost_write_errors,
            "open_files": len(self._files),
            "files_closed": self.files_closed,
            "bytes_closed": self.bytes_closed,
            "writer_cpu_s": round(self.writer_cpu, 3),
        }

    # -- the writer thread -------------------------------------------------------------
    def _run(self) -> None:
        interval = self.config.flush_interval
        # The first timezone-aware timestamp array makes pyarrow import pandas (about a
        # second): pay it before data arrives, not in the first pass.
        schema_for(DataType.PRICE_TICK, self.config.decimal_scale).empty_table()
        pa.array([0], pa.int64()).cast(TS)
        cpu0 = time.thread_time()
        self.ready.set()
        while True:
            self._wake.wait(interval)
            self._wake.clear()
            stopping = self._stop
            try:
                self._drain()
                self._rotate(force=stopping)
            except Exception:
                log.exception("recording %s: writer pass failed", self.path)
            self.writer_cpu = time.thread_time() - cpu0
            if stopping:
                return

    def _drain(self) -> None:
        """Take the queue, turn it into Arrow record batches by partition (the Python
        objects are read once, here, and freed), and write the partitions that have no
        file yet or a row group's worth of rows."""
        queue = self._queue
        n = len(queue)
        if not n:
            return
        taken = list(itertools.chain.from_iterable(
            itertools.starmap(queue.popleft, itertools.repeat((), n))))
        n = len(taken)
        base = self._seq_base + self.taken
        self.taken += n
        envelope = dict(zip(ENVELOPE_NAMES, envelope_columns(taken), strict=True))
        del taken
        self._partition(envelope, base, n)
        rows = self.config.row_group_rows
        for key in [k for k, (count, _) in self._buffers.items() if count >= rows]:
            self._write(key)

    def _partition(self, envelope: dict[str, Any], base: int, n: int) -> None:
        """Split the drained updates by (day, data type, connector) and convert each part."""
        data_types: list[DataType] = envelope["data_type"]
        sources: list[str] = envelope["source"]
        recv = np.asarray(envelope["recv_ts_ns"], dtype=np.int64)
        unstamped = recv == 0
        days = np.where(unstamped, time.time_ns(), recv) // _DAY_NS
        first_type, first_source = data_types[0], sources[0]
        if data_types.count(first_type) == n and sources.count(first_source) == n and \
                days.min() == days.max():
            parts: list[tuple[PartitionKey, np.ndarray[Any, Any] | None]] = [
                ((int(days[0]), first_type, first_source or "unknown"), None)]
        else:
            type_codes = {t: i for i, t in enumerate(dict.fromkeys(data_types))}
            source_codes = {s: i for i, s in enumerate(dict.fromkeys(sources))}
            codes = (np.asarray(list(map(type_codes.__getitem__, data_types)), np.int64)
                     * len(source_codes)
                     + np.asarray(list(map(source_codes.__getitem__, sources)), np.int64))
            key = (days - days.min()) * (len(type_codes) * len(source_codes)) + codes
            order = np.argsort(key, kind="stable")
            ordered = key[order]
            cuts = np.nonzero(np.diff(ordered))[0] + 1
            parts = []
            for start, stop in zip([0, *cuts.tolist()], [*cuts.tolist(), n], strict=True):
                part = order[start:stop]
                i = int(part[0])
                parts.append(((int(days[i]), data_types[i], sources[i] or "unknown"), part))
        for key, rows in parts:
            self._convert(key, envelope, recv, base, rows)

    def _convert(self, key: PartitionKey, envelope: dict[str, Any],
                 recv: np.ndarray[Any, Any], base: int,
                 rows: np.ndarray[Any, Any] | None) -> None:
        day, data_type, source = key
        if rows is None:
            part = envelope
            seqs = np.arange(base, base + len(recv), dtype=np.int64)
            part_recv = recv
        else:
            pick = rows.tolist()
            part = {name: [column[i] for i in pick] for name, column in envelope.items()}
            seqs = rows + base
            part_recv = recv[rows]
        payloads: list[Any] = part["payload"]
        expected = _PLAIN_CLASSES.get(data_type)
        if expected is None or set(map(type, payloads)) != {expected}:
            keep = [i for i, (p, t) in enumerate(zip(payloads, part["data_type"],
                                                     strict=True))
                    if type(p) is expected or check_payload(MarketUpdate(t, p))]
            if len(keep) < len(payloads):
                self.unrecordable += len(payloads) - len(keep)
                kept = set(keep)
                bad = next(p for i, p in enumerate(payloads) if i not in kept)
                self._error(f"a {data_type.value} update with a {type(bad).__name__} "
                            "payload cannot be recorded")
                if not keep:
                    return
                part = {name: [column[i] for i in keep] for name, column in part.items()}
                seqs = seqs[keep]
                part_recv = part_recv[keep]
        part["recv_ts_ns"] = part_recv
        config = self.config
        if day not in self._dates:
            self._dates[day] = datetime.fromtimestamp(day * 86_400, tz=timezone.utc
                                                      ).strftime("%Y-%m-%d")
        try:
            batch, inexact = batch_from_columns(data_type, part, seqs, config.decimal_scale,
                                                config.book_depth)
        except Exception as exc:  # noqa: BLE001 - counted, logged, the writer goes on
            self.write_errors += 1
            self.lost_write_errors += len(seqs)
            self._error(f"converting {len(seqs)} {data_type.value} updates of {source} "
                        f"failed: {type(exc).__name__}: {exc}")
            return
        if inexact:
            if not self.inexact_values:
                log.warning("recording %s: values with more than %d decimals are stored "
                            "rounded (decimal_scale); counted as inexact_values", self.path,
                            config.decimal_scale)
            self.inexact_values += inexact
        count, batches = self._buffers.get(key, (0, []))
        batches.append(batch)
        self._buffers[key] = (count + batch.num_rows, batches)

    def _write(self, key: PartitionKey) -> None:
        """Write the partition's buffer in row groups of at most ``row_group_rows``,
        opening a file if need be and closing it when it reaches ``rotate_bytes``."""
        buffer = self._buffers.pop(key, None)
        if not buffer or not buffer[0]:
            return
        _count, batches = buffer
        table = pa.Table.from_batches(batches)
        rows = self.config.row_group_rows
        for offset in range(0, table.num_rows, rows):
            self._write_group(key, table.slice(offset, rows))

    def _write_group(self, key: PartitionKey, group: pa.Table) -> None:
        _day, data_type, source = key
        config = self.config
        count = group.num_rows
        try:
            file = self._files.get(key)
            if file is None:
                file = self._files[key] = self._open(key, group.column(0)[0].as_py())
            file.writer.write_table(group, row_group_size=count)
        except Exception as exc:  # noqa: BLE001 - counted, logged, the writer goes on
            self.write_errors += 1
            self.lost_write_errors += count
            self._error(f"writing {count} {data_type.value} updates of {source} "
                        f"failed: {type(exc).__name__}: {exc}")
            self._discard(key)
            return
        file.rows += count
        self.recorded += count
        if file.sink.tell() >= config.rotate_bytes:
            self._close(key)

    def _close(self, key: PartitionKey) -> None:
        file = self._files.pop(key, None)
        if file is None:
            return
        try:
            self.bytes_closed += file.close()
            self.files_closed += 1
        except Exception as exc:  # noqa: BLE001
            self.write_errors += 1
            self.lost_write_errors += file.rows
            self.recorded -= file.rows
            self._error(f"closing {file.final} failed: {type(exc).__name__}: {exc}")

    def _open(self, key: PartitionKey, first_seq: int) -> _OpenFile:
        day, data_type, source = key
        folder = (self.path / f"date={self._dates[day]}" / f"type={data_type.value}"
                  / f"venue={_safe(source)}")
        folder.mkdir(parents=True, exist_ok=True)
        schema = schema_for(data_type, self.config.decimal_scale).with_metadata(
            {"stockfish": f'{{"format": {FORMAT_VERSION}, "data_type": "{data_type.value}", '
                          f'"decimal_scale": {self.config.decimal_scale}}}'})
        return _OpenFile(folder / f"part-{first_seq}.parquet", schema, self.config.compression)

    def _rotate(self, force: bool) -> None:
        """Write buffers of files due to close, and close them; with ``force``, all."""
        now = time.monotonic()
        config = self.config
        due = set()
        for key, file in self._files.items():
            if force or now - file.opened >= config.rotate_seconds or \
                    file.sink.tell() >= config.rotate_bytes:
                due.add(key)
        if force:
            due.update(self._buffers)
        else:
            # A buffer with no open file yet opens one now, so the crash bound holds.
            for key in list(self._buffers):
                if key not in self._files:
                    self._write(key)
        for key in due:
            self._write(key)
            self._close(key)

    def _discard(self, key: PartitionKey) -> None:
        file = self._files.pop(key, None)
        if file is None:
            return
        self.lost_write_errors += file.rows
        self.recorded -= file.rows
        try:
            file.writer.close()
            file.sink.close()
        except Exception:  # noqa: BLE001 - already counted as lost
            pass

    def _error(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= 1.0:
            self._last_error_log = now
            log.warning("recording %s: %s (unrecordable so far: %d, write errors: %d)",
                        self.path, message, self.unrecordable, self.write_errors)


def _safe(name: str) -> str:
    """A connector name as a path segment."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "unknown"
