#!/usr/bin/env python
"""ZeroMQ feed: connector throughput and latency against the bare pyzmq loop, same run.

A publisher in another process (``python -m stockfish_zmq.publisher``) sends ticker
messages. Throughput runs measure the subscriber only: the publisher first sends every
message into the subscriber's unbounded ZeroMQ queue (it waits for the subscription,
sends, and lingers until everything has left), and the clock starts once it is done:

- bare: a pyzmq SUB loop that only receives and decodes (``json.loads``; also orjson
  when installed, as the connector uses it when it can);
- connector: updates delivered to a subscriber callback through the ExchangeManager
  (``connector.feed`` -> normalize -> the manager's data path -> ``on_price_tick``),
  for each receive mode.

Latency: the publisher paces 10k messages/s and stamps each with ``ts_ns`` when it
builds it; the callback takes ``time.time_ns() - ts_ns``.

    python bench/zmq_throughput.py                 # 1M messages, about a minute
    python bench/zmq_throughput.py --count 200000  # quicker

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

import zmq

from stockfish_core import ExchangeManager, PluginRegistry, Subscription
from stockfish_core.connector import Connector
from stockfish_core.models import MarketUpdate
from stockfish_zmq import plugin
from stockfish_zmq.schema import JSON_BACKEND

RESULTS = Path(__file__).resolve().parent / "results"
Callback = Callable[[MarketUpdate], None]


# -- the publisher process ---------------------------------------------------------
class PublisherProcess:
    """``stockfish_zmq.publisher`` in a subprocess, driven by its READY/DONE lines."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stockfish_zmq.publisher", "--endpoint",
             "tcp://127.0.0.1:*", "--types", "ticker", "--wait-subscribers", "1",
             "--wait-timeout", "60", "--sndhwm", "0", "--linger", "120", *args],
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
                self.proc.wait(60)
                return line.strip()
        raise RuntimeError("publisher ended without DONE")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def pregenerated(count: int, symbols: int) -> PublisherProcess:
    return PublisherProcess("--symbols", str(symbols), "--count", str(count), "--rate", "0",
                            "--pregenerate")


# -- (a) the bare pyzmq loop -----------------------------------------------------------
def bare_throughput(count: int, symbols: int, loads: Callable[[bytes], Any]) -> dict[str, Any]:
    pub = pregenerated(count, symbols)
    ctx: zmq.Context[Any] = zmq.Context()
    sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
    sock.rcvhwm = 0
    sock.connect(pub.endpoint)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    try:
        done = pub.wait_done()
        recv = sock.recv_multipart
        started = time.perf_counter()
        for _ in range(count):
            loads(recv()[1])
        elapsed = time.perf_counter() - started
    finally:
        pub.close()
        ctx.destroy(linger=0)
    return {"messages": count, "seconds": elapsed, "rate": count / elapsed, "publisher": done}


# -- (b) through the ExchangeManager ---------------------------------------------------
class _Subscriber:
    def __init__(self, callback: Callback) -> None:
        self.on_price_tick = callback


@contextlib.asynccontextmanager
async def subscribed_feed(settings: dict[str, Any], symbols: Sequence[str],
                          callback: Callback) -> AsyncIterator[Connector]:
    """A zmq connector in an ExchangeManager, delivering to a subscriber callback:
    connector.feed -> normalize -> the manager's data path (sequence checks, preferred
    feed, caches) -> on_price_tick."""
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "zmq")
    manager = ExchangeManager(registry=registry, journal=":memory:")
    connector = manager.add_connector("zmq", "zmq", data_only=True, **settings)
    manager.add_subscriber(_Subscriber(callback))
    async with manager:
        if not connector.is_connected:
            raise RuntimeError(f"zmq connector did not connect: {connector.status_reason}")
        failures = await manager.subscribe_async([Subscription(s) for s in symbols])
        if failures:
            raise RuntimeError(f"subscribe failed: {failures}")
        yield connector
    manager.journal.close()


def symbol_list(n: int) -> list[str]:
    from stockfish_zmq.synthetic import symbol_names

    return symbol_names(n)


async def connector_throughput(count: int, symbols: int, mode: str) -> dict[str, Any]:
    pub = pregenerated(count, symbols)
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
        async with subscribed_feed(settings, symbol_list(symbols), on_update) as connector:
            # Blocking the loop here keeps the connector from reading while the publisher
            # fills the queue; then the clock runs on the subscriber alone.
            published = pub.wait_done()
            started = time.perf_counter()
            first = received
            await asyncio.wait_for(done.wait(), 600)
            elapsed = time.perf_counter() - started
            stats = connector.state.stats
            return {"messages": count, "seconds": elapsed, "rate": (count - first) / elapsed,
                    "batches": stats.batches, "gaps": connector.stats.gaps,
                    "data_errors": stats.data_errors, "publisher": published}
    finally:
        pub.close()


# -- latency ----------------------------------------------------------------------------
def percentiles(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0

    return {"samples": len(ordered), "p50_us": at(0.50), "p90_us": at(0.90), "p99_us": at(0.99),
            "p999_us": at(0.999), "max_us": ordered[-1] / 1000.0,
            "mean_us": statistics.fmean(ordered) / 1000.0}


def paced(rate: int, seconds: float) -> PublisherProcess:
    return PublisherProcess("--symbols", "10", "--rate", str(rate),
                            "--count", str(int(rate * seconds)))


async def connector_latency(rate: int, seconds: float, mode: str, warmup: int) -> dict[str, Any]:
    pub = paced(rate, seconds)
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
        async with subscribed_feed(settings, symbol_list(10), on_update):
            await asyncio.wait_for(done.wait(), seconds * 5 + 30)
        pub.wait_done()
    finally:
        pub.close()
    return percentiles(samples)


def bare_latency(rate: int, seconds: float, warmup: int) -> dict[str, Any]:
    pub = paced(rate, seconds)
    total = int(rate * seconds)
    ctx: zmq.Context[Any] = zmq.Context()
    sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
    sock.connect(pub.endpoint)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    samples = []
    try:
        for n in range(total):
            msg = json.loads(sock.recv_multipart()[1])
            latency = time.time_ns() - msg["ts_ns"]
            if n >= warmup:
                samples.append(latency)
        pub.wait_done()
    finally:
        pub.close()
        ctx.destroy(linger=0)
    return percentiles(samples)


# -- main -------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1_000_000, help="messages per throughput run")
    p.add_argument("--symbols", type=int, default=10)
    p.add_argument("--modes", default="loop,thread", help="connector receive modes")
    p.add_argument("--latency-rate", type=int, default=10_000)
    p.add_argument("--latency-seconds", type=float, default=5.0)
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS / "zmq_throughput.json")
    args = p.parse_args(argv)
    # Each publisher exits at the end of its run: the connector's "went away" is expected.
    logging.getLogger("stockfish.zmq").setLevel(logging.ERROR)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    started = time.perf_counter()
    results: dict[str, Any] = {
        "count": args.count, "symbols": args.symbols, "json_backend": JSON_BACKEND,
        "python": platform.python_version(), "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(), "cpus": os.cpu_count(), "throughput": {}, "latency": {},
    }
    tp = results["throughput"]
    tp["bare_json"] = bare_throughput(args.count, args.symbols, json.loads)
    try:
        import orjson
    except ImportError:  # optional: the connector falls back to json too
        pass
    else:
        tp["bare_orjson"] = bare_throughput(args.count, args.symbols, orjson.loads)
    for mode in modes:
        tp[f"connector_{mode}"] = asyncio.run(connector_throughput(args.count, args.symbols, mode))
    bare = tp["bare_json"]["rate"]
    for run in tp.values():
        run["ratio_to_bare_json"] = run["rate"] / bare
    if not args.skip_latency:
        warmup = args.latency_rate // 10
        lat = results["latency"]
        lat["bare_json"] = bare_latency(args.latency_rate, args.latency_seconds, warmup)
        for mode in modes:
            lat[f"connector_{mode}"] = asyncio.run(
                connector_latency(args.latency_rate, args.latency_seconds, mode, warmup))
    results["total_seconds"] = time.perf_counter() - started

    print(f"\nZeroMQ feed, {args.count:,} ticker messages, {args.symbols} symbols, "
          f"connector JSON: {JSON_BACKEND}")
    print(f"{'throughput':<22}{'msgs/s':>12}{'x bare json':>13}")
    for key, run in tp.items():
        print(f"{key:<22}{run['rate']:>12,.0f}{run['ratio_to_bare_json']:>13.2f}")
    if results["latency"]:
        print(f"\nlatency publish->callback at {args.latency_rate:,} msgs/s (microseconds)")
        print(f"{'':<22}{'p50':>9}{'p90':>9}{'p99':>9}{'p99.9':>9}{'max':>10}")
        for key, run in results["latency"].items():
            print(f"{key:<22}{run['p50_us']:>9.0f}{run['p90_us']:>9.0f}{run['p99_us']:>9.0f}"
                  f"{run['p999_us']:>9.0f}{run['max_us']:>10.0f}")
    print(f"\ntotal {results['total_seconds']:.0f}s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
