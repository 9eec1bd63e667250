"""Order round trips through the FIX connector against a bare QuickFIX initiator.

A round trip is: a NewOrderSingle for a marketable order leaves, and the caller sees the
order FILLED. The counterparty runs in a process of its own: by default the benchmark's
lean acceptor (bench/peers/fix_acceptor.py: an acknowledgement and a fill per order,
nothing else), with ``--peer sim`` the project's exchange simulator. Its CPU per order is
reported apart (peer CPU). The clients, in this process, on the same session (same
FileStore, so sequence numbers simply continue):

* ``bare``      a quickfix.Application subclass sending NewOrderSingle with
                Session.sendToTarget and counting ExecutionReports with OrdStatus 2;
* ``connector`` the stockfish ``fix`` plugin's hooks, called as the manager calls them,
                with a minimal listener that resolves a future when the order is FILLED;
* ``manager``   (unless --no-manager) the same through the core's ExchangeManager, its
                journal on disk (SQLite WAL, as by default) or, with ``--journal memory``,
                in memory.

Each round runs every client once, in an order rotated from round to round
(bench/harness.py ``interleave``): it logs on, warms up, keeps ``--window`` orders in
flight for ``--orders`` orders (throughput), then sends ``--latency`` orders one at a time
(latency, sampled in every round), and logs out. Reported per client: the rate and the
process CPU per round trip (every thread of this process: the measured side), median and
range over the rounds, the median of the per-round ratios to the bare client, the peer's
CPU per order, and for one order at a time p50 and p99 over every round's samples.

Goals (issue 27): through the manager, journal on disk, at least 0.9x the bare rate at 32
in flight with at most 1.3x its CPU per order; one order at a time p99 under 2 ms.

    python bench/fix_roundtrip.py [--orders 3000] [--window 32] [--latency 300]
                                  [--rounds 5] [--journal disk|memory] [--no-manager]
                                  [--peer lean|sim]

Prints the common table and writes bench/results/fix_roundtrip.json. Bounded: every wait
has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import quickfix
from harness import Report, Row, Sample, interleave, measure, process_cpu, spread

import stockfish_fix.plugin as fix_plugin
from stockfish_core import (
    Connector,
    ConnectorStatus,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    PluginRegistry,
)
from stockfish_core.config import structure_plugin_config
from stockfish_fix.config import FixConfig
from stockfish_fix.messages import new_message, transact_time
from stockfish_fix.settings import initiator_settings

HERE = Path(__file__).resolve().parent
WAIT = 60.0  # seconds: the longest any single phase may take
#: ClOrdIDs must never repeat on the session (the exchange refuses a duplicate).
_IDS = itertools.count(1)


# -- the counterparty ----------------------------------------------------------------------
class Peer:
    """The counterparty in a process of its own: the lean acceptor or the simulator."""

    def __init__(self, kind: str, version: str, store: str) -> None:
        if kind == "lean":
            argv = [sys.executable, str(HERE / "peers" / "fix_acceptor.py"), "--port", "0",
                    "--begin-string", version]
        else:
            argv = [sys.executable, "-m", "stockfish_fix.testing", "--port", "0",
                    "--begin-strings", version, "--tick-interval", "0", "--replenish",
                    "--store", store]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if line[:1] != ["READY"]:
            self.close()
            raise RuntimeError(f"the counterparty did not start: {line}")
        self.port = int(line[-1] if kind == "lean" else line[2])
        self.pid = self.process.pid

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()  # the lean acceptor ends when its stdin does
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def connector_settings(version: str, port: int, store: str) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "begin_string": version,
            "sender_comp_id": "CLIENT", "target_comp_id": "EXCH", "file_store_path": store,
            "logon_timeout": 10}


# -- bare QuickFIX ------------------------------------------------------------------------
class BareApp(quickfix.Application):  # type: ignore[misc]
    """The least a Python QuickFIX client does to count fills."""

    def __init__(self) -> None:
        super().__init__()
        self.logged_on = threading.Event()
        self.filled = 0
        self.target = 0
        self.done = threading.Event()
        self.window: threading.Semaphore | None = None

    def onCreate(self, session_id: Any) -> None:
        pass

    def onLogon(self, session_id: Any) -> None:
        self.logged_on.set()

    def onLogout(self, session_id: Any) -> None:
        pass

    def toAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def toApp(self, message: Any, session_id: Any) -> None:
        pass

    def fromApp(self, message: Any, session_id: Any) -> None:
        if message.getHeader().getField(35) == "8" and message.getField(39) == "2":
            self.filled += 1
            if self.window is not None:
                self.window.release()
            if self.filled >= self.target:
                self.done.set()


class BareClient:
    def __init__(self, version: str, port: int, store: str) -> None:
        config: FixConfig = structure_plugin_config(
            FixConfig, connector_settings(version, port, store), "bench")
        settings = initiator_settings(config, "bench").session_settings()
        self.session_id = quickfix.SessionID(version, "CLIENT", "EXCH")
        self.app = BareApp()
        self.initiator = quickfix.SocketInitiator(self.app, quickfix.FileStoreFactory(settings),
                                                  settings)
        self.initiator.start()
        if not self.app.logged_on.wait(WAIT):
            raise RuntimeError("bare initiator: no logon")

    def send(self) -> None:
        message = new_message(quickfix, "D", [
            (11, f"B{next(_IDS)}"), (21, "1"), (55, "SPY"), (54, "1"), (60, transact_time()),
            (38, "1"), (40, "1"), (59, "0"),
        ])
        quickfix.Session.sendToTarget(message, self.session_id)

    def throughput(self, orders: int, window: int) -> None:
        app = self.app
        app.filled, app.target = 0, orders
        app.done.clear()
        app.window = threading.Semaphore(window)
        for _ in range(orders):
            if not app.window.acquire(timeout=WAIT):
                raise RuntimeError("bare: no fill within the time limit")
            self.send()
        if not app.done.wait(WAIT):
            raise RuntimeError("bare: fills missing")
        app.window = None

    def latency(self, count: int) -> list[float]:
        app = self.app
        samples = []
        for _ in range(count):
            app.filled, app.target = 0, 1
            app.done.clear()
            start = time.perf_counter_ns()
            self.send()
            if not app.done.wait(WAIT):
                raise RuntimeError("bare: no fill within the time limit")
            samples.append((time.perf_counter_ns() - start) / 1000)
        return samples

    def close(self) -> None:
        self.initiator.stop(True)
        del self.initiator


# -- through the connector ----------------------------------------------------------------
class Driver(Protocol):
    """Sends an order and resolves when the caller sees it FILLED."""

    name: str

    async def start(self) -> None: ...

    async def round_trip(self, order: Order) -> asyncio.Future[Any]: ...

    async def stop(self) -> None: ...


class FillListener:
    """A minimal ConnectorListener: futures resolved when their order is FILLED."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.filled: dict[str, Decimal] = {}

    def on_status(self, connector: Connector, status: ConnectorStatus, reason: str) -> None:
        pass

    def on_updates(self, connector: Connector, updates: Any) -> None:
        pass

    def on_order_update(self, connector: Connector, update: OrderUpdate) -> None:
        if update.fill is not None:
            cid = update.client_order_id
            self.filled[cid] = self.filled.get(cid, Decimal(0)) + update.fill.quantity
        if update.status is OrderStatus.FILLED:
            future = self.waiting.pop(update.client_order_id, None)
            if future is not None and not future.done():
                future.set_result(None)

    def on_error(self, connector: Connector, message: str, *, symbol: str | None,
                 code: str | None, data: bool) -> None:
        print(f"  error from {connector.name}: {message}", file=sys.stderr)


class ConnectorDriver:
    """The plugin's hooks, called the way the manager calls them."""

    name = "connector"

    def __init__(self, settings: dict[str, Any]) -> None:
        registry = PluginRegistry(entry_points=())
        loaded = registry.register(fix_plugin, "fix")
        assert loaded.spec is not None and loaded.spec.config_class is not None
        config = structure_plugin_config(loaded.spec.config_class, settings, "bench")
        self.listener = FillListener()
        self.connector = Connector("fix", "fix", config, listener=self.listener,
                                   capabilities=loaded.spec.capabilities, hooks=loaded.hooks)
        self.execute: Callable[..., Any] = loaded.hooks.caller("stockfish_execute")

    async def start(self) -> None:
        self.connector.loop = asyncio.get_running_loop()
        await asyncio.wait_for(self.connector.hooks.acall(  # type: ignore[union-attr]
            "stockfish_connect", connector=self.connector), WAIT)

    async def round_trip(self, order: Order) -> asyncio.Future[Any]:
        order.client_order_id = f"C{next(_IDS)}"
        future = asyncio.get_running_loop().create_future()
        self.listener.waiting[order.client_order_id] = future
        self.execute(connector=self.connector, request=OrderRequest(OrderAction.SUBMIT, order))
        return future

    async def stop(self) -> None:
        await self.connector.hooks.acall(  # type: ignore[union-attr]
            "stockfish_disconnect", connector=self.connector)


class ManagerDriver:
    """Through the core's ExchangeManager (its journal a file, or ``:memory:``)."""

    name = "manager"

    def __init__(self, settings: dict[str, Any], journal: str) -> None:
        from stockfish_core.manager import ExchangeManager

        registry = PluginRegistry(entry_points=())
        registry.register(fix_plugin, "fix")
        self.manager = ExchangeManager(registry=registry, journal=journal)
        self.manager.add_connector("fix", "fix", primary=True, **settings)

    async def start(self) -> None:
        if not await asyncio.wait_for(self.manager.start(), WAIT):
            raise RuntimeError("the manager did not connect")

    async def round_trip(self, order: Order) -> asyncio.Future[Any]:
        order_id = await self.manager.send_order_async(order)
        return self.manager.wait_for_order_async(
            order_id, lambda o: o.status is OrderStatus.FILLED, WAIT)

    async def stop(self) -> None:
        await self.manager.stop()


async def driver_throughput(driver: Driver, orders: int, window: int) -> None:
    # As the bare client: a window of orders in flight and a count of those done, no
    # per-order task or gather (the harness should not add work the bare client has not).
    semaphore = asyncio.Semaphore(window)
    all_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    remaining = orders

    def done(wait: asyncio.Future[Any]) -> None:
        nonlocal remaining
        semaphore.release()
        remaining -= 1
        if all_done.done():
            return
        if wait.cancelled():
            all_done.cancel()
        elif (error := wait.exception()) is not None:
            all_done.set_exception(error)
        elif remaining == 0:
            all_done.set_result(None)

    for _ in range(orders):
        await semaphore.acquire()
        (await driver.round_trip(Order("SPY", "BUY", 1))).add_done_callback(done)
    await asyncio.wait_for(all_done, WAIT)


async def driver_latency(driver: Driver, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        await asyncio.wait_for(await driver.round_trip(Order("SPY", "BUY", 1)), WAIT)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples



# -- the run ------------------------------------------------------------------------------
def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class Round:
    """What one client measured in one round."""

    def __init__(self) -> None:
        self.throughput: dict[str, list[Sample]] = {}
        self.latency: dict[str, list[Sample]] = {}
        self.latencies: dict[str, list[float]] = {}

    def add(self, name: str, throughput: Sample, latency: Sample | None,
            latencies: list[float]) -> Sample:
        self.throughput.setdefault(name, []).append(throughput)
        if latency is not None:
            self.latency.setdefault(name, []).append(latency)
            self.latencies.setdefault(name, []).extend(latencies)
        return throughput


async def _timed(ops: int, work: Any, peer: int) -> Sample:
    """``measure`` for a coroutine run on this loop."""
    peer_before, cpu_before = process_cpu(peer), process_cpu()
    start = time.perf_counter()
    await work
    wall = time.perf_counter() - start
    return Sample(ops, wall, process_cpu() - cpu_before, process_cpu(peer) - peer_before)


def run_bare(version: str, port: int, store: str, args: argparse.Namespace, peer: int,
             out: Round) -> Sample:
    bare = BareClient(version, port, store)
    try:
        bare.throughput(min(200, args.orders), args.window)  # warm up
        sample = measure(args.orders, lambda: bare.throughput(args.orders, args.window),
                         peer=peer)
        latencies: list[float] = []
        latency = None
        if args.latency:
            latency = measure(args.latency, lambda: latencies.extend(
                bare.latency(args.latency)), peer=peer)
    finally:
        bare.close()
    return out.add("bare", sample, latency, latencies)


def run_driver(make: Callable[[], Driver], args: argparse.Namespace, peer: int,
               out: Round) -> Sample:
    driver = make()

    async def run() -> tuple[Sample, Sample | None, list[float]]:
        await driver.start()
        try:
            await driver_throughput(driver, min(200, args.orders), args.window)  # warm up
            sample = await _timed(args.orders, driver_throughput(
                driver, args.orders, args.window), peer)
            latencies: list[float] = []
            latency = None
            if args.latency:
                async def sequential() -> None:
                    latencies.extend(await driver_latency(driver, args.latency))

                latency = await _timed(args.latency, sequential(), peer)
        finally:
            await driver.stop()
        return sample, latency, latencies

    sample, latency, latencies = asyncio.run(run())
    return out.add(driver.name, sample, latency, latencies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default="FIX.4.4", choices=["FIX.4.2", "FIX.4.4", "FIXT.1.1"])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--latency", type=int, default=300,
                        help="orders sent one at a time, per client and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--journal", choices=["disk", "memory"], default="disk",
                        help="where the manager keeps its journal")
    parser.add_argument("--manager", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure through the ExchangeManager (the default)")
    parser.add_argument("--peer", choices=["lean", "sim"], default="lean",
                        help="the counterparty: the lean acceptor or the exchange simulator")
    parser.add_argument("--only", choices=["bare", "connector", "manager"], default=None,
                        help="run this client alone (to profile it), no comparison")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="fix-bench-")
    store = str(Path(work) / "client")
    peer = Peer(args.peer, args.version, str(Path(work) / "exchange"))
    settings = connector_settings(args.version, peer.port, store)
    journal = ":memory:" if args.journal == "memory" else str(Path(work) / "journal.sqlite")
    out = Round()
    cases: dict[str, Callable[[], Sample]] = {
        "bare": lambda: run_bare(args.version, peer.port, store, args, peer.pid, out),
        "connector": lambda: run_driver(lambda: ConnectorDriver(settings), args, peer.pid,
                                        out),
    }
    if args.manager:
        cases["manager"] = lambda: run_driver(lambda: ManagerDriver(settings, journal), args,
                                              peer.pid, out)
    if args.only is not None:
        cases = {args.only: cases[args.only]}
    report = Report("fix_roundtrip", f"FIX {args.version} round trips (send -> FILLED), "
                    f"{args.orders} orders, {args.window} in flight, then {args.latency} one "
                    f"at a time, per client and round; counterparty: {args.peer}; manager "
                    f"journal on {args.journal}")
    try:
        interleave(cases, args.rounds, progress=lambda line: print(" ", line, flush=True))
    finally:
        peer.close()
    bare = out.throughput.get("bare")
    bare_latency = out.latency.get("bare")
    goals = {"manager": ("journal on disk: >= 0.9x rate, <= 1.3x CPU", 0.9, 1.3)}
    for name, samples in out.throughput.items():
        goal, rate_goal, cpu_goal = goals.get(name, ("", None, None))
        if name == "manager" and args.journal != "disk":
            goal, rate_goal, cpu_goal = "", None, None
        label = f"{name} {args.window} in flight" + (
            f" (journal {args.journal})" if name == "manager" else "")
        report.add(Row.of(label, samples, unit="round trip",
                          baseline="" if name == "bare" else "bare QuickFIX initiator",
                          bare=None if name == "bare" else bare, goal=goal,
                          rate_goal=rate_goal, cpu_goal=cpu_goal))
    for name, samples in out.latency.items():
        lat = out.latencies[name]
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        per_round = [percentile(lat[i:i + args.latency], 99)
                     for i in range(0, len(lat), args.latency)]
        row = Row.of(f"{name} one at a time", samples, unit="round trip",
                     baseline="" if name == "bare" else "bare QuickFIX initiator",
                     bare=None if name == "bare" else bare_latency,
                     goal="p99 < 2 ms" if name == "manager" else "",
                     latency_p50_us=round(p50, 1), latency_p99_us=round(p99, 1),
                     latency_p99_us_per_round=spread(per_round))
        if name == "manager":
            row.verdict = "met" if p99 < 2000 else "NOT met"
        report.add(row)
        print(f"  {name} one at a time: p50 {p50:.0f} us, p99 {p99:.0f} us "
              f"(per round p99 {min(per_round):.0f}-{max(per_round):.0f} us)")
    report.extra = {"version": args.version, "orders": args.orders, "window": args.window,
                    "latency_samples": args.latency, "journal": args.journal,
                    "peer": args.peer, "rounds": args.rounds}
    report.finish(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
