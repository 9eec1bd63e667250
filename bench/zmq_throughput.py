#!/usr/bin/env python
"""ZeroMQ feed: the connector through the ExchangeManager against a bare pyzmq loop,
interleaved in one run; rate, CPU time per message, and publish-to-callback latency.

Throughput. A publisher process (``python -m stockfish_zmq.testing --pregenerate``)
encodes ``--count`` ticker messages, waits for its subscriber, and sends them all into
the subscriber's unbounded queue; the clock starts when it has sent everything, so a run
measures the subscriber alone, by wall clock (the rate) and by this process's CPU time
(CPU per message). Two subscribers, in alternating rounds (bare, project, bare,
project...), each with a publisher of its own sending the same messages:

- bare: a pyzmq SUB socket, ``recv()`` one frame per message, ``orjson.loads`` of its JSON
  (after the topic prefix of the ``prefix`` wire format);
- project: a zmq connector in an ExchangeManager, the updates delivered to a subscriber's
  ``on_price_tick`` (socket -> batch -> normalize -> the manager's data path -> callback).

For 1, 10 and 1,000 symbols it prints the median and range of the ratios project/bare of
the rate and of the CPU per message. Goal: rate >= 0.5x, CPU <= 2x.

Latency. The publisher paces ``--latency-rate`` messages/s and stamps each with ``ts_ns``
when it sends it; the callback takes ``time.time_ns() - ts_ns``; p50/p99/p99.9 (goal for
the project: p99 < 1 ms, p99.9 < 2 ms at 10k msgs/s).

The machine's load average is printed before and after: on a shared machine the rates
move by 2x from run to run, the ratios of interleaved rounds much less.

    python bench/zmq_throughput.py                       # 200k messages a run, 5 rounds
    python bench/zmq_throughput.py --count 50000 --rounds 3 --symbols 10

Prints a table and writes JSON to bench/results/zmq_throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import zmq

from stockfish_core import ExchangeManager, PluginRegistry, Subscription
from stockfish_core.connector import Connector
from stockfish_core.models import MarketUpdate
from stockfish_zmq import plugin
from stockfish_zmq.schema import JSON_BACKEND
from stockfish_zmq.testing.synthetic import symbol_names

RESULTS = Path(__file__).resolve().parent / "results"
Callback = Callable[[MarketUpdate], None]


# -- the publisher process ---------------------------------------------------------
class PublisherProcess:
    """``python -m stockfish_zmq.testing`` in a subprocess, driven by its READY/DONE lines."""

    def __init__(self, wire: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stockfish_zmq.testing", "--endpoint",
             "tcp://127.0.0.1:*", "--types", "ticker", "--wait-subscribers", "1",
             "--wait-timeout", "120", "--sndhwm", "0", "--linger", "120",
             "--wire-format", wire, *args],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            self.proc.kill()
            raise RuntimeError(f"publisher did not start: {line}")
        self.endpoint = dict(p.split("=", 1) for p in line[1:])["endpoint"]

    def wait_done(self) -> str:
        """Block until the publisher has sent everything and exited."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("DONE"):
                self.proc.wait(120)
                return line.strip()
        raise RuntimeError("publisher ended without DONE")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def pregenerated(wire: str, count: int, symbols: int) -> PublisherProcess:
    return PublisherProcess(wire, "--symbols", str(symbols), "--count", str(count),
                            "--rate", "0", "--pregenerate")


def body_of(wire: str) -> Callable[[bytes], bytes]:
    """How the bare loop gets the JSON of a frame: the least work the format allows."""
    if wire == "json":
        return lambda frame: frame
    return lambda frame: frame[frame.find(b" ") + 1:]


# -- the bare pyzmq loop ---------------------------------------------------------------
def bare_throughput(wire: str, count: int, symbols: int) -> dict[str, Any]:
    pub = pregenerated(wire, count, symbols)
    ctx: zmq.Context[Any] = zmq.Context()
    sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
    sock.rcvhwm = 0
    sock.connect(pub.endpoint)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    loads = orjson.loads
    try:
        pub.wait_done()
        recv = sock.recv
        started, cpu0 = time.perf_counter(), time.process_time()
        if wire == "json":
            for _ in range(count):
                loads(recv())
        else:
            for _ in range(count):
                frame = recv()
                loads(frame[frame.find(b" ") + 1:])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
    finally:
        pub.close()
        ctx.destroy(linger=0)
    return {"messages": count, "seconds": elapsed, "rate": count / elapsed,
            "cpu_us": cpu / count * 1e6}


# -- through the ExchangeManager ---------------------------------------------------------
class _Subscriber:
    def __init__(self, callback: Callback) -> None:
        self.on_price_tick = callback


@contextlib.asynccontextmanager
async def subscribed_feed(settings: dict[str, Any], symbols: Sequence[str],
                          callback: Callback) -> AsyncIterator[Connector]:
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "zmq")
    manager = ExchangeManager(registry=registry, journal=":memory:")
    connector = manager.add_connector("zmq", "zmq", data_only=True, **settings)
    manager.add_subscriber(_Subscriber(callback))
    async with manager:
        failures = await manager.subscribe_async([Subscription(s) for s in symbols])
        if failures:
            raise RuntimeError(f"subscribe failed: {failures}")
        yield connector
    manager.journal.close()


async def project_throughput(wire: str, count: int, symbols: int, mode: str) -> dict[str, Any]:
    pub = pregenerated(wire, count, symbols)
    done = asyncio.Event()
    received = 0

    def on_update(update: MarketUpdate) -> None:
        nonlocal received
        received += 1
        if received >= count:
            done.set()

    settings = {"endpoints": [pub.endpoint], "receive_mode": mode, "rcvhwm": 0,
                "heartbeat_interval": None}
    try:
        async with subscribed_feed(settings, symbol_names(symbols), on_update) as connector:
            # Blocking the loop here keeps the connector from reading while the publisher
            # fills the queue; then the clock runs on the subscriber alone.
            pub.wait_done()
            started, cpu0 = time.perf_counter(), time.process_time()
            first = received
            await asyncio.wait_for(done.wait(), 600)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
            stats = connector.state.stats
            if connector.stats.gaps or stats.data_errors:
                raise RuntimeError(f"lost messages: {stats}")
            return {"messages": count - first, "seconds": elapsed,
                    "rate": (count - first) / elapsed, "cpu_us": cpu / (count - first) * 1e6,
                    "batches": stats.batches}
    finally:
        pub.close()


# -- latency ----------------------------------------------------------------------------
def percentiles(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0

    return {"samples": len(ordered), "p50_us": at(0.50), "p99_us": at(0.99),
            "p999_us": at(0.999), "max_us": ordered[-1] / 1000.0}


def paced(wire: str, rate: int, seconds: float) -> PublisherProcess:
    return PublisherProcess(wire, "--symbols", "10", "--rate", str(rate),
                            "--count", str(int(rate * seconds)))


async def project_latency(wire: str, rate: int, seconds: float, mode: str,
                          warmup: int) -> dict[str, Any]:
    pub = paced(wire, rate, seconds)
    total = int(rate * seconds)
    samples: list[int] = []
    done = asyncio.Event()
    clock = time.time_ns
    seen = 0

    def on_update(update: MarketUpdate) -> None:
        nonlocal seen
        latency = clock() - update.venue_ts_ns
        seen += 1
        if seen > warmup:
            samples.append(latency)
        if seen >= total:
            done.set()

    settings = {"endpoints": [pub.endpoint], "receive_mode": mode}
    try:
        async with subscribed_feed(settings, symbol_names(10), on_update):
            await asyncio.wait_for(done.wait(), seconds * 5 + 60)
        pub.wait_done()
    finally:
        pub.close()
    return percentiles(samples)


def bare_latency(wire: str, rate: int, seconds: float, warmup: int) -> dict[str, Any]:
    pub = paced(wire, rate, seconds)
    total = int(rate * seconds)
    ctx: zmq.Context[Any] = zmq.Context()
    sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
    sock.connect(pub.endpoint)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    body = body_of(wire)
    samples = []
    try:
        for n in range(total):
            msg = orjson.loads(body(sock.recv()))
            latency = time.time_ns() - msg["ts_ns"]
            if n >= warmup:
                samples.append(latency)
        pub.wait_done()
    finally:
        pub.close()
        ctx.destroy(linger=0)
    return percentiles(samples)


# -- main -------------------------------------------------------------------------------
def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=200_000, help="messages per throughput run")
    p.add_argument("--rounds", type=int, default=5, help="bare/project pairs per symbol count")
    p.add_argument("--symbols", default="1,10,1000", help="symbol counts, comma-separated")
    p.add_argument("--wire-format", default="prefix", choices=("prefix", "json"),
                   help="single-frame wire format of the publisher (default %(default)s)")
    p.add_argument("--mode", default="loop", help="the connector's receive mode")
    p.add_argument("--latency-rate", type=int, default=10_000)
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS / "zmq_throughput.json")
    args = p.parse_args(argv)
    # Each publisher exits at the end of its run: the connector's "went away" is expected.
    logging.getLogger("stockfish.zmq").setLevel(logging.ERROR)
    logging.getLogger("stockfish.manager").setLevel(logging.ERROR)
    logging.getLogger("stockfish.marketdata").setLevel(logging.ERROR)
    wire = args.wire_format
    started = time.perf_counter()
    results: dict[str, Any] = {
        "count": args.count, "rounds": args.rounds, "wire_format": wire, "mode": args.mode,
        "json_backend": JSON_BACKEND, "python": platform.python_version(),
        "pyzmq": zmq.__version__, "libzmq": zmq.zmq_version(), "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(), "throughput": {}, "latency": {},
    }
    for symbols in (int(s) for s in args.symbols.split(",")):
        runs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for _ in range(args.rounds):
            bare = bare_throughput(wire, args.count, symbols)
            project = asyncio.run(project_throughput(wire, args.count, symbols, args.mode))
            runs.append((bare, project))
            print(f"  {symbols:>5} symbols: bare {bare['rate']:>9,.0f}/s "
                  f"{bare['cpu_us']:5.2f} us CPU | project {project['rate']:>9,.0f}/s "
                  f"{project['cpu_us']:5.2f} us CPU", flush=True)
        results["throughput"][str(symbols)] = {
            "bare_rate": spread([b["rate"] for b, _ in runs]),
            "project_rate": spread([q["rate"] for _, q in runs]),
            "bare_cpu_us": spread([b["cpu_us"] for b, _ in runs]),
            "project_cpu_us": spread([q["cpu_us"] for _, q in runs]),
            "rate_ratio": spread([q["rate"] / b["rate"] for b, q in runs]),
            "cpu_ratio": spread([q["cpu_us"] / b["cpu_us"] for b, q in runs]),
            "runs": runs,
        }
    if not args.skip_latency:
        warmup = args.latency_rate // 10
        lat = results["latency"]
        lat["bare"] = bare_latency(wire, args.latency_rate, args.latency_seconds, warmup)
        lat["project"] = asyncio.run(project_latency(wire, args.latency_rate,
                                                     args.latency_seconds, args.mode, warmup))
    results["loadavg_after"] = os.getloadavg()
    results["total_seconds"] = time.perf_counter() - started

    print(f"\nZeroMQ feed: {args.count:,} ticker messages a run, {args.rounds} interleaved "
          f"rounds, wire format {wire}, receive mode {args.mode}, JSON {JSON_BACKEND}")
    print(f"load average before {results['loadavg_before'][0]:.2f}, after "
          f"{results['loadavg_after'][0]:.2f} (1 min); {os.cpu_count()} CPUs")
    print(f"{'symbols':>8} {'bare msgs/s':>12} {'project':>10} {'rate x':>18} "
          f"{'bare CPU us':>12} {'project':>8} {'CPU x':>18}")
    for symbols, t in results["throughput"].items():
        rr, cr = t["rate_ratio"], t["cpu_ratio"]
        print(f"{symbols:>8} {t['bare_rate']['median']:>12,.0f} "
              f"{t['project_rate']['median']:>10,.0f} "
              f"{rr['median']:>6.2f} ({rr['min']:.2f}-{rr['max']:.2f}) "
              f"{t['bare_cpu_us']['median']:>12.2f} {t['project_cpu_us']['median']:>8.2f} "
              f"{cr['median']:>6.2f} ({cr['min']:.2f}-{cr['max']:.2f})")
    if results["latency"]:
        print(f"\nlatency publish->callback at {args.latency_rate:,} msgs/s, "
              f"{args.latency_seconds:g} s (microseconds)")
        print(f"{'':<10}{'p50':>9}{'p99':>9}{'p99.9':>9}{'max':>10}")
        for key, run in results["latency"].items():
            print(f"{key:<10}{run['p50_us']:>9.0f}{run['p99_us']:>9.0f}{run['p999_us']:>9.0f}"
                  f"{run['max_us']:>10.0f}")
    print(f"\ntotal {results['total_seconds']:.0f}s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
