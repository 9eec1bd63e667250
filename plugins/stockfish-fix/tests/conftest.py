"""Fixtures for the FIX connector's tests: the exchange simulator on a free port of
127.0.0.1 with its FileStore in a temporary directory, connector harnesses registered
under the name ``fix`` (never an installed plugin), a hand-written FIX peer for the
cases a well-behaved QuickFIX acceptor cannot produce, and a check that every test
leaves no thread behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import stockfish_fix.plugin as fix_plugin
from stockfish_core import PluginRegistry
from stockfish_core.testing import ConnectorHarness
from stockfish_fix.testing import FixExchange, RawFixPeer

VERSIONS = ["FIX.4.2", "FIX.4.4", "FIXT.1.1"]


def _thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    """QuickFIX threads (and ours) are all gone once a test has torn down."""
    before = _thread_count()
    yield
    # Joined threads are gone at once. A connection thread of the exchange's
    # ThreadedSocketAcceptor that ended while the acceptor ran was detached by QuickFIX and
    # cannot be joined: it may still be unwinding. With no event to await, the count is
    # polled, bounded (in three full runs the loop never had to wait).
    deadline = time.monotonic() + 3.0
    while _thread_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _thread_count() <= before, f"{_thread_count() - before} thread(s) left running"


@pytest.fixture
def make_exchange(tmp_path: Path) -> Iterator[Callable[..., FixExchange]]:
    """Start exchanges (FileStore under tmp_path); all are closed after the test."""
    made: list[FixExchange] = []

    def make(**kwargs: Any) -> FixExchange:
        kwargs.setdefault("store_path", str(tmp_path / f"exchange{len(made)}"))
        exchange = FixExchange(**kwargs).start()
        made.append(exchange)
        return exchange

    yield make
    for exchange in made:
        exchange.close()


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def exchange(make_exchange: Callable[..., FixExchange], version: str) -> FixExchange:
    """An exchange serving the session of the test's FIX version (reading a data
    dictionary takes QuickFIX a while: FIX50SP2.xml is 1.4 MB)."""
    return make_exchange(begin_strings=(version,))


@pytest.fixture
async def open_connector(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await open_connector(exchange_or_port, version, **settings)``: a harness for a
    connector (logged on unless ``connect=False``), closed after the test. The client's
    FileStore is under tmp_path, shared by every connector of the test."""
    opened: list[ConnectorHarness] = []

    async def open_(target: FixExchange | int, version: str, *, connect: bool = True,
                    name: str = "fix", **extra: Any) -> ConnectorHarness:
        port = target if isinstance(target, int) else target.port
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": port,
            "begin_string": version,
            "sender_comp_id": "CLIENT",
            "target_comp_id": "EXCH",
            "file_store_path": str(tmp_path / "client"),
            "logon_timeout": 5,
            "reconnect_initial_delay": 0.1,
            "reconnect_max_delay": 0.5,
        }
        settings.update(extra)
        h = ConnectorHarness(fix_plugin, "fix", settings,
                             registry=PluginRegistry(entry_points=()), connector_name=name)
        await h.__aenter__()
        opened.append(h)
        if connect:
            await h.connect()
        return h

    yield open_
    for h in reversed(opened):
        await h.__aexit__(None, None, None)


@pytest.fixture
async def connected(exchange: FixExchange, version: str,
                    open_connector: Callable[..., Any]) -> ConnectorHarness:
    """A connector logged on to ``exchange``, once in each FIX version."""
    h: ConnectorHarness = await open_connector(exchange, version)
    return h


@pytest.fixture
async def raw_peer() -> AsyncIterator[RawFixPeer]:
    """A scripted FIX counterparty on a free port of 127.0.0.1."""
    peer = await RawFixPeer().start()
    yield peer
    await peer.close()
