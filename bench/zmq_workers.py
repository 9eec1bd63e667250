#!/usr/bin/env python
"""Several ZeroMQ feeds through one ExchangeManager: in process against ``worker: true``.

Each feed is a publisher process of its own (``python -m stockfish_zmq.testing
--pregenerate``, the ``prefix`` wire format, symbols of its own) that encodes ``--count``
ticker messages, waits for its subscriber and sends them as fast as it can. One manager
has one zmq connector per feed, either all in process (every feed read, decoded and
normalized on the manager's loop) or all with ``worker: true`` (each feed in a worker
process; the manager's loop builds the updates of each batch). Both modes run in
interleaved rounds (the order alternates) in one run.

Per round: the delivered rate at the subscriber's callback (every message of every feed,
from the first delivered to the last), the CPU time per delivered message of the
manager's process and of the workers (from /proc: Linux only), and the total. Printed
as median and range over the rounds, and the ratios worker / in process.

    python bench/zmq_workers.py --feeds 3 --count 200000 --rounds 3 --symbols 10

Writes JSON to bench/results/zmq_workers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from zmq_throughput import PublisherProcess

from stockfish_core import ExchangeManager, PluginRegistry, Subscription
from stockfish_core.models import MarketUpdate
from stockfish_zmq import plugin

RESULTS = Path(__file__).resolve().parent / "results"
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a process so far, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


async def one_round(mode: str, feeds: int, count: int, symbols: int) -> dict[str, Any]:
    names = [[f"F{f}S{s:03d}" for s in range(symbols)] for f in range(feeds)]
    pubs = [PublisherProcess("prefix", "--count", str(count), "--rate", "0", "--pregenerate",
                             *[a for n in feed for a in ("--symbol", n)])
            for feed in names]
    total = feeds * count
    done = asyncio.Event()
    received = 0
    first_ns = 0
    last_ns = 0

    class Subscriber:
        def on_price_tick(self, update: MarketUpdate) -> None:
            nonlocal received, first_ns, last_ns
            received += 1
            if received == 1:
                first_ns = time.perf_counter_ns()
            if received >= total:
                last_ns = time.perf_counter_ns()
                done.set()

    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "zmq")
    manager = ExchangeManager(registry=registry, journal=":memory:")
    connectors = [manager.add_connector(
        f"feed{f}", "zmq", data_only=True, endpoints=[pub.endpoint], rcvhwm=0,
        heartbeat_interval=None, worker=(mode == "worker"))
        for f, pub in enumerate(pubs)]
    manager.add_subscriber(Subscriber())
    try:
        async with manager:
            links = [c.state.worker for c in connectors if c.state.worker is not None]
            deadline = time.monotonic() + 120
            while any(link.pid is None for link in links):  # started and imported
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers did not start")
                await asyncio.sleep(0.05)
            workers = [link.pid for link in links]
            me = os.getpid()
            cpu0 = cpu_of(me)
            wcpu0 = sum(cpu_of(p) for p in workers)
            for f, feed in enumerate(names):
                failures = await manager.subscribe_async([Subscription(n) for n in feed],
                                                         [f"feed{f}"])
                if failures:
                    raise RuntimeError(f"subscribe failed: {failures}")
            await asyncio.wait_for(done.wait(), 600)
            cpu = cpu_of(me) - cpu0
            wcpu = sum(cpu_of(p) for p in workers) - wcpu0
            lost = sum(c.stats.gaps for c in connectors)
            if lost:
                raise RuntimeError(f"gaps: {lost}")
    finally:
        for pub in pubs:
            pub.close()
        manager.journal.close()
    seconds = (last_ns - first_ns) / 1e9
    return {"rate": total / seconds, "manager_cpu_us": cpu / total * 1e6,
            "worker_cpu_us": wcpu / total * 1e6, "total_cpu_us": (cpu + wcpu) / total * 1e6}


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


async def run(feeds: int, count: int, rounds: int, symbols: int) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {"in_process": [], "worker": []}
    for r in range(rounds):
        order = ["in_process", "worker"] if r % 2 == 0 else ["worker", "in_process"]
        for mode in order:
            results[mode].append(await one_round(mode, feeds, count, symbols))
    summary: dict[str, Any] = {"feeds": feeds, "count_per_feed": count, "rounds": rounds,
                               "symbols_per_feed": symbols, "cpus": os.cpu_count(),
                               "load": os.getloadavg(), "python": platform.python_version()}
    for mode, runs in results.items():
        summary[mode] = {key: spread([run[key] for run in runs]) for key in runs[0]}
    summary["worker_vs_in_process"] = {
        key: spread([w[key] / p[key] for w, p in zip(results["worker"], results["in_process"],
                                                     strict=True)])
        for key in ("rate", "manager_cpu_us", "total_cpu_us")}
    summary["runs"] = results
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--feeds", type=int, default=3)
    p.add_argument("--count", type=int, default=200_000, help="messages per feed")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--symbols", type=int, default=10, help="symbols per feed")
    p.add_argument("--out", type=Path, default=RESULTS / "zmq_workers.json")
    args = p.parse_args(argv)
    print(f"load before: {os.getloadavg()}")
    summary = asyncio.run(run(args.feeds, args.count, args.rounds, args.symbols))
    print(f"{args.feeds} feeds x {args.count:,} ticker messages, {args.symbols} symbols each, "
          f"{args.rounds} interleaved rounds: median (min-max)")
    for mode in ("in_process", "worker"):
        s = summary[mode]
        print(f"  {mode:<10} rate {s['rate']['median']:9,.0f}/s "
              f"({s['rate']['min']:,.0f}-{s['rate']['max']:,.0f}); CPU us/msg: manager "
              f"{s['manager_cpu_us']['median']:.2f} ({s['manager_cpu_us']['min']:.2f}-"
              f"{s['manager_cpu_us']['max']:.2f}), workers {s['worker_cpu_us']['median']:.2f} "
              f"({s['worker_cpu_us']['min']:.2f}-{s['worker_cpu_us']['max']:.2f}), total "
              f"{s['total_cpu_us']['median']:.2f} ({s['total_cpu_us']['min']:.2f}-"
              f"{s['total_cpu_us']['max']:.2f})")
    for key, s in summary["worker_vs_in_process"].items():
        print(f"  worker / in process, {key}: {s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f})")
    print(f"load after: {os.getloadavg()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
