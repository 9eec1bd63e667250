"""The connector against publishers in their own processes that were not written for this
project: a bare pyzmq PUB sending the seeds' single-frame JSON, started before or after the
manager, configured with the seeds' YAML as it is (only the address is the test's)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockfish_core import ConnectorStatus, ExchangeManager, MarketUpdate, Subscription
from stockfish_core.testing import wait_until

#: A publisher as the seeds describe it: single-frame JSON, no topic, no session. It binds
#: the port given (0: a free one), prints it, waits until a symbol is subscribed (an XPUB
#: sees each subscription; messages sent before it would rightly be filtered out) and
#: sends COUNT tickers of SYMBOLS in turn, RATE per second (0: at once).
BARE_PUBLISHER = textwrap.dedent('''
    import json, sys, time, zmq
    port, count, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    symbols = sys.argv[4].split(",")
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.sndhwm = 0
    if port:
        pub.bind(f"tcp://127.0.0.1:{port}")
    else:
        port = pub.bind_to_random_port("tcp://127.0.0.1")
    print(f"PORT {port}", flush=True)
    poller = zmq.Poller()
    poller.register(pub, zmq.POLLIN)
    while True:  # until a symbol is asked for: '{' alone comes before the subscriptions
        if not poller.poll(60_000):
            sys.exit("no subscriber")
        topic = pub.recv()
        if topic[:1] == b"\x01" and topic[1:] != b"{":
            break
    print("SUBSCRIBED " + repr(topic), flush=True)
    started = time.perf_counter()
    for n in range(count):
        symbol = symbols[n % len(symbols)]
        msg = {"type": "ticker", "symbol": symbol, "sequence": n // len(symbols) + 1,
               "data": {"bid": 100.0 + n, "ask": 100.5 + n, "last": 100.25 + n},
               "timestamp": "2026-01-19T10:30:45.123Z"}
        pub.send(json.dumps(msg).encode())
        if rate:
            due = started + (n + 1) / rate
            while time.perf_counter() < due:
                time.sleep(0.0005)
    print(f"DONE {count}", flush=True)
    sys.stdin.read()   # stay up (queued messages leave) until the test closes stdin
''')

#: The seeds' YAML (../shared/seeds/001), unchanged but for the publisher's address.
SEEDS_YAML = """\
connectors:
  zmq:
    enabled: true
    endpoints:
      - {endpoint}
    feed_type: ticker
    data_only: true

manager:
  failover_strategy: best_available
  health_check_interval: 30
"""


class BarePublisher:
    """The seeds' publisher in its own process."""

    def __init__(self, tmp: Path, count: int, *, port: int = 0, rate: float = 0.0,
                 symbols: str = "BTCUSD") -> None:
        script = tmp / "bare_publisher.py"
        script.write_text(BARE_PUBLISHER)
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(port), str(count), str(rate), symbols],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if line[:1] != ["PORT"]:
            self.close()
            raise RuntimeError(f"publisher did not start: {line}")
        self.port = int(line[1])
        self.endpoint = f"tcp://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The manager's default journal goes to a temporary folder."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("STOCKFISH_JOURNAL", raising=False)
    return tmp_path


class Collector:
    def __init__(self) -> None:
        self.ticks: list[MarketUpdate] = []
        self.changed = asyncio.Event()

    def on_price_tick(self, update: MarketUpdate) -> None:
        self.ticks.append(update)
        self.changed.set()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def bare_publishers(tmp_path: Path) -> Iterator[list[BarePublisher]]:
    started: list[BarePublisher] = []
    yield started
    for pub in started:
        pub.close()


async def test_the_seeds_yaml_and_single_frame_json_deliver_every_message(
        state_home: Path, bare_publishers: list[BarePublisher]) -> None:
    count = 1997
    pub = BarePublisher(state_home, count, symbols="BTCUSD")
    bare_publishers.append(pub)
    config = state_home / "seeds.yaml"
    config.write_text(SEEDS_YAML.format(endpoint=pub.endpoint))
    manager = ExchangeManager.from_config(config)
    collector = Collector()
    manager.add_subscriber(collector)
    async with manager:
        failures = await manager.subscribe_async(
            [Subscription("BTCUSD")])
        assert not failures
        await wait_until(lambda: len(collector.ticks) >= count, collector.changed, 30,
                         f"{count} ticks")
        connector = manager.get_connector("zmq")
        stats = connector.state.stats
        assert [u.payload.bid for u in collector.ticks] == [100.0 + n for n in range(count)]
        assert stats.data_errors == 0 and stats.filtered == 0
        assert manager.get_stats()["connectors"]["zmq"]["updates_delivered"] == count
    manager.journal.close()


def test_start_all_returns_at_once_and_a_publisher_started_5s_later_is_received(
        state_home: Path, bare_publishers: list[BarePublisher]) -> None:
    port = _free_port()
    config = state_home / "seeds.yaml"
    config.write_text(SEEDS_YAML.format(endpoint=f"tcp://127.0.0.1:{port}"))
    manager = ExchangeManager.from_config(config)
    ticks: list[MarketUpdate] = []
    arrived = threading.Event()
    statuses: list[ConnectorStatus] = []

    class Subscriber:
        def on_price_tick(self, update: MarketUpdate) -> None:
            ticks.append(update)
            if len(ticks) >= 10:
                arrived.set()

        def on_connector_status(self, name: str, status: ConnectorStatus, reason: str) -> None:
            statuses.append(status)

    manager.add_subscriber(Subscriber())
    try:
        started = time.monotonic()
        assert manager.start_all() is True
        took = time.monotonic() - started
        connector = manager.get_connector("zmq")
        assert connector.is_connected, connector.status_reason
        assert "waiting for" in connector.status_reason
        manager.subscribe_price(["BTCUSD"])
        session = connector.state
        # No publisher for 5 s (the subject of the test): nothing is torn down or retried,
        # and the connector stays routable.
        time.sleep(5.0)
        assert connector.state is session and not session.closed
        assert manager.get_stats()["connectors"]["zmq"]["reconnect_attempts"] == 0
        assert manager.get_health_status()["zmq"]["connected"] is True
        assert set(statuses) == {ConnectorStatus.CONNECTING, ConnectorStatus.CONNECTED}, statuses
        pub = BarePublisher(state_home, 10, port=port)
        bare_publishers.append(pub)
        assert arrived.wait(20), f"{len(ticks)} of 10 ticks from the late publisher"
        assert [u.payload.bid for u in ticks] == [100.0 + n for n in range(10)]
        assert connector.state is session
        # Setting the socket up is not a connection attempt: no wait for connect_timeout.
        assert took < manager.config.connect_timeout / 2
    finally:
        manager.close()
