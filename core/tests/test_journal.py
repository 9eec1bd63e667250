"""The journal on disk: background checkpoints (the writer never copies the WAL back
itself), the modes of the files it creates, and its writer thread (group commit, new
orders sent only after their commit)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import stat
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stockfish_core.journal import _CHECKPOINT_EVERY, Journal
from stockfish_core.orders import Fill, Order, OrderStatus

_IDS = itertools.count()


def _batch(size: int) -> tuple[list[Order], list[Fill]]:
    orders, fills = [], []
    for _ in range(size):
        n = next(_IDS)
        order = Order("SPY", "BUY", 1, client_order_id=f"J-{n}", connector="sim")
        fill = Fill(f"J-{n}", f"E-{n}", "SPY", "BUY", Decimal(1), Decimal("100.25"))
        order.transition(OrderStatus.SUBMITTED)
        order.apply_fill(fill)
        order.transition(OrderStatus.FILLED)
        orders.append(order)
        fills.append(fill)
    return orders, fills


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "stockfish-journal-checkpoint"]


def test_checkpoints_run_on_their_own_thread_and_keep_the_wal_small(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    checkpointer = journal._checkpointer
    assert checkpointer is not None
    assert not _checkpoint_threads()  # started by the first commit, not before
    rounds = 40

    def checkpointed(count: int) -> bool:
        with checkpointer.changed:
            return checkpointer.changed.wait_for(lambda: checkpointer.checkpoints >= count, 10)

    for round_ in range(1, rounds + 1):
        for _ in range(_CHECKPOINT_EVERY):
            journal.record_batch(*_batch(8))
        assert checkpointed(round_)  # each round of commits wakes a checkpoint
    assert len(_checkpoint_threads()) == 1
    # 10,240 orders and fills went through the WAL, far more than SQLite's own 1000-page
    # checkpoint threshold (4 MB); checkpointed and restarted each round, it stays small.
    assert os.path.getsize(f"{path}-wal") < 1000 * 4096 / 2
    journal.close()
    assert not _checkpoint_threads()
    reopened = Journal(path)
    assert reopened.counts() == {"orders": {"FILLED": rounds * _CHECKPOINT_EVERY * 8},
                                 "fills": rounds * _CHECKPOINT_EVERY * 8}
    reopened.close()


def test_a_journal_dropped_without_close_stops_its_thread(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.record_batch(*_batch(1))
    (thread,) = _checkpoint_threads()
    del journal
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()


def test_a_memory_journal_has_no_checkpoint_thread() -> None:
    journal = Journal(":memory:")
    journal.record_batch(*_batch(3))
    assert journal._checkpointer is None
    assert not _checkpoint_threads()
    journal.close()


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_new_journal_is_private_to_its_user(tmp_path: Path) -> None:
    path = tmp_path / "state" / "stockfish" / "journal.sqlite"
    journal = Journal(path)
    journal.record_batch(*_batch(2))
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    journal.close()
    # An existing journal keeps the mode its owner gave it.
    path.chmod(0o640)
    reopened = Journal(path)
    assert reopened.counts()["fills"] == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    reopened.close()


# -- the writer thread: group commit, sends after their commit ----------------------------
def _manager(journal: Path) -> Any:
    from stockfish_core import ExchangeManager, PluginRegistry
    from stockfish_core.config import ManagerConfig
    from stockfish_core.sim import plugin as sim_plugin

    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    manager = ExchangeManager(config=ManagerConfig(connect_timeout=5.0), registry=registry,
                              journal=journal)
    manager.add_connector("a", "sim", primary=True, tick_interval=0.005, latency=0.0)
    return manager


def _sent(order: Order) -> bool:
    return order.status is not OrderStatus.PENDING


async def test_new_orders_leave_after_their_commit_and_share_one(tmp_path: Path) -> None:
    manager = _manager(tmp_path / "j.sqlite")
    async with manager:
        journal = manager.journal
        before = journal.writer_stats()
        with journal._lock:  # the writer thread cannot commit until this is released
            ids = []
            for _ in range(6):
                ids.append(await manager.send_order_async(Order("SPY", "BUY", 1)))
                await asyncio.sleep(0)  # one loop iteration: one batch each
            assert not any(i in manager.orders.unacked for i in ids)  # none has left
            assert all(manager.get_order(i).status is OrderStatus.PENDING for i in ids)
        for order_id in ids:
            await manager.wait_for_order_async(order_id, _sent, 10)
        stats = journal.writer_stats()
        batches = stats["batches"] - before["batches"]
        commits = stats["commits"] - before["commits"]
        assert batches >= 6
        assert commits < batches  # those queued behind the held commit shared one
        filled = [await manager.wait_for_order_async(i, timeout=10) for i in ids]
        assert all(o.status is OrderStatus.FILLED for o in filled)
        assert any(t.name == "stockfish-journal-writer" for t in threading.enumerate())
    # A stopped manager leaves no writer thread behind (its journal is still open).
    assert not any(t.name == "stockfish-journal-writer" for t in threading.enumerate())
    reopened = Journal(tmp_path / "j.sqlite")
    try:
        assert {o.client_order_id for o in map(reopened.order, ids) if o} == set(ids)
    finally:
        reopened.close()


async def test_a_failed_commit_sends_nothing(tmp_path: Path) -> None:
    manager = _manager(tmp_path / "j.sqlite")
    async with manager:
        journal = manager.journal
        with journal._lock:
            journal._db.execute("DROP TABLE orders")  # every order's write now fails
        order_id = await manager.send_order_async(Order("SPY", "BUY", 1))
        order = await manager.wait_for_order_async(order_id, timeout=10)
        assert order.status is OrderStatus.ERROR
        assert "journal write failed" in (order.reason or "")
        assert order_id not in manager.orders.sent_at  # never sent


async def test_reconciliation_does_not_ask_about_an_order_waiting_for_its_commit(
        tmp_path: Path) -> None:
    # After a reconnect the manager asks the venue about its open orders; one that waits
    # for its commit has not left, and asking first would have the venue call it unknown.
    manager = _manager(tmp_path / "j.sqlite")
    async with manager:
        venue = manager._venues["a"]
        with manager.journal._lock:  # the writer thread cannot commit until released
            order_id = await manager.send_order_async(Order("SPY", "BUY", 1))
            await asyncio.sleep(0)  # handed to the writer thread
            assert manager.orders.unsent(manager.get_order(order_id))
            await manager._supervisor._restore(venue)  # as after a reconnect
        order = await manager.wait_for_order_async(order_id, timeout=10)
        assert order.status is OrderStatus.FILLED, order.reason
        assert manager.get_stats()["illegal_transitions"] == 0
