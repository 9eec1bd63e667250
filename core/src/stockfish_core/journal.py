"""The durable order journal: SQLite in WAL mode.

Every order is written here before it leaves the process, and every change and fill
after. A manager restarted on the same file reloads the orders that were still open and
reconciles them with their venues. Fills are keyed by (connector, execution id), so a
fill reported twice, also across a restart, is recorded once.

A journal created here is readable by its user alone (it holds the order flow): file
mode 0600, and its directory 0700 when that is created here too.

``synchronous=NORMAL`` (the default) survives a crash or kill of the process: a
committed write is in the operating system's hands. ``sync="full"`` also survives
power loss, at the cost of an fsync per write.

A manager with its journal on disk writes through :meth:`Journal.write_later`: its
writes go to a thread of their own, ``stockfish-journal-writer``, which commits
everything queued in one transaction (group commit: the more orders in flight, the more
one commit carries) and then reports each batch as committed. A new order is sent only
once the commit that holds it is reported; fills and status changes do not wait (a
change lost in a crash is recovered by reconciliation with the venue; fills are
de-duplicated by execution id). The manager's loop does not wait for SQLite: while one
commit is written, the next batch is being made. An in-memory journal (``:memory:``:
tests, backtests) is written on the manager's loop at the end of each loop iteration:
there is no file to wait for, and an order then reaches its venue in that iteration.

Checkpoints (copying the WAL back into the database file, with an fsync of each) run on
a thread of their own, ``stockfish-journal-checkpoint``, with a connection of its own. The
thread that writes, the writer thread, then never pays for one: left to itself, SQLite
would run it inside the commit that takes the WAL past 1000 pages, which stalls the
sends waiting for that commit by a millisecond or more.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import sqlite3
import threading
import typing
import weakref
from collections.abc import Callable
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import Any, TypeVar

import attrs

from .orders import FINAL_STATUSES, Fill, Order
from .serialization import OMITTED_WHEN_DEFAULT, from_dict, to_dict

__all__ = ["DEFAULT_RETENTION_DAYS", "Journal", "default_journal_path", "fill_body",
           "order_body"]

log = logging.getLogger("stockfish.journal")
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    connector       TEXT,
    status          TEXT NOT NULL,
    is_open         INTEGER NOT NULL,
    updated_ns      INTEGER NOT NULL,
    body            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_open ON orders (is_open) WHERE is_open = 1;
CREATE TABLE IF NOT EXISTS fills (
    connector       TEXT NOT NULL,
    execution_id    TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    body            TEXT NOT NULL,
    PRIMARY KEY (connector, execution_id)
);
CREATE INDEX IF NOT EXISTS fills_order ON fills (client_order_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

#: Final orders (and their fills) older than this many days are what ``stockfish journal
#: compact`` and ``stockfish journal archive`` remove by default. Open orders are never
#: removed, whatever their age.
DEFAULT_RETENTION_DAYS = 30.0

def _text(value: str | None) -> str:
    """A JSON string (or null), escaped as ``json.dumps`` escapes it."""
    return "null" if value is None else _quote(value)


def _number_text(value: Decimal | None) -> str:
    """A Decimal as the journal keeps it: its exact text, as a JSON string (or null)."""
    return "null" if value is None else f'"{value}"'


def _int_text(value: int | None) -> str:
    return "null" if value is None else f"{value:d}"


def _bool_text(value: bool | None) -> str:
    return "null" if value is None else ("true" if value else "false")


def _enum_text(value: enum.Enum | None) -> str:
    return "null" if value is None else _quote(value.value)


def _field_code(name: str, kind: Any) -> str | None:
    """The f-string part writing field ``name`` (of type ``kind``) as JSON, or None when
    the type is not one of the simple ones (the class then goes through cattrs)."""
    args = typing.get_args(kind)
    optional = type(None) in args
    if optional:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            return None
        kind = rest[0]
    attr = f"o.{name}"
    if kind is str:
        return f"{{_text({attr})}}" if optional else f"{{_quote({attr})}}"
    if kind is Decimal:
        return f"{{_number_text({attr})}}" if optional else f'"{{{attr}}}"'
    if kind is bool:
        return f"{{_bool_text({attr})}}"
    if kind is int:
        return f"{{_int_text({attr})}}" if optional else f"{{{attr}:d}}"
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        plain = all(isinstance(m.value, str) and m.value.isascii() and m.value.isprintable()
                    and not set(m.value) & set('"\\{}') for m in kind)
        if plain and not optional:
            return f'"{{{attr}.value}}"'
        return f"{{_enum_text({attr})}}"
    return None


def _body_writer(cls: type[T]) -> Callable[[T], str]:
    """``json.dumps(to_dict(obj), separators=(",", ":"))`` for an attrs class, made once
    from its fields: on every order's path, it is one f-string, a fraction of what
    cattrs and json cost. A class with a field of another type (not str, Decimal, int,
    bool, an enum, or one of these or None) is written by cattrs and json. Either way
    every field the class has, now or later, is in the journal."""
    hints = typing.get_type_hints(cls)
    parts = []
    omitted = []  # left out of the dict while they hold their default (serialization)
    for a in attrs.fields(cls):  # type: ignore[arg-type]
        if not a.init:  # not serialised (cattrs leaves such fields out)
            continue
        if a.name in OMITTED_WHEN_DEFAULT.get(cls, ()):
            if not a.name.isidentifier():
                return lambda obj: json.dumps(to_dict(obj), separators=(",", ":"))
            omitted.append((a.name, a.default))
            continue
        code = _field_code(a.name, hints.get(a.name))
        if code is None or not a.name.isidentifier():
            return lambda obj: json.dumps(to_dict(obj), separators=(",", ":"))
        parts.append(f'"{a.name}":{code}')
    namespace: dict[str, Any] = {"_quote": _quote, "_text": _text,
                                 "_number_text": _number_text, "_int_text": _int_text,
                                 "_bool_text": _bool_text, "_enum_text": _enum_text}
    text = "{{" + ",".join(parts) + "}}"
    # An object with one of the omitted fields set (rare: a trailing stop, a GTD order)
    # is written by cattrs and json, which leave out the others.
    rare = " or ".join(f"o.{name} != _defaults[{i}]" for i, (name, _) in enumerate(omitted))
    namespace["_defaults"] = tuple(default for _, default in omitted)
    namespace["_generic"] = lambda obj: json.dumps(to_dict(obj), separators=(",", ":"))
    check = f"    if {rare}:\n        return _generic(o)\n" if rare else ""
    exec(f"def write(o):\n{check}    return f{text!r}\n", namespace)
    return namespace["write"]  # type: ignore[no-any-return]


#: The JSON of an order as the journal stores it: ``to_dict(order)`` with
#: ``json.dumps(separators=(",", ":"))`` (a test keeps the two equal, character for
#: character).
order_body: Callable[[Order], str] = _body_writer(Order)
#: The JSON of a fill as the journal stores it (``to_dict(fill)``).
fill_body: Callable[[Fill], str] = _body_writer(Fill)


#: Rows per statement of a batch write (SQLite allows 32766 parameters per statement).
_CHUNK = 64


class _RowsStatement:
    """An INSERT of n rows at once, its SQL text made once per n."""

    def __init__(self, head: str, width: int, tail: str = "") -> None:
        self._head, self._tail = head, tail
        self._row = "(" + ", ".join("?" * width) + ")"
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        text = self._sql.get(rows)
        if text is None:
            text = self._sql[rows] = f"{self._head} VALUES {', '.join([self._row] * rows)}" \
                                     f"{self._tail}"
        return text


_FILL_INSERT = _RowsStatement(
    "INSERT OR IGNORE INTO fills (connector, execution_id, client_order_id, body)", 4)
_ORDER_UPSERT = _RowsStatement(
    "INSERT INTO orders (client_order_id, connector, status, is_open, updated_ns, body)", 6,
    " ON CONFLICT(client_order_id) DO UPDATE SET connector=excluded.connector,"
    " status=excluded.status, is_open=excluded.is_open, updated_ns=excluded.updated_ns,"
    " body=excluded.body")


def _order_row(o: Order) -> tuple[Any, ...]:
    """An order's values in the column order of _ORDER_UPSERT."""
    return (o.client_order_id, o.connector, o.status.value, int(o.status not in FINAL_STATUSES),
            o.updated_ns or o.created_ns, order_body(o))


def _fill_row(f: Fill) -> tuple[Any, ...]:
    """A fill's values in the column order of _FILL_INSERT."""
    return (f.connector or "", f.execution_id, f.client_order_id, fill_body(f))


#: Commits between two background checkpoints (each commit adds a few pages to the WAL);
#: an idle journal is checkpointed after at most _CHECKPOINT_INTERVAL seconds.
_CHECKPOINT_EVERY = 32
_CHECKPOINT_INTERVAL = 1.0


class _Checkpointer:
    """PASSIVE checkpoints of one WAL journal, on a thread started at the first commit.

    PASSIVE copies what it can without waiting for the writer and never blocks it. Should
    this thread fall behind, SQLite's own checkpoint in the writer's commit (at 1000 WAL
    pages) still bounds the WAL, and has little left to copy."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pending = 0
        #: Checkpoints run so far; ``changed`` is notified after each.
        self.checkpoints = 0
        self.changed = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """After each commit (under the journal's lock)."""
        self.pending += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="stockfish-journal-checkpoint")
            self._thread.start()
        elif self.pending >= _CHECKPOINT_EVERY:
            self._wake.set()

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wake.wait(_CHECKPOINT_INTERVAL)
                self._wake.clear()
                if self.pending:
                    self.pending = 0
                    self._checkpoint(db)
                if self._stopping:
                    return
        finally:
            db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the writer's own checkpoints still bound the WAL
            log.warning("journal %s: background checkpoint failed: %s", self.path, exc)
            return
        with self.changed:
            self.checkpoints += 1
            self.changed.notify_all()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)


#: What a batch handed to the writer calls once it is committed (None) or failed.
Done = Callable[[BaseException | None], None]


class _Writer:
    """The journal's writer thread, ``stockfish-journal-writer``: group commit.

    :meth:`put` queues a batch of rows (made by the caller, a snapshot of the orders as
    they were) and returns at once. The thread takes every batch queued, writes them in
    one transaction, commits, and then calls each batch's ``done``. While it commits, the
    next batches queue up: the busier the order flow, the more one commit carries. The
    commit itself (SQLite's write to the WAL) runs without the GIL, beside the caller's
    thread."""

    def __init__(self, journal: Journal) -> None:
        self._journal = weakref.ref(journal)  # a journal dropped unclosed still goes
        self._queue: list[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Done]] = []
        self._busy = False
        self._stopping = False
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        #: Transactions committed so far, and batches they carried (for the stats).
        self.commits = 0
        self.batches = 0

    def put(self, order_rows: list[tuple[Any, ...]], fill_rows: list[tuple[Any, ...]],
            done: Done) -> None:
        with self._cond:
            if self._stopping:
                raise sqlite3.ProgrammingError("the journal is closed")
            self._queue.append((order_rows, fill_rows, done))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="stockfish-journal-writer")
                self._thread.start()
            elif not self._busy:
                self._cond.notify()

    def wait_idle(self) -> None:
        """Until every batch queued so far is committed (or failed) and reported."""
        with self._cond:
            while self._queue or self._busy:
                self._cond.wait()

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._queue and not self._stopping:
                    cond.wait()
                if not self._queue:
                    return
                batches, self._queue = self._queue, []
                self._busy = True
            error: BaseException | None = None
            try:
                orders = [row for b in batches for row in b[0]]
                fills = [row for b in batches for row in b[1]]
                journal = self._journal()
                if journal is None:
                    raise sqlite3.ProgrammingError("the journal is gone")
                journal._write_batch(orders, fills)
                del journal
            except BaseException as exc:  # noqa: BLE001 - each batch's owner is told
                error = exc
            self.commits += 1
            self.batches += len(batches)
            for _, _, done in batches:
                try:
                    done(error)
                except Exception:
                    log.exception("journal: a commit's callback failed")
            with cond:
                self._busy = False
                cond.notify_all()

    def stop(self, *, closing: bool = False) -> None:
        """Commit what is queued and end the thread; a later :meth:`put` starts another
        one, unless ``closing``."""
        self.wait_idle()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        if not closing:
            with self._cond:
                self._stopping = False

    def close(self) -> None:
        self.stop(closing=True)


def _create_private(path: Path) -> None:
    """A new journal is readable by its user alone: its directory, if made here, 0700, and
    the database file 0600 (SQLite gives its -wal and -shm files the database's mode). An
    existing file or directory keeps the mode it has."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def default_journal_path() -> Path:
    """``$STOCKFISH_JOURNAL``, else ``$XDG_STATE_HOME/stockfish/journal.sqlite`` (by
    default ``~/.local/state/stockfish/journal.sqlite``)."""
    explicit = os.environ.get("STOCKFISH_JOURNAL")
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "stockfish" / "journal.sqlite"


class Journal:
    """Orders and fills on disk. Thread-safe; calls are short synchronous writes."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, sync: str = "normal"):
        if path is None:
            path = default_journal_path()
        self.path = str(path) if str(path) == ":memory:" else str(Path(path).expanduser())
        if self.path != ":memory:":
            _create_private(Path(self.path))
        self._lock = threading.Lock()
        # Room in the statement cache for every batch size (see _write_rows).
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   cached_statements=2 * _CHUNK + 32)
        if self.path != ":memory:":
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("journal %s: WAL mode unavailable (got %s)", self.path, mode)
        sync_mode = {"normal": "NORMAL", "full": "FULL", "off": "OFF"}.get(sync.lower())
        if sync_mode is None:
            raise ValueError(f"journal sync must be normal, full or off, not {sync!r}")
        self._db.execute(f"PRAGMA synchronous={sync_mode}")
        self._db.executescript(_SCHEMA)
        self._checkpointer: _Checkpointer | None = None
        if self.path != ":memory:":
            self._checkpointer = _Checkpointer(self.path)
            # A journal dropped without close() still stops its thread.
            self._finalizer = weakref.finalize(self, self._checkpointer.close)
        self._writer = _Writer(self)
        weakref.finalize(self, self._writer.close)

    @property
    def on_disk(self) -> bool:
        """Whether the journal is a file (not ``:memory:``)."""
        return self.path != ":memory:"

    def _committed(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def close(self) -> None:
        self._writer.close()  # what is queued is committed first
        if self._checkpointer is not None:
            self._finalizer()  # the last checkpoint, then the thread ends
        with self._lock:
            self._db.close()

    # -- writes ----------------------------------------------------------------------
    def record_order(self, order: Order) -> None:
        """Insert or update an order (its whole state)."""
        assert order.client_order_id is not None
        row = _order_row(order)
        with self._lock:
            self._db.execute(_ORDER_UPSERT.sql(1), row)
            self._committed()

    def record_batch(self, orders: list[Order], fills: list[Fill]) -> None:
        """Write order changes and fills in one transaction (fills already known to the
        journal are skipped)."""
        self._write_batch([_order_row(o) for o in orders], [_fill_row(f) for f in fills])

    def write_later(self, orders: list[Order], fills: list[Fill], done: Done) -> None:
        """Queue order changes and fills for the writer thread (group commit) and return
        at once; ``done(None)`` is called on that thread once they are committed,
        ``done(error)`` if the transaction failed. The rows are made here and now: what
        is committed is the orders as they were at this call."""
        self._writer.put([_order_row(o) for o in orders], [_fill_row(f) for f in fills],
                         done)

    def wait_written(self) -> None:
        """Until everything queued with :meth:`write_later` is committed (or failed) and
        its ``done`` called."""
        self._writer.wait_idle()

    def stop_writer(self) -> None:
        """Commit what is queued for the writer thread and end it (a later
        :meth:`write_later` starts it again): for a manager that stops."""
        self._writer.stop()

    def writer_stats(self) -> dict[str, int]:
        """Transactions of the writer thread so far, and the batches they carried."""
        return {"commits": self._writer.commits, "batches": self._writer.batches}

    def _write_batch(self, order_rows: list[tuple[Any, ...]],
                     fill_rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            if not fill_rows and 0 < len(order_rows) <= _CHUNK:
                # One statement is a transaction of its own (autocommit): no BEGIN and
                # COMMIT round trips into SQLite for the commonest batch, new orders.
                self._db.execute(_ORDER_UPSERT.sql(len(order_rows)),
                                 [value for row in order_rows for value in row])
                self._committed()
                return
            self._db.execute("BEGIN")
            try:
                if fill_rows:
                    self._write_rows(_FILL_INSERT, fill_rows)
                if order_rows:
                    self._write_rows(_ORDER_UPSERT, order_rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._committed()

    def _write_rows(self, statement: _RowsStatement, rows: list[tuple[Any, ...]]) -> None:
        """Many rows with few statements: one per chunk of up to ``_CHUNK`` rows. SQLite
        runs a statement in one step, and each step lets go of the GIL, which QuickFIX's
        or pyzmq's threads then take: one step per row (executemany) costs a thread
        switch per row."""
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start:start + _CHUNK]
            self._db.execute(statement.sql(len(chunk)),
                             [value for row in chunk for value in row])

    def record_fill(self, fill: Fill, order: Order | None = None) -> bool:
        """Record a fill (and the order it changed, in the same transaction).

        Returns False, recording nothing, if this (connector, execution id) is known."""
        row = _fill_row(fill)
        with self._lock:
            try:
                self._db.execute("BEGIN")
                cur = self._db.execute(_FILL_INSERT.sql(1), row)
                if cur.rowcount == 0:
                    self._db.execute("ROLLBACK")
                    return False
                if order is not None:
                    self._db.execute(
                        "UPDATE orders SET status=?, is_open=?, updated_ns=?, body=?"
                        " WHERE client_order_id=?",
                        (order.status.value, int(order.status not in FINAL_STATUSES),
                         order.updated_ns, order_body(order), order.client_order_id),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._committed()
        return True

    def set_meta(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` (the venue-state check's offsets and times)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- reads -----------------------------------------------------------------------
    # Every read first waits for what is queued for the writer thread (write_later): a
    # read sees every write handed to the journal before it.

    def get_meta(self, key: str) -> str | None:
        self._writer.wait_idle()
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def open_orders(self) -> list[Order]:
        """Orders not in a final status, oldest first."""
        self._writer.wait_idle()
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM orders WHERE is_open = 1 ORDER BY rowid"
            ).fetchall()
        return [from_dict(json.loads(body), Order) for (body,) in rows]

    def order(self, client_order_id: str) -> Order | None:
        self._writer.wait_idle()
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM orders WHERE client_order_id=?", (client_order_id,)
            ).fetchone()
        return None if row is None else from_dict(json.loads(row[0]), Order)

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        self._writer.wait_idle()
        query, args = "SELECT body FROM fills", ()
        if client_order_id is not None:
            query, args = query + " WHERE client_order_id=?", (client_order_id,)  # type: ignore[assignment]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY rowid", args).fetchall()
        return [from_dict(json.loads(body), Fill) for (body,) in rows]

    def has_fill(self, connector: str, execution_id: str) -> bool:
        """Whether the journal holds this (connector, execution id)."""
        self._writer.wait_idle()
        with self._lock:
            row = self._db.execute("SELECT 1 FROM fills WHERE connector=? AND execution_id=?",
                                   (connector, execution_id)).fetchone()
        return row is not None

    def execution_keys(self) -> list[tuple[str, str]]:
        """Every (connector, execution id) the journal holds."""
        self._writer.wait_idle()
        with self._lock:
            rows = self._db.execute("SELECT connector, execution_id FROM fills").fetchall()
        return [(str(c), str(e)) for c, e in rows]

    def has_fills(self) -> bool:
        """Whether the journal holds any fill."""
        self._writer.wait_idle()
        with self._lock:
            return self._db.execute("SELECT 1 FROM fills LIMIT 1").fetchone() is not None

    def counts(self) -> dict[str, Any]:
        self._writer.wait_idle()
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM orders GROUP BY status")
            by_status = {str(s): int(n) for s, n in rows.fetchall()}
            fills = self._db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        return {"orders": by_status, "fills": int(fills)}

    # -- retention -------------------------------------------------------------------
    _OLD_FINAL = "SELECT client_order_id FROM {db}orders WHERE is_open = 0 AND updated_ns < ?"

    def compact(self, before_ns: int, *, archive: str | os.PathLike[str] | None = None,
                vacuum: bool = True) -> dict[str, int]:
        """Remove final orders last changed before ``before_ns`` (epoch nanoseconds) and
        their fills; open orders stay whatever their age. With ``archive``, the removed
        rows are first copied into that SQLite file (created with this schema if need be,
        rows already there are replaced), in the same transaction. Then the file is
        vacuumed (given back to the file system) unless ``vacuum`` is False or another
        process holds the journal open. Returns the counts removed."""
        self._writer.wait_idle()
        self._writer.wait_idle()
        with self._lock:
            db = self._db
            if archive is not None:
                target = Path(archive).expanduser()
                if target.resolve() == Path(self.path).resolve():
                    raise ValueError("the archive must be another file than the journal")
                _create_private(target)
                made = sqlite3.connect(target)
                try:
                    made.executescript(_SCHEMA)
                finally:
                    made.close()
                db.execute("ATTACH DATABASE ? AS archive", (str(target),))
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    if archive is not None:
                        old = self._OLD_FINAL.format(db="main.")
                        db.execute("INSERT OR REPLACE INTO archive.orders SELECT * FROM "
                                   "main.orders WHERE is_open = 0 AND updated_ns < ?",
                                   (before_ns,))
                        db.execute("INSERT OR REPLACE INTO archive.fills SELECT * FROM "
                                   f"main.fills WHERE client_order_id IN ({old})", (before_ns,))
                    old = self._OLD_FINAL.format(db="main.")
                    fills = db.execute(f"DELETE FROM main.fills WHERE client_order_id IN "
                                       f"({old})", (before_ns,)).rowcount
                    orders = db.execute("DELETE FROM main.orders WHERE is_open = 0 AND "
                                        "updated_ns < ?", (before_ns,)).rowcount
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            finally:
                if archive is not None:
                    db.execute("DETACH DATABASE archive")
            vacuumed = False
            if vacuum and self.path != ":memory:" and orders:
                try:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    db.execute("VACUUM")
                    vacuumed = True
                except sqlite3.OperationalError as exc:  # another process reads it now
                    log.warning("journal %s: not vacuumed (%s); SQLite reuses the freed "
                                "pages for new rows", self.path, exc)
        return {"orders": int(orders), "fills": int(fills), "vacuumed": int(vacuumed)}
