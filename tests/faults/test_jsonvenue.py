"""Fault: the JSON venue, in its own process, killed with SIGKILL while it holds two
orders it never acknowledged, and started again on the same port with no memory of them.

The orders are in doubt from the drop; after the reconnect the core asks their status,
the new venue answers "unknown order", and both end REJECTED with that reason: neither
is sent again (the new venue's own record of the orders it received proves it), no fill
is invented, and the next order fills normally."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

pytest.importorskip("stockfish_jsonvenue")

import stockfish_jsonvenue
from stockfish_core import ExchangeManager, Order, OrderStatus, OrderType, PluginRegistry
from stockfish_core.config import ManagerConfig
from stockfish_core.testing import wait_until


class VenueProcess:
    """``python -m stockfish_jsonvenue.testing`` in a process of its own."""

    def __init__(self) -> None:
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *, hold: bool = False) -> int:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stockfish_jsonvenue.testing", "--port", str(self.port),
            *(["--hold"] if hold else []), stdout=asyncio.subprocess.PIPE)
        line = await self.line()
        assert line.startswith("listening on "), line
        self.port = int(line.rsplit(":", 1)[1])
        return self.port

    async def line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        return (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode().strip()

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.proc.wait(), 10) == -signal.SIGKILL

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 10)


@pytest.fixture
async def venue() -> AsyncIterator[VenueProcess]:
    process = VenueProcess()
    yield process
    await process.stop()


async def test_orders_held_by_a_killed_venue_are_reconciled_never_resent(
        venue: VenueProcess) -> None:
    port = await venue.start(hold=True)
    registry = PluginRegistry(entry_points=())
    registry.register(stockfish_jsonvenue, "jsonvenue")
    config = ManagerConfig(reconnect_initial_delay=0.05, reconnect_max_delay=0.5,
                           health_check_interval=0.1)
    manager = ExchangeManager(config=config, registry=registry, journal=":memory:")
    manager.add_connector("venue", "jsonvenue", port=port)
    changed = asyncio.Event()

    class Wake:
        def on_order_update(self, _: Order) -> None:
            changed.set()

        def on_connector_status(self, *_: object) -> None:
            changed.set()

    manager.add_subscriber(Wake())
    try:
        assert await manager.start()
        held = [await manager.send_order_async(Order("SPY", "BUY", 3)),
                await manager.send_order_async(Order("SPY", "BUY", 4, OrderType.LIMIT,
                                                     price=90))]
        assert [await venue.line() for _ in held] == [f"received {cid}" for cid in held]
        connector = manager.get_connector("venue")
        await venue.kill()
        await wait_until(lambda: not connector.is_connected, changed, 10, "the loss",
                         recheck=0.25)
        assert all(manager.get_order(cid).outcome_unknown for cid in held)
        await venue.start()  # the same port, no memory of the orders
        orders = [manager.get_order(cid) for cid in held]
        await wait_until(lambda: all(o.is_final for o in orders), changed, 20,
                         "both orders reconciled", recheck=0.25)
        for order in orders:
            assert order.status is OrderStatus.REJECTED, order
            assert order.reason == "unknown order"
            assert not order.outcome_unknown and order.filled_quantity == 0
        after = await manager.send_order_async(Order("SPY", "BUY", 3))
        done = await manager.wait_for_order_async(after, timeout=10)
        assert done.status is OrderStatus.FILLED
        # The first order line the new venue printed is the new order's: nothing resent.
        assert await venue.line() == f"received {after}"
        assert manager.positions()["SPY"].quantity == Decimal(3)
        stats = manager.get_stats()
        assert stats["illegal_transitions"] == stats["unknown_order_reports"] == 0
        assert stats["connectors"]["venue"]["duplicate_fills"] == 0
        assert stats["connectors"]["venue"]["reconnects"] == 1
    finally:
        await manager.stop()
        manager.journal.close()
