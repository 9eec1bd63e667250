"""SIGKILL in the middle of an order stream: the journal has every order that was sent,
and a manager restarted on it brings every open order back with its state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stockfish_core import ExchangeManager, OrderStatus, PluginRegistry
from stockfish_core.config import ManagerConfig
from stockfish_core.journal import Journal
from stockfish_core.sim import plugin as sim_plugin

CHILD = textwrap.dedent("""
    import sys
    from stockfish_core import ExchangeManager, Order, OrderType, PluginRegistry
    from stockfish_core.sim import plugin as sim_plugin

    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    manager = ExchangeManager(registry=registry, journal=sys.argv[1])
    manager.add_connector("venue", "sim", tick_interval=0.002, latency=0.001)
    assert manager.start_all(timeout=10)
    for i in range(1_000_000):  # runs until killed
        if i % 3 == 0:
            order = Order("SPY", "BUY", 1)
        else:  # rests far from the market: stays open
            order = Order("SPY", "BUY", 1 + i % 5, OrderType.LIMIT, price="1.25")
        order_id = manager.send_order(order)
        print(order_id, flush=True)
""")


@pytest.mark.timeout(120)
def test_sigkill_mid_stream_then_restart(tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.sqlite"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(journal_path)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    sent = []
    for line in child.stdout:  # bounded: the child is killed after 400 orders
        sent.append(line.strip())
        if len(sent) == 400:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    journal = Journal(journal_path)
    recorded = {cid: journal.order(cid) for cid in sent}
    assert all(order is not None for order in recorded.values()), "every sent order journaled"
    open_before = {o.client_order_id: o for o in journal.open_orders()}
    assert len(open_before) >= 200  # two thirds rest; the kill came mid-stream
    journal.close()

    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    manager = ExchangeManager(registry=registry, journal=journal_path,
                              config=ManagerConfig(connect_timeout=5.0))
    manager.add_connector("venue", "sim", tick_interval=0.002)
    restored = manager.orders.restore()
    assert {o.client_order_id for o in restored} == set(open_before)
    for order in restored:
        before = open_before[order.client_order_id]
        assert order.status is before.status
        assert order.quantity == before.quantity
        assert order.price == before.price
        assert order.filled_quantity == before.filled_quantity
        assert order.connector == "venue"
    assert {o.status for o in restored} <= {OrderStatus.PENDING, OrderStatus.SUBMITTED}

    # Started, the manager reconciles them with the venue; this venue is a new process
    # that never saw them, so each is closed as unknown: none is silently dropped.
    assert manager.start_all(timeout=10)
    try:
        for cid in open_before:
            done = manager.wait_for_order(cid, timeout=10)
            assert done.status is OrderStatus.REJECTED
            assert "unknown order" in (done.reason or "")
        assert manager.journal.open_orders() == []
    finally:
        manager.stop_all()
        manager.journal.close()
