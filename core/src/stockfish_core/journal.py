"""The durable order journal: SQLite in WAL mode.

Every order is written here before it leaves the process, and every change and fill
after. A manager restarted on the same file reloads the orders that were still open and
reconciles them with their venues. Fills are keyed by (connector, execution id), so a
fill reported twice, also across a restart, is recorded once.

``synchronous=NORMAL`` (the default) survives a crash or kill of the process: a
committed write is in the operating system's hands. ``sync="full"`` also survives
power loss, at the cost of an fsync per write.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from .orders import FINAL_STATUSES, Fill, Order
from .serialization import from_dict, to_dict

__all__ = ["Journal", "default_journal_path"]

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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_FINAL = {s.value for s in FINAL_STATUSES}


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
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("journal %s: WAL mode unavailable (got %s)", self.path, mode)
        sync_mode = {"normal": "NORMAL", "full": "FULL", "off": "OFF"}.get(sync.lower())
        if sync_mode is None:
            raise ValueError(f"journal sync must be normal, full or off, not {sync!r}")
        self._db.execute(f"PRAGMA synchronous={sync_mode}")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes ----------------------------------------------------------------------
    def record_order(self, order: Order) -> None:
        """Insert or update an order (its whole state)."""
        assert order.client_order_id is not None
        body = json.dumps(to_dict(order), separators=(",", ":"))
        status = order.status.value
        with self._lock:
            self._db.execute(
                "INSERT INTO orders (client_order_id, connector, status, is_open, updated_ns, body)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(client_order_id) DO UPDATE SET"
                " connector=excluded.connector, status=excluded.status,"
                " is_open=excluded.is_open, updated_ns=excluded.updated_ns, body=excluded.body",
                (order.client_order_id, order.connector, status, int(status not in _FINAL),
                 order.updated_ns or order.created_ns, body),
            )

    def record_batch(self, orders: list[Order], fills: list[Fill]) -> None:
        """Write order changes and fills in one transaction (fills already known to the
        journal are skipped)."""
        dump = json.dumps
        order_rows = [
            (o.client_order_id, o.connector, o.status.value,
             int(o.status.value not in _FINAL), o.updated_ns or o.created_ns,
             dump(to_dict(o), separators=(",", ":")))
            for o in orders
        ]
        fill_rows = [
            (f.connector or "", f.execution_id, f.client_order_id,
             dump(to_dict(f), separators=(",", ":")))
            for f in fills
        ]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                if fill_rows:
                    self._db.executemany(
                        "INSERT OR IGNORE INTO fills (connector, execution_id, client_order_id,"
                        " body) VALUES (?, ?, ?, ?)", fill_rows)
                if order_rows:
                    self._db.executemany(
                        "INSERT INTO orders (client_order_id, connector, status, is_open,"
                        " updated_ns, body) VALUES (?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT(client_order_id) DO UPDATE SET"
                        " connector=excluded.connector, status=excluded.status,"
                        " is_open=excluded.is_open, updated_ns=excluded.updated_ns,"
                        " body=excluded.body", order_rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def record_fill(self, fill: Fill, order: Order | None = None) -> bool:
        """Record a fill (and the order it changed, in the same transaction).

        Returns False, recording nothing, if this (connector, execution id) is known."""
        body = json.dumps(to_dict(fill), separators=(",", ":"))
        with self._lock:
            try:
                self._db.execute("BEGIN")
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO fills (connector, execution_id, client_order_id, body)"
                    " VALUES (?, ?, ?, ?)",
                    (fill.connector or "", fill.execution_id, fill.client_order_id, body),
                )
                if cur.rowcount == 0:
                    self._db.execute("ROLLBACK")
                    return False
                if order is not None:
                    status = order.status.value
                    self._db.execute(
                        "UPDATE orders SET status=?, is_open=?, updated_ns=?, body=?"
                        " WHERE client_order_id=?",
                        (status, int(status not in _FINAL), order.updated_ns,
                         json.dumps(to_dict(order), separators=(",", ":")),
                         order.client_order_id),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return True

    def set_meta(self, key: str, value: str) -> None:
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

    def execution_ids(self) -> set[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT connector, execution_id FROM fills").fetchall()
        return {(str(c), str(e)) for c, e in rows}

    def counts(self) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM orders GROUP BY status")
            by_status = {str(s): int(n) for s, n in rows.fetchall()}
            fills = self._db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        return {"orders": by_status, "fills": int(fills)}
