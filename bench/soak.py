#!/usr/bin/env python
"""Soak: market data and orders through the three venue simulators (ibkr, fix, zmq) via
the ExchangeManager for ``--minutes`` (default 10), the manager's resident memory (RSS)
sampled every ``--sample`` seconds (default 30).

Each simulator runs in a process of its own (``soak.py --serve NAME``, the plugin's
``stockfish_simulator``), so the RSS measured is the manager's process alone: the
manager, the three connectors, their libraries and the journal (the simulators' RSS is
sampled too, apart). Each sample also splits the manager's memory: the C heap in use
and free (glibc mallinfo2: QuickFIX, SQLite and the interpreter's large blocks), the
Python allocator's block count, and with ``--trace`` the memory tracemalloc traces.

Orders go at ``--rate`` per second (default 18), alternately to ibkr and fix
(``--order-venues``): market orders, and limit orders resting far from the market that
are cancelled a moment later.
``--trace N`` prints the N allocations that grew most between the end of the warm-up and
the end (tracemalloc: slows the run, and each snapshot stops it for seconds).

Growth is the slope of a least-squares line through the samples after ``--warmup``
seconds (default 120: the final orders kept in memory, ManagerConfig.keep_final_orders /
keep_final_seconds, reach their ceiling within the first minute), given per hour and per
order, beside the whole-run difference. Goal: flat within noise.

Diagnosis: ``--trace N`` (tracemalloc), ``--garbage N`` (what only the cycle collector
frees), ``--trim`` (the C heap's free memory given back before each sample).

    python bench/soak.py                 # 10 minutes
    python bench/soak.py --minutes 1     # while developing

    python bench/soak.py --quick         # 1 minute, a sample every 10 s

Prints a summary and writes bench/results/soak.json in bench/harness.py's shape: one row
(the orders and updates handled, with the manager's CPU per one of them and the
simulators' CPU apart as the peer's) whose ``extra`` holds the memory figures (growth per
hour and per order, RSS), the whole summary in the report's ``extra``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from harness import Report, Row, Sample, process_cpu

from stockfish_core import ExchangeManager, Order, OrderRejected, OrderType, PluginRegistry
from stockfish_core.config import parse_config

#: (connector, role settings, symbols its simulator quotes)
VENUES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("ibkr", {"primary": True}, ["SPY", "QQQ"]),
    ("fix", {"priority": 0}, ["SPY", "QQQ"]),
    ("zmq", {"data_only": True}, ["BTCUSD", "ETHUSD"]),
]


#: The simulators' process ids, by connector name (their RSS is reported apart).
SIMULATOR_PIDS: dict[str, int] = {}


def rss_bytes(pid: int | str = "self") -> int:
    """A process's resident set size now (Linux /proc; else this one's peak, from
    getrusage)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- a simulator in its own process ---------------------------------------------------------
async def serve(name: str) -> int:
    """Start plugin ``name``'s simulator, print its connector settings as one JSON line,
    and run until standard input closes."""
    registry = PluginRegistry()
    registry.load([name], strict=True)
    symbols = next(s for n, _r, s in VENUES if n == name)
    simulator = registry.get(name).hooks.call("stockfish_simulator", symbols=symbols)
    settings = await simulator.start()
    print(json.dumps(dict(settings)), flush=True)
    await asyncio.to_thread(sys.stdin.read)  # returns at EOF: the soak is over
    await simulator.stop()
    return 0


@contextlib.asynccontextmanager
async def simulator_process(name: str) -> AsyncIterator[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", name, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            raise RuntimeError(f"the {name} simulator did not start")
        settings = json.loads(line)
        SIMULATOR_PIDS[name] = proc.pid
        yield settings
    finally:
        SIMULATOR_PIDS.pop(name, None)
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


def simulators_cpu() -> float | None:
    """The simulators' processes' CPU seconds so far (None if one cannot be read)."""
    try:
        return sum(process_cpu(pid) for pid in SIMULATOR_PIDS.values())
    except OSError:
        return None


# -- the soak -------------------------------------------------------------------------------
class Counts:
    def __init__(self) -> None:
        self.updates = 0
        self.fills = 0

    def on_update(self, _update: Any) -> None:
        self.updates += 1

    def on_fill(self, _fill: Any, _order: Any) -> None:
        self.fills += 1


def slope_per_second(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (t, value) points, or None for fewer than two."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def bound_plugins(keep: int) -> None:
    """Diagnosis (``--bound-plugins N``): the connectors keep at most ``keep`` final
    orders (here and in the IB library's caches) instead of their own defaults (the
    core's: 1,000 and 60 s), to tell their memory from the core's."""
    import stockfish_fix.tracking as fix_tracking
    import stockfish_ibkr.orders as ibkr_orders

    defaults = fix_tracking.OrderTracker.__init__.__kwdefaults__
    assert defaults is not None
    defaults.update(max_final=keep)
    ibkr_orders.KEEP_FINAL = keep


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def heap_state() -> dict[str, Any]:
    """The C heap (glibc malloc: bytes in use and free in its arenas, mmapped blocks
    included in use), the Python allocator's block count, and the memory tracemalloc
    traces (with --trace): tells a growth of Python objects from one of the C libraries
    (QuickFIX, SQLite) and from fragmentation."""
    import tracemalloc

    found: dict[str, Any] = {"heap_used_mb": None, "heap_free_mb": None,
                             "py_blocks": sys.getallocatedblocks(),
                             "py_traced_mb": None}
    if tracemalloc.is_tracing():
        found["py_traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 2)
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return found
    found["heap_used_mb"] = round((info.uordblks + info.hblkhd) / 2**20, 2)
    found["heap_free_mb"] = round(info.fordblks / 2**20, 2)
    return found


def garbage(elapsed: float, top: int) -> None:
    """--garbage: collect now, keeping what only the cycle collector could free, and print
    the ``top`` most common types of it (objects in reference cycles wait for a
    collection of their generation: the oldest is collected rarely, and RSS grows until
    then). Collecting at every sample changes what is measured: a diagnosis only."""
    import collections
    import gc

    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        kinds = collections.Counter(type(o).__qualname__ for o in gc.garbage)
        found = len(gc.garbage)
        gc.garbage.clear()
    finally:
        gc.set_debug(0)
    gc.collect()  # frees what was saved: the next sample counts only new cycles
    print(f"-- at {elapsed:.0f} s, {found} objects in cycles since the last sample: " + ", ".join(
        f"{name} {n}" for name, n in kinds.most_common(top)))


def plugin_state(manager: ExchangeManager) -> dict[str, int | None]:
    """What the connectors hold per order: orders they follow, and the IB library's
    trades and executions (None where a connector or its session is absent)."""
    connectors = manager.connectors
    found: dict[str, int | None] = {"ibkr_orders": None, "ib_trades": None,
                                    "ib_fills": None, "fix_orders": None}
    ibkr = getattr(connectors.get("ibkr"), "state", None)
    if ibkr is not None:
        found["ibkr_orders"] = len(ibkr.orders.by_coid)
        session = ibkr.session
        if session is not None:
            found["ib_trades"] = len(session.ib.wrapper.trades)
            found["ib_fills"] = len(session.ib.wrapper.fills)
    fix = getattr(connectors.get("fix"), "state", None)
    tracker = getattr(fix, "tracker", None)
    if tracker is not None:
        found["fix_orders"] = len(tracker.orders)
    return found


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    duration = args.minutes * 60.0
    if args.bound_plugins:
        bound_plugins(args.bound_plugins)
    async with contextlib.AsyncExitStack() as stack:
        settings = {name: await stack.enter_async_context(simulator_process(name))
                    for name, _r, _s in VENUES}
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="stockfish-soak-"))
        journal = str(Path(tmp) / "journal.sqlite")
        raw = {
            "connectors": {name: {**role, **settings[name]} for name, role, _s in VENUES},
            "manager": {"health_check_interval": 0.5, "staleness": 5.0, "journal": journal,
                        **({"keep_final_seconds": args.keep_final_seconds}
                           if args.keep_final_seconds is not None else {})},
            "subscriptions": [
                {"symbols": ["SPY", "QQQ"], "type": "price_tick", "connectors": ["ibkr", "fix"]},
                {"symbols": ["SPY"], "type": "orderbook", "depth": 5, "connectors": ["fix"]},
                {"symbols": ["BTCUSD", "ETHUSD"], "type": "price_tick", "connectors": ["zmq"]},
            ],
        }
        registry = PluginRegistry()
        manager = ExchangeManager.from_config(parse_config(raw, registry), registry)
        counts = Counts()
        manager.add_subscriber(counts)
        samples: list[dict[str, Any]] = []
        sent = rejected = 0
        snapshots: list[Any] = []

        def trace(elapsed: float, last: bool = False) -> None:
            """--trace: where the memory allocated since the end of the warm-up lives (one
            snapshot then, one at the end: a snapshot stops the loop for seconds)."""
            import tracemalloc

            if not tracemalloc.is_tracing():
                tracemalloc.start(args.trace_frames)
                return
            if elapsed < args.warmup or (snapshots and not last):
                return
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)])
            if not snapshots:
                snapshots.append(snapshot)
                return
            print(f"-- allocations grown since the end of the warm-up, at {elapsed:.0f} s")
            key = "lineno" if args.trace_frames == 1 else "traceback"
            for stat in snapshot.compare_to(snapshots[0], key)[:args.trace]:
                print(f"{stat.size_diff / 1024:9.1f} KB {stat.count_diff:+7d}")
                for line in stat.traceback.format()[-2 * args.trace_frames:]:
                    print("     ", line)

        async with manager:
            started = time.monotonic()
            cpu0 = time.process_time()
            peers0 = simulators_cpu()
            next_sample = 0.0
            interval = 1.0 / args.rate
            to_cancel: list[str] = []
            order_venues = [v for v in args.order_venues.split(",") if v]
            i = 0
            while (elapsed := time.monotonic() - started) < duration:
                if elapsed >= next_sample:
                    if args.trace:
                        trace(elapsed)
                    if args.garbage:
                        garbage(elapsed, args.garbage)
                    if args.trim:
                        ctypes.CDLL("libc.so.6").malloc_trim(0)
                    stats = manager.get_stats()
                    journal_size = await asyncio.to_thread(os.path.getsize, journal)
                    samples.append({
                        "t_s": round(elapsed, 1), "rss_mb": round(rss_bytes() / 2**20, 2),
                        "orders": sent, "updates": counts.updates, "fills": counts.fills,
                        "orders_in_memory": stats.get("orders_in_memory"),
                        "journal_mb": round(journal_size / 2**20, 2),
                        **heap_state(),
                        "simulators_rss_mb": {
                            n: round(rss_bytes(pid) / 2**20, 2)
                            for n, pid in SIMULATOR_PIDS.items()},
                        **plugin_state(manager),
                    })
                    last = samples[-1]
                    print(f"{elapsed:6.0f} s  RSS {last['rss_mb']:7.2f} MB  orders {sent:6d}  "
                          f"updates {counts.updates:8d}  in memory {last['orders_in_memory']}"
                          f"  ibkr {last['ibkr_orders']} (IB trades {last['ib_trades']}, fills "
                          f"{last['ib_fills']})  fix {last['fix_orders']}  C heap in use "
                          f"{last['heap_used_mb']} MB, free {last['heap_free_mb']} MB  "
                          f"Python blocks {last['py_blocks']}  traced {last['py_traced_mb']} MB",
                          flush=True)
                    next_sample += args.sample
                venue = order_venues[i % len(order_venues)]
                try:
                    if to_cancel:
                        manager.cancel_order(to_cancel.pop())
                    if i % 4 == 0:
                        order_id = await manager.send_order_async(
                            Order("SPY", "BUY", 1, OrderType.LIMIT, price="1.25"), venue)
                        to_cancel.append(order_id)
                    else:
                        await manager.send_order_async(
                            Order("SPY", "BUY" if i % 3 else "SELL", 1), venue)
                    sent += 1
                except OrderRejected:
                    rejected += 1
                i += 1
                await asyncio.sleep(interval)  # the soak's own pacing
            if args.trace:
                trace(time.monotonic() - started, last=True)
            cpu = time.process_time() - cpu0
            peers1 = simulators_cpu()
            wall = time.monotonic() - started
            final_stats = manager.get_stats()
        manager.journal.close()

    after = [(s["t_s"], s["rss_mb"]) for s in samples if s["t_s"] >= args.warmup]
    slope = slope_per_second(after)  # MB per second
    order_rate = sent / wall if wall else 0.0
    growth_mb_h = None if slope is None else slope * 3600
    per_order_kb = None if slope is None or not order_rate else slope / order_rate * 1024
    rss = [value for _t, value in after]
    return {
        "minutes": args.minutes, "wall_s": round(wall, 1), "orders": sent,
        "orders_rejected": rejected, "orders_per_s": round(order_rate, 2),
        "updates": counts.updates, "fills": counts.fills,
        "cpu_s": round(cpu, 2),
        "simulators_cpu_s": None if peers0 is None or peers1 is None
        else round(peers1 - peers0, 2),
        "cpu_ms_per_order_and_updates": round(cpu / max(1, sent + counts.updates) * 1e3, 4),
        "warmup_s": args.warmup, "keep_final_seconds": args.keep_final_seconds,
        "order_venues": args.order_venues, "bound_plugins": args.bound_plugins,
        "samples": samples,
        "rss_start_mb": samples[0]["rss_mb"] if samples else None,
        "rss_end_mb": samples[-1]["rss_mb"] if samples else None,
        "rss_after_warmup_min_mb": min(rss) if rss else None,
        "rss_after_warmup_max_mb": max(rss) if rss else None,
        "growth_mb_per_hour": None if growth_mb_h is None else round(growth_mb_h, 2),
        "growth_kb_per_order": None if per_order_kb is None else round(per_order_kb, 4),
        "orders_in_memory_end": final_stats.get("orders_in_memory"),
        "orders_retired": final_stats.get("orders_retired"),
        "by_status": final_stats.get("orders"),
        "python": platform.python_version(), "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--rate", type=float, default=18.0, help="orders per second")
    parser.add_argument("--warmup", type=float, default=120.0,
                        help="seconds left out of the growth fit (default 120)")
    parser.add_argument("--order-venues", default="ibkr,fix",
                        help="connectors the orders go to, in turn (default ibkr,fix)")
    parser.add_argument("--keep-final-seconds", type=float, default=None,
                        help="ManagerConfig.keep_final_seconds (default: its default)")
    parser.add_argument("--bound-plugins", type=int, default=0, metavar="N",
                        help="diagnosis: the fix and ibkr connectors keep N final orders")
    parser.add_argument("--trace", type=int, default=0, metavar="N",
                        help="print the N largest growing allocations (tracemalloc)")
    parser.add_argument("--garbage", type=int, default=0, metavar="N",
                        help="diagnosis: at each sample, collect cycles and print the N most "
                             "common types found in them")
    parser.add_argument("--trim", action="store_true",
                        help="diagnosis: give the C heap's free memory back to the system "
                             "(malloc_trim) before each sample, to tell it from memory in use")
    parser.add_argument("--trace-frames", type=int, default=1, metavar="N",
                        help="frames kept per allocation with --trace (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="1 minute, a sample every 10 s, 15 s of warm-up")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return asyncio.run(serve(args.serve))
    if args.quick:
        args.minutes, args.sample, args.warmup = 1.0, 10.0, 15.0
    if args.minutes * 60 <= args.warmup:
        args.warmup = args.minutes * 60 / 4
    report = Report("soak", __doc__.splitlines()[0])
    result = asyncio.run(soak(args))
    print(f"\n{result['orders']} orders ({result['orders_per_s']}/s), {result['updates']} "
          f"updates, {result['fills']} fills in {result['wall_s']} s")
    print(f"RSS {result['rss_start_mb']} MB -> {result['rss_end_mb']} MB; after "
          f"{result['warmup_s']:.0f} s: {result['rss_after_warmup_min_mb']} to "
          f"{result['rss_after_warmup_max_mb']} MB")
    print(f"growth after warm-up: {result['growth_mb_per_hour']} MB/hour, "
          f"{result['growth_kb_per_order']} KB/order; orders in memory at the end "
          f"{result['orders_in_memory_end']}, retired {result['orders_retired']}")
    handled = result["orders"] + result["updates"]
    peer = result["simulators_cpu_s"]
    report.add(Row.of(
        f"RSS, {args.minutes:g} min of orders and updates via ibkr, fix, zmq simulators",
        [Sample(handled, result["wall_s"], result["cpu_s"], peer)], unit="order or update",
        orders=result["orders"], updates=result["updates"],
        growth_mb_per_hour=result["growth_mb_per_hour"],
        growth_kb_per_order=result["growth_kb_per_order"],
        rss_start_mb=result["rss_start_mb"], rss_end_mb=result["rss_end_mb"],
        rss_after_warmup_mb=[result["rss_after_warmup_min_mb"],
                             result["rss_after_warmup_max_mb"]]))
    # The table shows the goal and verdict columns: the growth goes there.
    report.rows[-1].goal = "RSS flat within noise; growth:"
    report.rows[-1].verdict = (f"{result['growth_mb_per_hour']} MB/hour, "
                               f"{result['growth_kb_per_order']} KB/order")
    report.extra = {**result, "quick": args.quick}
    report.finish(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
