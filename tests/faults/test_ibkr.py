"""Fault: the IB gateway simulator, in its own process, killed with SIGKILL mid-stream of
orders and ticks, and started again on the same port and back-end state file (IB's
servers keep the orders while TWS is down; the state file is that memory).

Counted at the venue (the simulator's state file) and at the manager: orders lost,
orders placed twice, fills lost or applied twice, and the position; all asserted zero.
Ticks resume after the restart within the plugin's reconnect schedule (0.25 s doubling to
2 s), with a generous margin for the connect and the subscription.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("stockfish_ibkr")

import stockfish_ibkr.plugin as plugin
from stockfish_core import (
    ExchangeManager,
    Fill,
    Order,
    OrderRejected,
    OrderStatus,
    OrderType,
    PluginRegistry,
    Subscription,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.testing import wait_until

S = OrderStatus
#: Orders before the kill, in a burst at the kill, and after the restart.
KILL_AT = 20
BURST = 6
AFTER = 20
OUTAGE = 6.0
#: The plugin's longest wait between attempts, plus a connect, a subscription and the
#: first tick on a loaded 2-core machine.
RESUME_BOUND = plugin.RECONNECT_SCHEDULE[1] + 4.0


class GatewayProcess:
    """``python -m stockfish_ibkr.testing`` in a process of its own."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None
        self.lives = 0

    async def start(self) -> int:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stockfish_ibkr.testing", "--port", str(self.port),
            "--state", str(self.state), "--tick-interval", "0.02", "--seed", "11",
            stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode()
        assert line.startswith("listening on "), line
        self.port = int(line.rsplit(":", 1)[1])
        self.lives += 1
        return self.port

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.proc.wait(), 10) == -signal.SIGKILL

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 10)


class Watch:
    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.fills: list[Fill] = []
        self.tick_times: list[float] = []
        self.statuses: list[tuple[float, str, str]] = []

    def on_fill(self, fill: Fill, order: Order) -> None:
        self.fills.append(fill)
        self.event.set()

    def on_order_update(self, order: Order) -> None:
        self.event.set()

    def on_price_tick(self, _: Any) -> None:
        self.tick_times.append(asyncio.get_running_loop().time())
        self.event.set()

    def on_connector_status(self, _name: str, status: Any, reason: str) -> None:
        self.statuses.append((asyncio.get_running_loop().time(), status.value, reason))
        self.event.set()

    async def until(self, predicate: Any, timeout: float, what: str) -> None:
        await wait_until(predicate, self.event, timeout, what, recheck=0.1)


async def test_gateway_killed_mid_stream_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    gateway = GatewayProcess(tmp_path / "ib-backend.json")
    port = await gateway.start()
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "ibkr")
    # The manager's own reconnect defaults (up to 30 s): the plugin's schedule applies.
    manager = ExchangeManager(config=ManagerConfig(health_check_interval=0.2,
                                                   connect_timeout=5.0),
                              registry=registry, journal=str(tmp_path / "journal.db"))
    manager.add_connector("ibkr", "ibkr", primary=True, host="127.0.0.1", port=port,
                          client_id=3, connect_timeout=5.0)
    watch = Watch()
    manager.add_subscriber(watch)
    loop = asyncio.get_running_loop()
    sent: list[str] = []
    resting: list[str] = []
    refused: list[str] = []  # refused before leaving (no venue while it was down)
    try:
        assert await manager.start()
        connector = manager.get_connector("ibkr")
        assert await manager.subscribe_async([Subscription("AAPL")]) == {}
        await watch.until(lambda: watch.tick_times, 15, "the first tick")

        count = 0

        async def send() -> None:
            nonlocal count
            count += 1
            if count % 10 == 5:  # one in ten rests far from the market
                order = Order("AAPL", "BUY", 1, OrderType.LIMIT, price=Decimal("1.00"))
            else:
                order = Order("AAPL", "BUY" if count % 3 else "SELL", 1 + count % 4)
            try:
                oid = await manager.send_order_async(order)
            except OrderRejected:
                refused.append(order.client_order_id or "")
            else:
                sent.append(oid)
                if order.order_type is OrderType.LIMIT:
                    resting.append(oid)

        async def stream(until: Any) -> None:
            while not until():
                await send()
                await asyncio.sleep(0.05)  # the stream's pace, not a synchronisation

        await stream(lambda: count >= KILL_AT)
        # A burst in flight when the gateway dies: some reach it, some are still paced.
        for _ in range(BURST):
            await send()
        sender = loop.create_task(stream(lambda: False))  # orders go on during the outage
        await asyncio.sleep(0.06)
        await gateway.kill()
        await watch.until(lambda: not connector.is_connected, 10, "the loss noticed")
        await asyncio.sleep(OUTAGE)  # how long the gateway stays away
        mark = len(watch.tick_times)
        assert await gateway.start() == port
        restarted = loop.time()  # listening again (its process start-up is not counted)
        await watch.until(lambda: len(watch.tick_times) > mark, 30, "ticks after the restart")
        resumed = watch.tick_times[mark] - restarted
        timeline = [(round(t - restarted, 2), s, r[:60]) for t, s, r in watch.statuses
                    if t >= restarted - 2.5]
        assert resumed < RESUME_BOUND, \
            f"ticks resumed {resumed:.1f}s after the restart; statuses: {timeline}"
        after = len(sent)
        await watch.until(lambda: len(sent) >= after + AFTER, 30, "orders after the restart")
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        for oid in resting:
            await manager.wait_for_order_async(
                oid, lambda o: o.status is not S.PENDING and not o.outcome_unknown, 30)
            if manager.get_order(oid).is_open:
                manager.cancel_order(oid)
        for oid in sent:
            await manager.wait_for_order_async(oid, timeout=30)

        # -- count ---------------------------------------------------------------------
        venue = json.loads(gateway.state.read_text())
        mine = [o for o in venue["orders"] if o["client_id"] == 3]
        refs = Counter(o["order_ref"] for o in mine)
        duplicated_at_venue = sorted(r for r, c in refs.items() if c > 1)
        at_venue = {o["order_ref"]: o for o in mine}
        unknown_at_venue = sorted(set(at_venue) - set(sent))
        lost, wrong = [], []
        for oid in sent:
            order = manager.get_order(oid)
            row = at_venue.get(oid)
            if row is None:
                # Never reached the venue: the manager must say so, not that it worked.
                if order.status is not S.REJECTED:
                    lost.append((oid, order.status.value, order.reason))
                continue
            expected = {"Filled": S.FILLED, "Cancelled": S.CANCELLED,
                        "ApiCancelled": S.CANCELLED}.get(row["status"])
            if order.status is not expected or order.filled_quantity != Decimal(
                    repr(row["filled"])).normalize():
                wrong.append((oid, order.status.value, str(order.filled_quantity),
                              row["status"], row["filled"]))
        perm_ids = {o["perm_id"] for o in mine}
        venue_execs = {e["exec_id"] for e in venue["executions"] if e["perm_id"] in perm_ids}
        manager_execs = [f.execution_id for f in watch.fills]
        position = next((Decimal(p[3]) for p in venue["positions"] if p[2] == "AAPL"),
                        Decimal(0))

        in_doubt = sum(1 for oid in sent if manager.get_order(oid).reason
                       and "never reached" in (manager.get_order(oid).reason or ""))
        print(f"\nibkr gateway SIGKILL: {len(sent)} orders sent, {len(refused)} refused while "
              f"it was down, {len(mine)} at the venue, {in_doubt} never reached it, "
              f"{len(venue_execs)} executions, ticks resumed {resumed:.2f}s after the restart")
        assert gateway.lives == 2
        assert len(sent) >= KILL_AT + AFTER and len(mine) >= KILL_AT + AFTER - 2
        assert duplicated_at_venue == [], "orders placed twice at the venue"
        assert unknown_at_venue == [], "orders at the venue the manager did not send"
        assert lost == [], "orders the manager believes worked that the venue never had"
        assert wrong == [], "orders whose outcome differs between manager and venue"
        assert len(manager_execs) == len(set(manager_execs)), "fills applied twice"
        assert set(manager_execs) == venue_execs, "fills lost"
        assert manager.positions()["AAPL"].quantity == position
        stats = manager.get_stats()
        assert stats["connectors"]["ibkr"]["orders_errored"] == 0
        assert stats["connectors"]["ibkr"]["reconnects"] >= 1
        assert stats["illegal_transitions"] == 0
    finally:
        for task in asyncio.all_tasks():
            if task.get_coro().__qualname__.endswith("stream"):  # type: ignore[union-attr]
                task.cancel()
        await manager.stop()
        manager.journal.close()
        await gateway.stop()
