"""Fixtures: the TWS client library under test, a gateway simulator on 127.0.0.1.

Every test that takes ``library`` runs once per installed TWS client library (ib_insync,
ib_async). ``STOCKFISH_IBKR_LIBRARY=ib_async`` (as a tox environment sets it) limits the
run to that one. Any message the library's decoder fails to read fails the test: the
clients only log those, so a simulator message with a wrong field count would otherwise
go unnoticed.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import os
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from stockfish_core import (
    ConnectorStatus,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    PluginRegistry,
    Subscription,
)
from stockfish_core.tasks import cancel_and_wait
from stockfish_core.testing import ConnectorHarness, wait_until
from stockfish_ibkr.library import import_library
from stockfish_ibkr.testing import GatewaySimulator

LIBRARIES = ("ib_insync", "ib_async")


def _selected() -> list[str]:
    wanted = os.environ.get("STOCKFISH_IBKR_LIBRARY", "").strip()
    names = [wanted] if wanted and wanted != "auto" else list(LIBRARIES)
    return names


@pytest.fixture(params=_selected())
def library(request: pytest.FixtureRequest) -> ModuleType:
    name = request.param
    if importlib.util.find_spec(name) is None:
        installed = [n for n in LIBRARIES if importlib.util.find_spec(n) is not None]
        if not installed or os.environ.get("STOCKFISH_IBKR_LIBRARY", "").strip() == name:
            # Never skip every test quietly: the environment is missing the library.
            pytest.fail(f"{name} is not installed: install stockfish-ibkr[{name.replace('_', '')}]")
        pytest.skip(f"{name} is not installed (testing with {', '.join(installed)})")
    return import_library(name)


@pytest.fixture
def library_name(library: ModuleType) -> str:
    return library.__name__


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def decoder_errors() -> Iterator[list[logging.LogRecord]]:
    """Fail the test if a client decoder could not read a message."""
    handler = _Collect()
    loggers = [logging.getLogger(f"{lib}.Decoder") for lib in LIBRARIES]
    for lg in loggers:
        lg.addHandler(handler)
    yield handler.records
    for lg in loggers:
        lg.removeHandler(handler)
    problems = [f"{r.name}: {r.getMessage()}" for r in handler.records]
    assert not problems, "client decoder errors:\n" + "\n".join(problems)


@pytest.fixture
async def gateway() -> AsyncIterator[GatewaySimulator]:
    """A gateway whose market steps every 20 ms."""
    async with GatewaySimulator(tick_interval=0.02, realtime_bar_seconds=0.1) as gw:
        yield gw


@pytest.fixture
async def quiet_gateway() -> AsyncIterator[GatewaySimulator]:
    """A gateway whose market moves only when the test steps it (deterministic fills)."""
    async with GatewaySimulator(tick_interval=None, realtime_bar_seconds=0.1) as gw:
        yield gw


async def _until(ib: object, predicate: Callable[[], object], timeout: float = 5.0,
                 what: str = "a condition") -> object:
    """Wait for ``predicate()`` to hold, waking on every packet the client processes."""
    return await wait_until(predicate, lambda: ib.updateEvent,  # type: ignore[attr-defined]
                            timeout, what)


@pytest.fixture
def until() -> Callable[..., Awaitable[object]]:
    """``await until(ib, predicate, timeout, what)``: event-driven wait on an IB client."""
    return _until


@pytest.fixture
async def connect(library: ModuleType) -> AsyncIterator[Callable[..., Awaitable[object]]]:
    """``ib = await connect(gateway, client_id=1)``: connected clients, closed afterwards."""
    clients: list[object] = []

    async def make(gw: GatewaySimulator, client_id: int = 1, **kwargs: object) -> object:
        ib = library.IB()
        clients.append(ib)
        await ib.connectAsync("127.0.0.1", gw.port, clientId=client_id, timeout=5, **kwargs)
        return ib

    yield make
    for ib in clients:
        ib.disconnect()  # type: ignore[attr-defined]


# -- the connector through the core's harness ------------------------------------------------
def harness(gateway: GatewaySimulator, library_name: str, **settings: Any) -> ConnectorHarness:
    """A ConnectorHarness for the ``ibkr`` plugin, registered by hand (never from the
    installed entry points), pointed at the gateway."""
    import stockfish_ibkr.plugin as plugin

    base: dict[str, Any] = {"host": "127.0.0.1", "port": gateway.port, "client_id": 1,
                            "library": library_name, "connect_timeout": 5.0}
    base.update(settings)
    registry = PluginRegistry(entry_points=())
    return ConnectorHarness(plugin, "ibkr", base, registry=registry)


@pytest.fixture
def make_harness(library_name: str) -> Callable[..., ConnectorHarness]:
    """``async with make_harness(gateway, **settings) as h: ...``"""
    return lambda gw, **settings: harness(gw, library_name, **settings)


class Supervisor:
    """Does what the ExchangeManager does for a connector that reports DISCONNECTED:
    disconnect, connect again with backoff, subscribe to everything again, then ask the
    STATUS of every order in ``orders`` not yet final (reconciliation is the core's).
    Bounded: it gives up after ``attempts`` tries and stops with the test."""

    def __init__(self, h: ConnectorHarness, subscriptions: list[Subscription],
                 attempts: int = 200, delay: float = 0.05, max_delay: float = 0.5,
                 orders: list[Order] | None = None) -> None:
        self.h = h
        self.subscriptions = subscriptions
        #: The orders sent through the harness (the test appends to it).
        self.orders = orders if orders is not None else []
        self.attempts = attempts
        self.delay = delay
        self.max_delay = max_delay
        self.reconnects = 0
        self.failures: list[BaseException] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Supervisor:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        # Cancelled again until it stops (see cancel_and_wait): a single cancel dropped by
        # 3.11's wait_for would leave it waiting for the next loss, up to 120 s.
        if not await cancel_and_wait([self._task]):
            return
        where = "".join(traceback.format_stack(self._task.get_stack()[-1]))
        raise AssertionError(f"the supervisor ignored 20 cancels, stuck at:\n{where}")

    async def _run(self) -> None:
        h = self.h
        lost = (ConnectorStatus.DISCONNECTED, ConnectorStatus.ERROR)
        while True:
            await h.listener.wait_for(lambda: h.connector.status is ConnectorStatus.CONNECTED,
                                      120, "a connection")
            await h.listener.wait_for(lambda: h.connector.status in lost, 120, "a loss")
            await h.disconnect()
            delay = self.delay
            for _ in range(self.attempts):
                try:
                    await h.connect(timeout=5)
                    break
                except Exception as exc:  # noqa: BLE001 - retried, like the manager does
                    self.failures.append(exc)
                    await asyncio.sleep(delay)  # backoff between attempts, not a test wait
                    delay = min(delay * 2, self.max_delay)
            else:
                return
            self.reconnects += 1
            for sub in self.subscriptions:
                await h.subscribe(sub)
            for order in list(self.orders):
                if not last_status(h, order).is_final:
                    await h.execute(OrderRequest(OrderAction.STATUS, order))


def last_status(h: ConnectorHarness, order: Order) -> OrderStatus:
    """The latest status the connector reported for ``order`` (PENDING before any)."""
    for update in reversed(h.listener.order_updates):
        if update.client_order_id == order.client_order_id and update.rejected_request is None:
            return update.status
    return OrderStatus.PENDING


@pytest.fixture
def supervisor() -> Callable[..., Supervisor]:
    """``async with supervisor(harness, subscriptions) as sup``: manager-like reconnects."""
    return Supervisor
