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

Checkpoints (copying the WAL back into the database file, with an fsync of each) run on
a thread of their own, ``stockfish-journal-checkpoint``, with a connection of its own. The
thread that writes, the manager's loop, then never pays for one: left to itself, SQLite
would run it inside the commit that takes the WAL past 1000 pages, which stalls the
sends waiting for that commit by a millisecond or more.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import weakref
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import Any

from .orders import FINAL_STATUSES, Fill, Order
from .serialization import from_dict, to_dict

__all__ = ["DEFAULT_RETENTION_DAYS", "Journal", "default_journal_path", "fill_body",
           "order_body"]

log = logging.getLogger("stockfish.journal")

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


def order_body(order: Order) -> str:
    """The JSON of an order as the journal stores it: ``to_dict(order)`` with
    ``json.dumps(separators=(",", ":"))``, written out by hand because it is on every
    order's path, twice (a test keeps the two equal, character for character). Free text
    goes through the encoder's own escaping; the enums' values are fixed ASCII words."""
    o = order
    if o.trail_amount is not None or o.trail_percent is not None or o.expire_ns is not None:
        return json.dumps(to_dict(o), separators=(",", ":"))  # the rare terms: generic
    return (
        f'{{"symbol":{_quote(o.symbol)},"side":"{o.side.value}","quantity":"{o.quantity}",'
        f'"order_type":"{o.order_type.value}","price":{_number_text(o.price)},'
        f'"stop_price":{_number_text(o.stop_price)},'
        f'"time_in_force":"{o.time_in_force.value}",'
        f'"client_order_id":{_text(o.client_order_id)},"connector":{_text(o.connector)},'
        f'"account":{_text(o.account)},"status":"{o.status.value}",'
        f'"filled_quantity":"{o.filled_quantity}",'
        f'"avg_fill_price":{_number_text(o.avg_fill_price)},'
        f'"venue_order_id":{_text(o.venue_order_id)},"reason":{_text(o.reason)},'
        f'"outcome_unknown":{"true" if o.outcome_unknown else "false"},'
        f'"created_ns":{o.created_ns:d},"updated_ns":{o.updated_ns:d}}}'
    )


def fill_body(fill: Fill) -> str:
    """The JSON of a fill as the journal stores it (``to_dict(fill)``, by hand)."""
    f = fill
    return (
        f'{{"client_order_id":{_quote(f.client_order_id)},'
        f'"execution_id":{_quote(f.execution_id)},"symbol":{_quote(f.symbol)},'
        f'"side":"{f.side.value}","quantity":"{f.quantity}","price":"{f.price}",'
        f'"commission":"{f.commission}","connector":{_text(f.connector)},'
        f'"venue_order_id":{_text(f.venue_order_id)},"timestamp_ns":{f.timestamp_ns:d}}}'
    )


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

    def _committed(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def close(self) -> None:
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
        order_rows = [_order_row(o) for o in orders]
        fill_rows = [_fill_row(f) for f in fills]
        with self._lock:
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
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def open_orders(self) -> list[Order]:
        """Orders not in a final status, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM orders WHERE is_open = 1 ORDER BY rowid"
            ).fetchall()
        return [from_dict(json.loads(body), Order) for (body,) in rows]

    def order(self, client_order_id: str) -> Order | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM orders WHERE client_order_id=?", (client_order_id,)
            ).fetchone()
        return None if row is None else from_dict(json.loads(row[0]), Order)

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        query, args = "SELECT body FROM fills", ()
        if client_order_id is not None:
            query, args = query + " WHERE client_order_id=?", (client_order_id,)  # type: ignore[assignment]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY rowid", args).fetchall()
        return [from_dict(json.loads(body), Fill) for (body,) in rows]

    def has_fill(self, connector: str, execution_id: str) -> bool:
        """Whether the journal holds this (connector, execution id)."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM fills WHERE connector=? AND execution_id=?",
                                   (connector, execution_id)).fetchone()
        return row is not None

    def has_fills(self) -> bool:
        """Whether the journal holds any fill."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM fills LIMIT 1").fetchone() is not None

    def counts(self) -> dict[str, Any]:
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
