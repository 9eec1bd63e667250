#!/usr/bin/env python
"""IBKR market data: ticks per second through the connector against bare ib_insync.

The TWS-protocol gateway simulator runs in another process; the bench process is the
client. Three ways to take the ticks, in the same session:

- bare: ``IB().pendingTickersEvent``, counting ticker updates (the library alone);
- manager: through the ``ibkr`` connector (pendingTickersEvent -> connector.feed ->
  stockfish_normalize -> PriceTick) and the ExchangeManager (sequence checks, caches) to
  a subscriber's ``on_price_tick``;
- listener: through the connector alone to a minimal listener.
``DELIVERY`` maps the names to the functions that run them.

Two regimes:

- burst (throughput): every subscription gets ``--steps`` market steps at once (quotes
  and trades) ending with a marker trade; all bursts go out together once the client has
  subscribed, so the client is the bottleneck. The clock runs from its first tick to
  the last marker: market steps per second. ib_insync then reads up to 256 KB at a time
  and hands over one batch per read, so this mostly measures the library's decoding.
- live (cost per update): the gateway steps every subscribed symbol every ~0.5 ms and
  writes each step on its own, as TWS streams ticks; the client takes one small batch
  per packet. Measured: the client's CPU time per delivered update over ``--seconds``;
  capacity ratio = bare CPU per update / connector CPU per update.

Rounds alternate the paths; the table shows medians and ratios connector / bare
(target: at least 0.7).

    python bench/ibkr_ticks.py                  # 4 symbols, 6 rounds, about 90 s
    python bench/ibkr_ticks.py --library ib_async --steps 10000

Writes JSON to bench/results/ibkr_ticks.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import stockfish_ibkr.plugin as ibkr_plugin
from stockfish_core import (
    ExchangeManager,
    MarketUpdate,
    PluginRegistry,
    PriceTick,
    Subscription,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.testing import ConnectorHarness
from stockfish_ibkr.testing import BURST_END_SIZE

RESULTS = Path(__file__).resolve().parent / "results"
SYMBOLS = ("AAPL", "MSFT", "SPY", "IBM", "QQQ", "TSLA")
CON_IDS = {"AAPL": 265598, "MSFT": 272093, "SPY": 756733, "IBM": 8314, "QQQ": 320227571,
           "TSLA": 76792991}
_client_ids = itertools.count(100)


@contextlib.asynccontextmanager
async def gateway_process(*options: str) -> AsyncIterator[int]:
    """The simulator in a subprocess; yields its port."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stockfish_ibkr.testing", "--port", "0", *options,
        stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"gateway did not start: {line!r}")
        yield int(line.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


class Clock:
    """Burst: first tick to the last marker of every symbol. Live: updates and CPU time
    over a window that opens once every symbol has ticked."""

    def __init__(self, symbols: Sequence[str], live: float = 0.0) -> None:
        self.pending = set(symbols)
        self.updates = 0
        self.start = 0.0
        self.end = 0.0
        self.done = asyncio.Event()
        self.live = live
        self.cpu = 0.0

    def tick(self) -> None:
        if not self.start:
            self.start = time.perf_counter()
        self.updates += 1

    def finished(self, symbol: str) -> None:
        self.pending.discard(symbol)
        if not self.pending and not self.done.is_set():
            self.end = time.perf_counter()
            self.done.set()

    @property
    def elapsed(self) -> float:
        return self.end - self.start

    async def measure(self, seen: set[str]) -> None:
        """Live: wait for every symbol, then count updates and CPU for ``live`` s."""
        if not self.live:
            await asyncio.wait_for(self.done.wait(), 120)
            return
        deadline = time.monotonic() + 30
        while self.pending - seen:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no ticks for {sorted(self.pending - seen)}")
            await asyncio.sleep(0.05)  # the bench's own pacing, not a test wait
        count, cpu, wall = self.updates, time.process_time(), time.perf_counter()
        await asyncio.sleep(self.live)
        self.updates -= count
        self.cpu = time.process_time() - cpu
        self.start, self.end = wall, time.perf_counter()


# -- bare library --------------------------------------------------------------------------
async def bare(lib: ModuleType, port: int, symbols: Sequence[str], live: float) -> Clock:
    clock = Clock(symbols, live)
    ib = lib.IB()
    names: dict[int, str] = {}
    seen: set[str] = set()

    def on_tickers(tickers: Any) -> None:
        for ticker in tickers:
            clock.tick()
            seen.add(names.get(id(ticker), ""))
            if ticker.lastSize == BURST_END_SIZE:
                clock.finished(names[id(ticker)])

    ib.pendingTickersEvent += on_tickers
    await ib.connectAsync("127.0.0.1", port, clientId=next(_client_ids), timeout=10)
    try:
        for symbol in symbols:
            ticker = ib.reqMktData(lib.Stock(symbol, "SMART", "USD", conId=CON_IDS[symbol]), "")
            names[id(ticker)] = symbol
        await clock.measure(seen)
    finally:
        ib.disconnect()
    return clock


# -- through the connector ------------------------------------------------------------------
def _on_tick(clock: Clock, seen: set[str]) -> Callable[[MarketUpdate], None]:
    def on_price_tick(update: MarketUpdate) -> None:
        clock.tick()
        tick: PriceTick = update.payload
        seen.add(tick.symbol)
        if tick.last_size == BURST_END_SIZE:
            clock.finished(tick.symbol)

    return on_price_tick


def _settings(library: str) -> dict[str, Any]:
    return {"host": "127.0.0.1", "client_id": next(_client_ids), "library": library,
            "generic_ticks": "", "connect_timeout": 10.0}


async def via_manager(library: str, port: int, symbols: Sequence[str], live: float) -> Clock:
    """Delivered by the ExchangeManager to a subscriber's on_price_tick."""
    clock = Clock(symbols, live)
    seen: set[str] = set()
    registry = PluginRegistry(entry_points=())
    registry.register(ibkr_plugin, "ibkr")
    manager = ExchangeManager(registry=registry, journal=":memory:",
                              config=ManagerConfig(health_check_interval=5.0, staleness=60.0))
    manager.add_connector("ibkr", "ibkr", primary=True, port=port, **_settings(library))

    class Subscriber:
        on_price_tick = staticmethod(_on_tick(clock, seen))

    manager.add_subscriber(Subscriber())
    try:
        async with manager:
            failed = await manager.subscribe_async([Subscription(s) for s in symbols])
            if failed:
                raise RuntimeError(f"subscriptions failed: {failed}")
            await clock.measure(seen)
    finally:
        manager.journal.close()
    return clock


async def via_listener(library: str, port: int, symbols: Sequence[str], live: float) -> Clock:
    """Delivered by the connector alone to a minimal listener."""
    clock = Clock(symbols, live)
    seen: set[str] = set()
    callback = _on_tick(clock, seen)
    harness = ConnectorHarness(ibkr_plugin, "ibkr", {"port": port, **_settings(library)},
                               registry=PluginRegistry(entry_points=()))

    def on_updates(connector: Any, updates: Sequence[MarketUpdate]) -> None:
        for update in updates:
            callback(update)

    harness.connector.listener.on_updates = on_updates  # type: ignore[method-assign]
    async with harness:
        await harness.connect()
        for symbol in symbols:
            await harness.subscribe(Subscription(symbol))
        await clock.measure(seen)
    return clock


DELIVERY: dict[str, Callable[[str, int, Sequence[str], float], Awaitable[Clock]]] = {
    "manager": via_manager,
    "listener": via_listener,
}


# -- the run --------------------------------------------------------------------------------
async def _rounds(args: argparse.Namespace, port: int, symbols: Sequence[str], live: float,
                  deadline: float) -> dict[str, list[Clock]]:
    lib = __import__(args.library)
    runs: dict[str, list[Clock]] = {name: [] for name in ["bare", *args.via]}
    order = ["bare", *args.via]
    for round_no in range(args.rounds):
        # Rotate who goes first: no path always runs on a cold (or warm) process.
        shift = round_no % len(order)
        for name in order[shift:] + order[:shift]:
            if name == "bare":
                runs[name].append(await bare(lib, port, symbols, live))
            else:
                runs[name].append(await DELIVERY[name](args.library, port, symbols, live))
        if time.monotonic() > deadline:
            break
    return runs


def _median(values: Any) -> float:
    return float(statistics.median(list(values)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    lib = __import__(args.library)
    symbols = SYMBOLS[:args.symbols]
    deadline = time.monotonic() + args.budget
    total_steps = args.steps * len(symbols)
    async with gateway_process("--tick-interval", "3600", "--burst", str(args.steps),
                               "--burst-delay", "0.3") as port:
        burst_runs = await _rounds(args, port, symbols, 0.0, deadline - args.budget / 2)
    async with gateway_process("--tick-interval", "0.0005") as port:
        live_runs = await _rounds(args, port, symbols, args.seconds, deadline)
    burst: dict[str, Any] = {}
    for name, clocks in burst_runs.items():
        burst[name] = {
            "steps_per_s": _median(total_steps / c.elapsed for c in clocks),
            "updates": _median(c.updates for c in clocks),
            "seconds": [round(c.elapsed, 4) for c in clocks],
        }
    live: dict[str, Any] = {}
    for name, clocks in live_runs.items():
        live[name] = {
            "updates_per_s": _median(c.updates / c.elapsed for c in clocks),
            "cpu_us_per_update": _median(c.cpu / c.updates * 1e6 for c in clocks),
            "cpu_share": _median(c.cpu / c.elapsed for c in clocks),
        }
    for name in args.via:
        burst[name]["ratio"] = burst[name]["steps_per_s"] / burst["bare"]["steps_per_s"]
        live[name]["ratio"] = live["bare"]["cpu_us_per_update"] / live[name]["cpu_us_per_update"]
    return {"library": f"{args.library} {lib.__version__}", "symbols": list(symbols),
            "steps_per_symbol": args.steps, "live_seconds": args.seconds,
            "rounds": {"burst": len(burst_runs["bare"]), "live": len(live_runs["bare"])},
            "python": platform.python_version(), "burst": burst, "live": live}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--library", default="ib_insync", choices=["ib_insync", "ib_async"])
    p.add_argument("--symbols", type=int, default=4, choices=range(1, len(SYMBOLS) + 1))
    p.add_argument("--steps", type=int, default=20_000, help="market steps per symbol")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--seconds", type=float, default=1.5, help="live window per run")
    p.add_argument("--via", nargs="+", default=["manager", "listener"], choices=list(DELIVERY))
    p.add_argument("--budget", type=float, default=100.0,
                   help="stop starting new rounds after this many seconds")
    args = p.parse_args(argv)
    result = asyncio.run(run(args))
    names = ["bare", *args.via]
    print(f"{result['library']}, {len(result['symbols'])} symbols; medians of "
          f"{result['rounds']['burst']} burst and {result['rounds']['live']} live rounds")
    print(f"burst, {args.steps} steps per symbol:")
    print(f"  {'path':<9} {'steps/s':>10} {'batches':>8} {'ratio':>6}")
    for name in names:
        row = result["burst"][name]
        print(f"  {name:<9} {row['steps_per_s']:>10,.0f} {row['updates']:>8,.0f} "
              f"{row.get('ratio', 1.0):>6.2f}")
    print(f"live, {args.seconds:g} s windows:")
    print(f"  {'path':<9} {'updates/s':>10} {'CPU us/update':>14} {'CPU':>5} {'ratio':>6}")
    for name in names:
        row = result["live"][name]
        print(f"  {name:<9} {row['updates_per_s']:>10,.0f} {row['cpu_us_per_update']:>14.1f} "
              f"{row['cpu_share']:>5.0%} {row.get('ratio', 1.0):>6.2f}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "ibkr_ticks.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
