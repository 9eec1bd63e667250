"""A ZeroMQ publisher in its own process, killed with SIGKILL and started again at
sequence 1, with and without a ``session`` field, at 100 and 10,000 messages a second.

ZeroMQ reconnects by itself and loses the restarted publisher's first messages (the slow
joiner), so the first number received after the restart may be anywhere from 1 to a few
thousand. Whatever it is, the manager delivers the new stream from the first message it
received: nothing of the new stream is dropped as a duplicate or held as out of order,
and the restart is counted once. Two publishers: the plugin's own
(``stockfish_zmq.testing.publisher``, two frames) and a bare pyzmq PUB loop sending the seeds'
single-frame JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from stockfish_core import DataType, ExchangeManager, MarketUpdate, PluginRegistry, Subscription
from stockfish_core.config import ManagerConfig
from stockfish_core.testing import wait_until

zmq = pytest.importorskip("zmq")
stockfish_zmq_plugin = pytest.importorskip("stockfish_zmq.plugin")

#: Run 2's prices are offset by this, so each update says which process sent it.
RUN_OFFSET = 1_000_000.0

PROJECT_PUBLISHER = r"""
import sys, time
from stockfish_zmq.testing.publisher import Publisher
endpoint, run, session, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])

def messages():
    n = 0
    while True:
        n += 1
        msg = {"type": "ticker", "symbol": "BTCUSD",
               "data": {"last": (run - 1) * 1_000_000.0 + n}}
        if session != "-":
            msg["session"] = session
        yield msg

pub = Publisher(endpoint).start()
pub.stream(messages(), rate=rate)
print("ready", flush=True)
time.sleep(120)
"""

BARE_PUBLISHER = r"""
import json, sys, time
import zmq
endpoint, run, session, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
sock = zmq.Context().socket(zmq.PUB)
sock.sndhwm = 0
sock.bind(endpoint)
print("ready", flush=True)
started = time.perf_counter()
n = 0
deadline = started + 120
while time.perf_counter() < deadline:
    due = int((time.perf_counter() - started) * rate) + 1
    while n < due:
        n += 1
        msg = {"type": "ticker", "symbol": "BTCUSD", "sequence": n,
               "data": {"last": (run - 1) * 1_000_000.0 + n},
               "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
        if session != "-":
            msg["session"] = session
        sock.send(json.dumps(msg).encode())
    time.sleep(0.001)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def publisher_process(kind: str, endpoint: str, run: int, session: str | None,
                      rate: float) -> Iterator[subprocess.Popen[str]]:
    code = PROJECT_PUBLISHER if kind == "project" else BARE_PUBLISHER
    proc = subprocess.Popen([sys.executable, "-c", code, endpoint, str(run), session or "-",
                             str(rate)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded: the process prints or dies
        assert line.strip() == "ready", f"publisher {run} did not start ({line!r})"
        yield proc
    finally:
        kill(proc)


def kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


class Ticks:
    def __init__(self) -> None:
        self.runs: dict[int, list[int]] = {1: [], 2: []}
        self.event = asyncio.Event()

    def on_price_tick(self, update: MarketUpdate) -> None:
        last = update.payload.last
        run = 2 if last > RUN_OFFSET else 1
        self.runs[run].append(int(update.sequence_number or -1))
        self.event.set()


@pytest.mark.parametrize("rate", [100, 10_000])
@pytest.mark.parametrize("session", [None, "s"], ids=["no-session", "session"])
@pytest.mark.parametrize("kind", ["project", "bare"])
@pytest.mark.parametrize("worker", [False, True], ids=["in-process", "worker"])
async def test_a_restarted_publisher_resumes_within_one_message(
        kind: str, session: str | None, rate: int, worker: bool) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    registry = PluginRegistry(entry_points=())
    registry.register(stockfish_zmq_plugin, "zmq")
    config = ManagerConfig(health_check_interval=0.2, staleness=30.0, journal=":memory:")
    manager = ExchangeManager(config=config, registry=registry)
    settings: dict[str, Any] = {"endpoints": [endpoint], "reconnect_interval": 0.05,
                                "reconnect_interval_max": 0.2, "rcvhwm": 0, "worker": worker}
    if kind == "bare":
        settings["subscribe_all"] = True  # the seeds' single frame has no topic frame
    manager.add_connector("feed", "zmq", **settings)
    ticks = Ticks()
    manager.add_subscriber(ticks)
    first_run = rate  # about a second of data from the first process
    second_run = max(100, rate // 2)
    timeout = 60.0

    async def until(predicate: Any, what: str) -> None:
        await wait_until(predicate, ticks.event, timeout, what, recheck=0.2)

    try:
        with publisher_process(kind, endpoint, 1, session and session + "1", rate) as one:
            await manager.start()  # the publisher is up: start() returns once connected
            await manager.subscribe_async([Subscription("BTCUSD", DataType.PRICE_TICK)])
            await until(lambda: len(ticks.runs[1]) >= first_run, "the first publisher's data")
            kill(one)
        high_water = ticks.runs[1][-1]
        with publisher_process(kind, endpoint, 2, session and session + "2", rate) as two:
            await until(lambda: len(ticks.runs[2]) >= second_run, "the restarted publisher")
            kill(two)
        stats = manager.get_stats()["connectors"]["feed"]
    finally:
        await manager.stop()
        manager.journal.close()

    one_seqs, two_seqs = ticks.runs[1], ticks.runs[2]
    assert one_seqs == list(range(one_seqs[0], one_seqs[0] + len(one_seqs)))
    first = two_seqs[0]
    # Data resumes at the first message received from the new process and goes on
    # without a hole: nothing it sent after that was dropped or held back.
    assert two_seqs == list(range(first, first + len(two_seqs))), two_seqs[:20]
    assert first < high_water, (first, high_water)  # it did fall back
    assert stats["restarts"] == 1, stats
    assert stats["duplicates"] == 0 and stats["out_of_order"] == 0, stats
    assert stats["gaps"] == 0 and stats["data_errors"] == 0, stats
    print(f"{kind} session={session} rate={rate}: run 1 up to {high_water}, run 2 first "
          f"received {first} (slow-joiner loss {first - 1}), {len(two_seqs)} delivered")
