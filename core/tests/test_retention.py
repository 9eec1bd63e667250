"""Memory and disk retention (issue 22, item 6): final orders leave memory after a
configurable count or time and are still answered from the journal; execution ids of
late duplicates are still recognised; the journal is compacted or archived by a command."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import attrs
import pytest

from stockfish_core import (
    ConfigError,
    ExchangeManager,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PluginRegistry,
)
from stockfish_core.cli import main
from stockfish_core.config import ManagerConfig, parse_config
from stockfish_core.journal import DEFAULT_RETENTION_DAYS, Journal
from stockfish_core.oms import OrderStore
from stockfish_core.orders import Fill
from stockfish_core.sim import plugin as sim_plugin


def make(journal: str | Path, **config: Any) -> ExchangeManager:
    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    cfg = ManagerConfig(health_check_interval=0.05, connect_timeout=5.0, **config)
    manager = ExchangeManager(config=cfg, registry=registry, journal=journal)
    manager.add_connector("a", "sim", primary=True, tick_interval=0.005, latency=0.0)
    return manager


async def fill_orders(manager: ExchangeManager, n: int) -> list[str]:
    ids = [await manager.send_order_async(Order("SPY", "BUY", 1)) for _ in range(n)]
    for order_id in ids:
        await manager.wait_for_order_async(order_id)
    return ids


def test_defaults_are_bounded_and_documented() -> None:
    cfg = ManagerConfig()
    assert cfg.keep_final_orders == 1_000
    assert cfg.keep_final_seconds == 60.0
    assert DEFAULT_RETENTION_DAYS == 30.0


@pytest.mark.parametrize(
    ("manager", "message"),
    [
        ({"keep_final_orders": -1}, "keep_final_orders: must not be negative"),
        ({"keep_final_seconds": -0.5}, "keep_final_seconds: must not be negative"),
        ({"keep_final_seconds": float("nan")}, "expected a finite number"),
        ({"keep_final_orders": 1.5}, "expected an integer"),
    ],
)
def test_retention_settings_are_validated(manager: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"manager": manager})
    cfg = parse_config({"manager": {"keep_final_orders": 10, "keep_final_seconds": 5}})
    assert cfg.manager.keep_final_orders == 10 and cfg.manager.keep_final_seconds == 5


async def test_final_orders_leave_memory_by_count_and_stay_answerable(tmp_path: Path) -> None:
    m = make(tmp_path / "j.sqlite", keep_final_orders=5, keep_final_seconds=3600)
    async with m:
        ids = await fill_orders(m, 30)
        resting = await m.send_order_async(Order("SPY", "BUY", 1, OrderType.LIMIT, price=1))
        await m.wait_for_order_async(resting, lambda o: o.status is OrderStatus.SUBMITTED)
        await fill_orders(m, 1)  # a flush after the last final: the retention runs
        # An order leaves memory once its last change is committed: the fills of the
        # latest orders may still be with the journal's writer thread.
        m.orders.flush(wait=True)
        stats = m.get_stats()
        assert stats["orders_in_memory"] <= 5 + 1  # the open one never leaves
        assert stats["orders_retired"] >= 25
        assert stats["orders"]["FILLED"] == 31  # totals still count the retired ones
        assert m.orders.get(ids[0]) is None  # not in memory...
        assert m.get_order_status(ids[0]) is OrderStatus.FILLED  # ...yet answered
        assert m.get_order(ids[0]).filled_quantity == 1
        assert m.get_order(resting).is_open and m.orders.get(resting) is not None
        assert not m.cancel_order(ids[0])  # final, from the journal
        with pytest.raises(KeyError, match="no order 'nope'"):
            m.get_order("nope")
        assert stats["execution_ids_in_memory"] <= 6
    m.journal.close()


async def test_final_orders_leave_memory_after_their_time(tmp_path: Path) -> None:
    m = make(tmp_path / "j.sqlite", keep_final_orders=1_000, keep_final_seconds=0)
    async with m:
        ids = await fill_orders(m, 10)
        await fill_orders(m, 1)
        assert all(m.orders.get(i) is None for i in ids)
        assert m.get_stats()["orders_in_memory"] <= 1
        assert all(m.get_order_status(i) is OrderStatus.FILLED for i in ids)
    m.journal.close()


async def test_a_late_duplicate_of_a_retired_order_is_recognised(tmp_path: Path) -> None:
    m = make(tmp_path / "j.sqlite", keep_final_orders=0, keep_final_seconds=0)
    async with m:
        ids = await fill_orders(m, 3)
        await fill_orders(m, 1)
        assert m.orders.get(ids[0]) is None
        fill = m.journal.fills(ids[0])[0]
        position = m.positions()["SPY"].quantity
        a = m.get_connector("a")
        m.on_order_update(a, OrderUpdate(ids[0], OrderStatus.FILLED, fill=fill,
                                         possible_duplicate=True))
        stats = m.get_stats()
        assert stats["connectors"]["a"]["duplicate_fills"] == 1
        assert stats["orders_reloaded"] == 1
        assert stats["unknown_order_reports"] == 0
        assert stats["illegal_transitions"] == 0
        assert m.positions()["SPY"].quantity == position
        assert len(m.journal.fills(ids[0])) == 1
        # A new status for it is an illegal transition, as if it had never left memory.
        m.on_order_update(a, OrderUpdate(ids[1], OrderStatus.CANCELLED))
        assert m.get_stats()["illegal_transitions"] == 1
        assert m.get_order_status(ids[1]) is OrderStatus.FILLED
    m.journal.close()


def test_the_order_book_does_not_grow_with_final_orders() -> None:
    journal = Journal(":memory:")
    book = OrderStore(journal, keep_final=10, keep_final_seconds=3600)
    for i in range(2_000):
        order = Order("SPY", "BUY", 2, client_order_id=f"c{i}", connector="v")
        book.add(order)
        for k in range(2):
            book.apply(OrderUpdate(f"c{i}", OrderStatus.PARTIALLY_FILLED, fill=Fill(
                f"c{i}", f"e{i}-{k}", "SPY", "BUY", 1, "10")), "v")
        assert order.status is OrderStatus.FILLED
    assert len(book.orders) <= 10
    assert len(book._executions) <= 20 and len(book._fill_keys) <= 10
    assert len(book._final) <= 10 and not book.unacked and not book.sent_at
    assert book.positions["SPY"].quantity == 4_000
    assert book.status_counts() == {"FILLED": 2_000}
    journal.close()


async def test_a_restart_keeps_only_open_orders_and_their_execution_ids(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    m = make(path)
    async with m:
        await fill_orders(m, 20)
        resting = await m.send_order_async(Order("SPY", "BUY", 1, OrderType.LIMIT, price=1))
        await m.wait_for_order_async(resting, lambda o: o.status is OrderStatus.SUBMITTED)
    m.journal.close()
    book = OrderStore(Journal(path))
    assert book._executions == {}  # the journal's history stays on disk
    assert [o.client_order_id for o in book.restore()] == [resting]
    assert book.journal is not None
    book.journal.close()


# -- the journal command ---------------------------------------------------------------------
def old_journal(path: Path, n: int = 10) -> list[str]:
    """A journal with ``n`` final orders (one fill each) changed 40 days ago, ``n`` final
    orders changed now and one open order 40 days old."""
    journal = Journal(path)
    long_ago = time.time_ns() - 40 * 86_400 * 10**9
    ids = []
    for i in range(2 * n + 1):
        cid = f"o{i}"
        ids.append(cid)
        order = Order("SPY", "BUY", 1, client_order_id=cid, connector="v")
        stamp = long_ago if i < n or i == 2 * n else time.time_ns()
        if i < 2 * n:
            order.apply_fill(fill := Fill(cid, f"e{i}", "SPY", "BUY", 1, "10", connector="v"))
            order.status = OrderStatus.FILLED
            journal.record_order(order)
            journal.record_fill(fill)
        order.updated_ns = stamp
        journal.record_order(order)
    journal.close()
    return ids


def test_journal_compact_removes_old_final_orders_only(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.sqlite"
    ids = old_journal(path)
    size_before = path.stat().st_size
    assert main(["journal", "compact", "--journal", str(path)]) == 0
    assert "10 final order(s) and 10 fill(s) older than 30 day(s) removed" in \
        capsys.readouterr().out
    journal = Journal(path)
    assert journal.order(ids[0]) is None and journal.fills(ids[0]) == []
    assert journal.order(ids[10]) is not None and len(journal.fills(ids[10])) == 1
    assert [o.client_order_id for o in journal.open_orders()] == [ids[20]]  # open: kept
    journal.close()
    assert path.stat().st_size <= size_before
    assert main(["journal", "compact", "--journal", str(path), "--older-than", "0"]) == 0
    journal = Journal(path)
    assert journal.counts() == {"orders": {"PENDING": 1}, "fills": 0}
    journal.close()


def test_journal_archive_moves_rows_into_another_file(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, archive = tmp_path / "j.sqlite", tmp_path / "old" / "archive.sqlite"
    ids = old_journal(path)
    assert main(["journal", "archive", "-j", str(path), "--to", str(archive)]) == 0
    assert f"moved to {archive}" in capsys.readouterr().out
    kept, moved = Journal(path), Journal(archive)
    assert kept.order(ids[0]) is None and moved.order(ids[0]) is not None
    assert [f.execution_id for f in moved.fills(ids[0])] == ["e0"]
    assert moved.counts() == {"orders": {"FILLED": 10}, "fills": 10}
    assert kept.counts() == {"orders": {"FILLED": 10, "PENDING": 1}, "fills": 10}
    assert archive.stat().st_mode & 0o777 == 0o600
    kept.close()
    moved.close()
    # Archiving again into the same file adds to it.
    assert main(["journal", "archive", "-j", str(path), "--to", str(archive),
                 "--older-than", "0"]) == 0
    with sqlite3.connect(archive) as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 20


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["journal", "compact", "-j", "{missing}"], "no journal at"),
        (["journal", "compact", "-j", "{journal}", "--older-than", "-1"],
         "--older-than must be a number of days >= 0"),
        (["journal", "archive", "-j", "{journal}", "--to", "{journal}"],
         "the archive must be another file than the journal"),
    ],
)
def test_journal_command_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          argv: list[str], message: str) -> None:
    journal = tmp_path / "j.sqlite"
    old_journal(journal, 1)
    args = [a.format(missing=tmp_path / "nope.sqlite", journal=journal) for a in argv]
    assert main(args) != 0
    assert message in capsys.readouterr().err


def test_an_execution_id_of_a_retired_order_is_still_a_duplicate() -> None:
    # Found by the fuzz suite: an id the venue reports again, for another order, after
    # the first order left memory, was applied a second time.
    journal = Journal(":memory:")
    book = OrderStore(journal, keep_final=0, keep_final_seconds=3600)
    for cid in ("c0", "c1"):
        book.add(Order("SPY", "BUY", 1, client_order_id=cid, connector="v"))
    fill = Fill("c0", "e0", "SPY", "BUY", 1, "10")
    book.apply(OrderUpdate("c0", OrderStatus.FILLED, fill=fill), "v")
    assert book.get("c0") is None  # retired at once
    again = book.apply(OrderUpdate("c1", OrderStatus.FILLED, fill=attrs.evolve(
        fill, client_order_id="c1")), "v")
    assert again is not None and again.duplicate_fill
    c1 = book.lookup("c1")
    assert c1 is not None and c1.filled_quantity == 0 and c1.status is not OrderStatus.FILLED
    assert book.positions["SPY"].quantity == 1
    journal.close()


def test_a_new_execution_id_is_not_looked_up_in_the_journal(tmp_path: Path) -> None:
    # Execution ids that live in the journal only (retired with their order, or from a
    # previous run) are kept in a filter: a new id is applied without a journal lookup,
    # one of those is still a duplicate, across a restart too.
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    book = OrderStore(journal, keep_final=0, keep_final_seconds=3600)
    lookups: list[tuple[str, str]] = []
    has_fill = journal.has_fill

    def counted(connector: str, execution_id: str) -> bool:
        lookups.append((connector, execution_id))
        return has_fill(connector, execution_id)

    journal.has_fill = counted  # type: ignore[method-assign]
    for n in range(200):
        cid = f"c{n}"
        book.add(Order("SPY", "BUY", 1, client_order_id=cid, connector="v"))
        outcome = book.apply(OrderUpdate(cid, OrderStatus.FILLED, fill=Fill(
            cid, f"e{n}", "SPY", "BUY", 1, "10")), "v")
        assert outcome is not None and outcome.fill is not None
        assert book.get(cid) is None  # retired at once: its id lives in the journal only
    assert len(lookups) <= 2  # a false positive of the filter is possible, and harmless
    journal.close()
    journal = Journal(path)
    book = OrderStore(journal, keep_final=0, keep_final_seconds=3600)
    book.add(Order("SPY", "BUY", 1, client_order_id="d0", connector="v"))
    again = book.apply(OrderUpdate("d0", OrderStatus.FILLED, fill=Fill(
        "d0", "e7", "SPY", "BUY", 1, "10")), "v")
    assert again is not None and again.duplicate_fill  # an id of the previous run
    assert book.has_fill("v", "e199") and not book.has_fill("v", "e200")
    journal.close()


def test_the_order_stores_former_name_still_imports_with_a_deprecation_warning() -> None:
    import stockfish_core.oms as oms

    with pytest.warns(DeprecationWarning, match="OrderStore"):
        former = oms.OrderBook  # type: ignore[attr-defined]
    assert former is OrderStore
    with pytest.raises(AttributeError):
        oms.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
