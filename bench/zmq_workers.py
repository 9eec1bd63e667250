#!/usr/bin/env python
"""Several ZeroMQ feeds through one ExchangeManager: in process against ``worker: true``.

Each feed is a publisher process of its own (``python -m stockfish_zmq.testing
--pregenerate``, the ``prefix`` wire format, symbols of its own) that encodes ``--count``
ticker messages, waits for its subscriber and sends them as fast as it can. One manager
has one zmq connector per feed, either all in process (every feed read, decoded and
normalized on the manager's loop) or all with ``worker: true`` (each feed in a worker
process; the manager's loop builds the updates of each batch).

Both modes run in one run, in interleaved rounds, the order rotated from round to round
(bench/harness.py). Per round: the delivered rate at the subscriber's callback (every
message of every feed, from the first delivered to the last), the CPU time per delivered
message of the manager's process (the row's CPU) and of the workers, and the total (from
/proc: Linux only), with the publishers' CPU apart (the peer's). Printed as median and
range over the rounds, and the per-round ratios worker / in process (the baseline).

    python bench/zmq_workers.py --feeds 3 --count 200000 --rounds 3 --symbols 10
    python bench/zmq_workers.py --quick       # a check that it runs

Writes bench/results/zmq_workers.json (bench/harness.py's shape).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Report, Row, Sample, interleave, process_cpu, spread
from zmq_throughput import PublisherProcess

from stockfish_core import ExchangeManager, PluginRegistry, Subscription
from stockfish_core.models import MarketUpdate
from stockfish_zmq import plugin

cpu_of = process_cpu


def publishers_cpu(pubs: list[PublisherProcess]) -> float | None:
    """The publishers' CPU so far (None once one has been reaped)."""
    try:
        return sum(cpu_of(pub.proc.pid) for pub in pubs)
    except OSError:
        return None


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
            pcpu0 = publishers_cpu(pubs)
            for f, feed in enumerate(names):
                failures = await manager.subscribe_async([Subscription(n) for n in feed],
                                                         [f"feed{f}"])
                if failures:
                    raise RuntimeError(f"subscribe failed: {failures}")
            await asyncio.wait_for(done.wait(), 600)
            cpu = cpu_of(me) - cpu0
            wcpu = sum(cpu_of(p) for p in workers) - wcpu0
            pcpu1 = publishers_cpu(pubs)
            lost = sum(c.stats.gaps for c in connectors)
            if lost:
                raise RuntimeError(f"gaps: {lost}")
    finally:
        for pub in pubs:
            pub.close()
        manager.journal.close()
    seconds = (last_ns - first_ns) / 1e9
    peer = None if pcpu0 is None or pcpu1 is None else pcpu1 - pcpu0
    return {"rate": total / seconds, "manager_cpu_us": cpu / total * 1e6,
            "worker_cpu_us": wcpu / total * 1e6, "total_cpu_us": (cpu + wcpu) / total * 1e6,
            "sample": Sample(total, seconds, cpu, peer)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--feeds", type=int, default=3)
    p.add_argument("--count", type=int, default=200_000, help="messages per feed")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--symbols", type=int, default=10, help="symbols per feed")
    p.add_argument("--quick", action="store_true",
                   help="2 feeds of 20,000 messages, 2 rounds (a check that it runs)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.feeds, args.count, args.rounds = 2, 20_000, 2
    report = Report("zmq_workers", __doc__.split("\n\n")[0].replace("\n", " "))
    runs: dict[str, list[dict[str, Any]]] = {"in_process": [], "worker": []}

    def case(mode: str) -> Callable[[], Sample]:
        def run() -> Sample:
            result = asyncio.run(one_round(mode, args.feeds, args.count, args.symbols))
            runs[mode].append(result)
            sample: Sample = result.pop("sample")
            return sample
        return run

    samples = interleave({mode: case(mode) for mode in runs}, args.rounds, progress=print)
    what = f"{args.feeds} feeds x {args.count:,} messages, {args.symbols} symbols each"
    totals = [w["total_cpu_us"] / p["total_cpu_us"]
              for w, p in zip(runs["worker"], runs["in_process"], strict=True)]
    report.add(Row.of(f"{what}, worker: true", samples["worker"], unit="message",
                      baseline="the same feeds, every connector in process",
                      bare=samples["in_process"],
                      worker_cpu_us=spread(r["worker_cpu_us"] for r in runs["worker"]),
                      total_cpu_us=spread(r["total_cpu_us"] for r in runs["worker"]),
                      total_cpu_x=spread(totals)))
    report.add(Row.of(f"{what}, in process", samples["in_process"], unit="message",
                      total_cpu_us=spread(r["total_cpu_us"] for r in runs["in_process"])))
    report.extra = {"feeds": args.feeds, "count_per_feed": args.count,
                    "symbols_per_feed": args.symbols, "quick": args.quick}
    for mode, results in runs.items():
        w = spread(r["worker_cpu_us"] for r in results)
        t = spread(r["total_cpu_us"] for r in results)
        print(f"  {mode:<10} CPU us/msg: workers {w['median']:.2f} ({w['min']:.2f}-"
              f"{w['max']:.2f}), manager + workers {t['median']:.2f} ({t['min']:.2f}-"
              f"{t['max']:.2f})")
    report.finish(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
