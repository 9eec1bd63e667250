"""A zmq connector whose feed is read in a worker process (``worker: true``): the worker
is killed with SIGKILL mid-stream. That is a lost connection: reported, the connector
reconnected by the core with a new worker, the data resumes, and what the publisher
sent meanwhile is counted as lost (a gap), never silent. The publisher runs in its own
process too."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from typing import Any

import pytest

from stockfish_core import DataType, ExchangeManager, MarketUpdate, PluginRegistry, Subscription
from stockfish_core.config import ManagerConfig
from stockfish_core.testing import wait_until

from .test_zmq_restarts import free_port, publisher_process

zmq = pytest.importorskip("zmq")
stockfish_zmq_plugin = pytest.importorskip("stockfish_zmq.plugin")


class Ticks:
    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.event = asyncio.Event()

    def on_price_tick(self, update: MarketUpdate) -> None:
        self.seqs.append(int(update.sequence_number or -1))
        self.event.set()


@pytest.mark.parametrize("rate", [200, 5_000])
async def test_a_killed_worker_is_a_lost_connection_and_the_loss_is_counted(rate: int) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    registry = PluginRegistry(entry_points=())
    registry.register(stockfish_zmq_plugin, "zmq")
    config = ManagerConfig(health_check_interval=0.2, staleness=30.0, journal=":memory:")
    manager = ExchangeManager(config=config, registry=registry)
    connector = manager.add_connector(
        "feed", "zmq", endpoints=[endpoint], worker=True, reconnect_interval=0.05,
        reconnect_interval_max=0.2, rcvhwm=0)
    ticks = Ticks()
    manager.add_subscriber(ticks)
    timeout = 60.0

    async def until(predicate: Any, what: str) -> None:
        await wait_until(predicate, ticks.event, timeout, what, recheck=0.2)

    try:
        with publisher_process("project", endpoint, 1, "s1", rate):
            await manager.start()
            await manager.subscribe_async([Subscription("BTCUSD", DataType.PRICE_TICK)])
            await until(lambda: len(ticks.seqs) >= rate // 2, "data through the worker")
            first = connector.state.worker
            pid = first.process.pid
            assert pid is not None and pid != os.getpid()
            os.kill(pid, signal.SIGKILL)
            killed_at = len(ticks.seqs)
            await until(lambda: connector.state.worker is not first
                        and len(ticks.seqs) >= killed_at + rate // 2,
                        "data through a new worker")
            # The gap is declared after the reorder wait: the next message closes it.
            await until(lambda: manager.get_stats()["connectors"]["feed"]["gaps"] >= 1,
                        "the loss counted")
            second_pid = connector.state.worker.process.pid
            stats = manager.get_stats()["connectors"]["feed"]
            feed_stats = connector.state.stats
    finally:
        await manager.stop()
        manager.journal.close()

    assert second_pid != pid
    seqs = ticks.seqs
    # In order, no duplicate, one hole: the messages sent while no worker was reading.
    assert seqs == sorted(set(seqs)), "delivered out of order or twice"
    holes = [(a, b) for a, b in itertools.pairwise(seqs) if b != a + 1]
    assert len(holes) == 1, holes[:5]
    (before, after), = holes
    assert stats["gaps"] == 1 and stats["lost"] == after - before - 1, (stats, holes)
    assert stats["reconnects"] >= 1 and stats["duplicates"] == 0, stats
    assert stats["restarts"] == 0 and stats["data_errors"] == 0, stats
    assert feed_stats.worker_restarts == 1
    print(f"rate {rate}: worker killed after seq {before}, resumed at {after} "
          f"({after - before - 1} lost, counted), {len(seqs)} delivered")


MANAGER_WITH_WORKER = r"""
import asyncio, sys
from stockfish_core import ExchangeManager, PluginRegistry
from stockfish_zmq import plugin

async def main():
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "zmq")
    manager = ExchangeManager(registry=registry, journal=":memory:")
    connector = manager.add_connector("feed", "zmq", endpoints=[sys.argv[1]], worker=True)
    await manager.start()
    link = connector.state.worker
    for _ in range(200):  # the worker's pid, within 10 s
        if link.pid is not None:
            break
        await asyncio.sleep(0.05)
    print("worker", link.pid, flush=True)
    await asyncio.sleep(120)  # until the test kills this process

asyncio.run(main())
"""


def test_a_worker_ends_when_its_manager_is_killed() -> None:
    import select
    import subprocess
    import sys

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([sys.executable, "-c", MANAGER_WITH_WORKER, endpoint],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()  # bounded: the manager prints or dies
        assert line[:1] == ["worker"], line
        worker = int(line[1])
        pidfd = os.pidfd_open(worker)
        try:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            # The worker notices its manager is gone (it checks every 0.5 s) and ends.
            readable, _, _ = select.select([pidfd], [], [], 10.0)
            assert readable, f"worker {worker} still running 10 s after its manager was killed"
        finally:
            os.close(pidfd)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
