"""Order round trips through the FIX connector against a bare QuickFIX initiator.

A round trip is: a NewOrderSingle for a marketable order leaves, and the caller sees the
order FILLED. The FIX exchange simulator runs in a process of its own (``python -m
stockfish_fix.testing --replenish``); in this process, one after the other and on the
same session (same FileStore, so sequence numbers simply continue):

* ``bare``      a quickfix.Application subclass sending NewOrderSingle with
                Session.sendToTarget and counting ExecutionReports with OrdStatus 2;
* ``connector`` the stockfish ``fix`` plugin's hooks, called as the manager calls them,
                with a minimal listener that resolves a future when the order is FILLED;
* ``manager``   (unless --no-manager) the same through the core's ExchangeManager, its journal
                on disk (SQLite WAL, as by default) or, with ``--journal memory``, in memory.

Throughput keeps ``--window`` orders in flight; latency sends one order at a time. The
throughput runs are repeated ``--repeats`` times, the clients alternating; reported are
the median rate of each client and the median of the per-repeat ratios to the bare run
just before (which cancels most of the drift of a shared machine), and the process CPU
time per round trip.

    python bench/fix_roundtrip.py [--orders 3000] [--window 32] [--latency 300]
                                  [--journal disk|memory] [--no-manager]

Prints a table and writes bench/results/fix_roundtrip.json. Bounded: every wait has a
timeout and the whole run takes well under two minutes with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import statistics
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

RESULTS = Path(__file__).resolve().parent / "results"
WAIT = 60.0  # seconds: the longest any single phase may take
#: ClOrdIDs must never repeat on the session (the exchange refuses a duplicate).
_IDS = itertools.count(1)


# -- the simulator --------------------------------------------------------------------------
class Simulator:
    def __init__(self, version: str, store: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stockfish_fix.testing", "--port", "0", "--begin-strings",
             version, "--tick-interval", "0", "--replenish", "--store", store],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if line[:1] != ["READY"]:
            self.close()
            raise RuntimeError(f"the simulator did not start: {line}")
        self.port = int(line[2])

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


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

    def throughput(self, orders: int, window: int) -> tuple[float, float]:
        """(round trips per second, process CPU microseconds per round trip)."""
        app = self.app
        app.filled, app.target = 0, orders
        app.done.clear()
        app.window = threading.Semaphore(window)
        cpu, start = time.process_time(), time.perf_counter()
        for _ in range(orders):
            if not app.window.acquire(timeout=WAIT):
                raise RuntimeError("bare: no fill within the time limit")
            self.send()
        if not app.done.wait(WAIT):
            raise RuntimeError("bare: fills missing")
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        app.window = None
        return orders / elapsed, cpu / orders * 1e6

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


async def driver_throughput(driver: Driver, orders: int, window: int) -> tuple[float, float]:
    """(round trips per second, process CPU microseconds per round trip)."""
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

    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(orders):
        await semaphore.acquire()
        (await driver.round_trip(Order("SPY", "BUY", 1))).add_done_callback(done)
    await asyncio.wait_for(all_done, WAIT)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return orders / elapsed, cpu / orders * 1e6


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


async def run_driver(driver: Driver, orders: int, window: int, latency_samples: int
                     ) -> tuple[tuple[float, float], list[float]]:
    await driver.start()
    try:
        await driver_throughput(driver, min(200, orders), window)  # warm up
        rate = await driver_throughput(driver, orders, window)
        latency = await driver_latency(driver, latency_samples) if latency_samples else []
    finally:
        await driver.stop()
    return rate, latency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default="FIX.4.4", choices=["FIX.4.2", "FIX.4.4", "FIXT.1.1"])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--latency", type=int, default=300, help="sequential samples per client")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--journal", choices=["disk", "memory"], default="disk",
                        help="where the manager keeps its journal")
    parser.add_argument("--manager", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure through the ExchangeManager (the default)")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="fix-bench-")
    store = str(Path(work) / "client")
    simulator = Simulator(args.version, str(Path(work) / "exchange"))
    settings = connector_settings(args.version, simulator.port, store)
    drivers: list[Callable[[], Driver]] = [lambda: ConnectorDriver(settings)]
    if args.manager:
        journal = ":memory:" if args.journal == "memory" else str(Path(work) / "journal.sqlite")
        drivers.append(lambda: ManagerDriver(settings, journal))
    rates: dict[str, list[tuple[float, float]]] = {"bare": []}
    latencies: dict[str, list[float]] = {}
    started = time.perf_counter()
    try:
        for repeat in range(args.repeats):
            bare = BareClient(args.version, simulator.port, store)
            try:
                bare.throughput(min(200, args.orders), args.window)  # warm up
                rates["bare"].append(bare.throughput(args.orders, args.window))
                if repeat == 0 and args.latency:
                    latencies["bare"] = bare.latency(args.latency)
            finally:
                bare.close()
                del bare
            for make in drivers:
                driver = make()
                result, latency = asyncio.run(run_driver(
                    driver, args.orders, args.window, args.latency if repeat == 0 else 0))
                rates.setdefault(driver.name, []).append(result)
                if latency:
                    latencies[driver.name] = latency
                del driver
    finally:
        simulator.close()
    elapsed = time.perf_counter() - started
    bare_runs = [r for r, _ in rates["bare"]]
    rows = []
    print(f"FIX {args.version} round trips (send -> FILLED), {args.orders} orders, "
          f"window {args.window}, median of {args.repeats}; simulator in its own process"
          + (f"; manager journal on {args.journal}" if args.manager else ""))
    print(f"{'client':<10} {'orders/s':>10} {'vs bare':>8} {'cpu us':>8} {'p50 us':>9} "
          f"{'p99 us':>9}")
    for name, samples in rates.items():
        rate = statistics.median(r for r, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        ratio = statistics.median(r / b for (r, _), b in zip(samples, bare_runs, strict=True))
        lat = latencies.get(name, [])
        p50 = percentile(lat, 50) if lat else float("nan")
        p99 = percentile(lat, 99) if lat else float("nan")
        rows.append({"client": name, "orders_per_s": round(rate, 1),
                     "runs": [round(r, 1) for r, _ in samples],
                     "ratio_to_bare": round(ratio, 3),
                     "cpu_us_per_order": round(cpu, 1),
                     "latency_p50_us": round(p50, 1), "latency_p99_us": round(p99, 1)})
        print(f"{name:<10} {rate:>10.0f} {ratio:>7.2f}x {cpu:>8.0f} {p50:>9.0f} "
              f"{p99:>9.0f}")
    print(f"({elapsed:.1f}s)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "fix_roundtrip.json"
    out.write_text(json.dumps({
        "benchmark": "fix_roundtrip", "version": args.version, "orders": args.orders,
        "window": args.window, "repeats": args.repeats, "latency_samples": args.latency,
        "journal": args.journal if args.manager else None,
        "python": platform.python_version(), "machine": platform.machine(),
        "results": rows, "seconds": round(elapsed, 1),
    }, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
