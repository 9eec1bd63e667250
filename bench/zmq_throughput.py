#!/usr/bin/env python
"""ZeroMQ feed: the connector through the ExchangeManager against a bare pyzmq loop,
interleaved in one run; rate, CPU time per message, and publish-to-callback latency.

Throughput. A publisher process (``python -m stockfish_zmq.testing --pregenerate``)
encodes ``--count`` ticker messages, waits for its subscriber, and sends them all into
the subscriber's unbounded queue; the clock starts when it has sent everything, so a run
measures the subscriber alone, by wall clock (the rate) and by this process's CPU time
(CPU per message; the publisher has finished by then, so it takes no CPU of the two
cores while the subscriber is measured). Two subscribers, in interleaved rounds (the
order rotated from round to round, bench/harness.py), each with a publisher of its own
sending the same messages:

- bare: a pyzmq SUB socket, ``recv()`` one frame per message, ``orjson.loads`` of its JSON
  (after the topic prefix of the ``prefix`` wire format);
- project: a zmq connector in an ExchangeManager, the updates delivered to a subscriber's
  ``on_price_tick`` (socket -> batch -> normalize -> the manager's data path -> callback).

For 1, 10 and 1,000 symbols, a row each: the rate and CPU per message, median and range,
and the median and range of the per-round ratios project/bare of the rate and of the CPU
per message. Goal: rate >= 0.5x, CPU <= 2x.

Latency. The publisher paces ``--latency-rate`` messages/s and stamps each with ``ts_ns``
when it sends it; the callback takes ``time.time_ns() - ts_ns``; p50/p99/p99.9 (goal for
the project: p99 < 1 ms, p99.9 < 2 ms at 10k msgs/s), bare and project in interleaved
rounds, with the subscriber's CPU per message at that pace (the paced publisher's CPU
apart, as the peer's).

The machine's load average is printed before and after: on a shared machine the rates
move by 2x from run to run, the ratios of interleaved rounds much less.

    python bench/zmq_throughput.py                       # 200k messages a run, 5 rounds
    python bench/zmq_throughput.py --count 50000 --rounds 3 --symbols 10
    python bench/zmq_throughput.py --quick               # a check that it runs

Prints a table and writes JSON to bench/results/zmq_throughput.json (bench/harness.py's
shape).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import platform
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import zmq
from harness import Report, Row, Sample, interleave, process_cpu

from stockfish_core import ExchangeManager, PluginRegistry, Subscription
from stockfish_core.connector import Connector
from stockfish_core.models import MarketUpdate
from stockfish_zmq import plugin
from stockfish_zmq.schema import JSON_BACKEND
from stockfish_zmq.testing.synthetic import symbol_names

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
            peer0, cpu0, start = process_cpu(pub.proc.pid), process_cpu(), time.perf_counter()
            first = seen
            await asyncio.wait_for(done.wait(), seconds * 5 + 60)
            wall, cpu = time.perf_counter() - start, process_cpu() - cpu0
            peer = process_cpu(pub.proc.pid) - peer0
        pub.wait_done()
    finally:
        pub.close()
    return {**percentiles(samples), "sample": Sample(total - first, wall, cpu, peer)}


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
        # The first message is awaited before the clocks start, as the project's
        # subscription is made before its clocks start.
        msg = orjson.loads(body(sock.recv()))
        peer0, cpu0, start = process_cpu(pub.proc.pid), process_cpu(), time.perf_counter()
        for n in range(1, total):
            msg = orjson.loads(body(sock.recv()))
            latency = time.time_ns() - msg["ts_ns"]
            if n >= warmup:
                samples.append(latency)
        wall, cpu = time.perf_counter() - start, process_cpu() - cpu0
        peer = process_cpu(pub.proc.pid) - peer0
        pub.wait_done()
    finally:
        pub.close()
        ctx.destroy(linger=0)
    return {**percentiles(samples), "sample": Sample(total - 1, wall, cpu, peer)}


# -- main -------------------------------------------------------------------------------
def throughput_sample(run: dict[str, Any]) -> Sample:
    return Sample(run["messages"], run["seconds"], run["cpu_us"] * run["messages"] / 1e6)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=200_000, help="messages per throughput run")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per symbol count")
    p.add_argument("--symbols", default="1,10,1000", help="symbol counts, comma-separated")
    p.add_argument("--wire-format", default="prefix", choices=("prefix", "json"),
                   help="single-frame wire format of the publisher (default %(default)s)")
    p.add_argument("--mode", default="loop", help="the connector's receive mode")
    p.add_argument("--latency-rate", type=int, default=10_000)
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument("--latency-rounds", type=int, default=2)
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="20,000 messages, 10 symbols, 2 rounds, 2 s of latency")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.count, args.rounds, args.symbols = 20_000, 2, "10"
        args.latency_seconds, args.latency_rounds = 2.0, 2
    # Each publisher exits at the end of its run: the connector's "went away" is expected.
    logging.getLogger("stockfish.zmq").setLevel(logging.ERROR)
    logging.getLogger("stockfish.manager").setLevel(logging.ERROR)
    logging.getLogger("stockfish.marketdata").setLevel(logging.ERROR)
    wire = args.wire_format
    report = Report("zmq_throughput", __doc__.split("\n\n")[0].replace("\n", " "))
    bare_name = "bare pyzmq recv + orjson.loads"
    for symbols in (int(s) for s in args.symbols.split(",")):
        named = f"{symbols} symbol" + ("" if symbols == 1 else "s")
        def bare(n: int = symbols) -> Sample:
            return throughput_sample(bare_throughput(wire, args.count, n))

        def project(n: int = symbols) -> Sample:
            return throughput_sample(asyncio.run(
                project_throughput(wire, args.count, n, args.mode)))

        def progress(line: str, named: str = named) -> None:
            print(f"  {named}: {line}", flush=True)

        samples = interleave({"bare": bare, "project": project}, args.rounds,
                             progress=progress)
        report.add(Row.of(f"ticker feed -> manager -> callback, {named}",
                          samples["project"], unit="message", baseline=bare_name,
                          bare=samples["bare"], goal="rate >= 0.5x, CPU <= 2x",
                          rate_goal=0.5, cpu_goal=2.0, symbols=symbols, count=args.count))
        report.add(Row.of(f"{bare_name}, {named}", samples["bare"],
                          unit="message", symbols=symbols, count=args.count))
    if not args.skip_latency:
        warmup = args.latency_rate // 10
        runs: dict[str, list[dict[str, Any]]] = {"bare": [], "project": []}

        def latency_case(name: str) -> Callable[[], Sample]:
            def run() -> Sample:
                if name == "bare":
                    result = bare_latency(wire, args.latency_rate, args.latency_seconds,
                                          warmup)
                else:
                    result = asyncio.run(project_latency(wire, args.latency_rate,
                                                         args.latency_seconds, args.mode,
                                                         warmup))
                runs[name].append(result)
                sample: Sample = result.pop("sample")
                return sample
            return run

        samples = interleave({n: latency_case(n) for n in runs}, args.latency_rounds,
                             progress=lambda line: print(f"  latency: {line}", flush=True))
        pace = f"{args.latency_rate:,}/s for {args.latency_seconds:g} s"
        report.add(Row.of(f"latency, project, paced {pace}", samples["project"],
                          unit="message", baseline=f"{bare_name}, same pace",
                          bare=samples["bare"], goal="p99 < 1 ms, p99.9 < 2 ms",
                          latency=runs["project"]))
        report.add(Row.of(f"latency, bare, paced {pace}", samples["bare"], unit="message",
                          latency=runs["bare"]))
        worst = max(r["p99_us"] for r in runs["project"])
        worst999 = max(r["p999_us"] for r in runs["project"])
        report.rows[-2].verdict = "met" if worst < 1000 and worst999 < 2000 else "NOT met"
        print(f"\nlatency publish->callback at {pace} (microseconds), each round")
        print(f"{'':<10}{'p50':>9}{'p99':>9}{'p99.9':>9}{'max':>10}")
        for key, results in runs.items():
            for run in results:
                print(f"{key:<10}{run['p50_us']:>9.0f}{run['p99_us']:>9.0f}"
                      f"{run['p999_us']:>9.0f}{run['max_us']:>10.0f}")
    report.extra = {
        "count": args.count, "rounds": args.rounds, "wire_format": wire, "mode": args.mode,
        "json_backend": JSON_BACKEND, "python": platform.python_version(),
        "pyzmq": zmq.__version__, "libzmq": zmq.zmq_version(), "quick": args.quick,
        "latency_rate": args.latency_rate, "latency_seconds": args.latency_seconds,
    }
    report.finish(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
