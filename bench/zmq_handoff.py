#!/usr/bin/env python
"""Would a worker process that receives, decodes and normalizes a ZeroMQ feed, and hands
the manager compact batches, take load off the manager's process?

The manager's loop is the one place every feed meets, so the question is the CPU per
message left on it. Measured in one process, in interleaved rounds, by process CPU
time, with no sockets (the receive is the same one ``recv`` a message either way, and
one ``recv`` a batch for a hand-off):

- bare: ``orjson.loads`` of each frame's JSON (the bare loop of bench/zmq_throughput.py
  without its ``recv``);
- in process: the connector's batch path as it runs today (normalize, the manager's
  hub, a subscriber callback);
- worker: what the worker would spend a message (normalize, then pack the batch's
  updates as tuples in one msgpack frame);
- hand-off: what would be left on the manager's loop (unpack the frame in one call,
  build PriceTick and MarketUpdate, the hub, the callback).

The hand-off pays off only if "hand-off" is well below "in process": the manager's
share is what limits several feeds on one loop.

    python bench/zmq_handoff.py --count 200000 --rounds 5 --symbols 10
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import orjson

from stockfish_core import ExchangeManager, PluginRegistry, Subscription
from stockfish_core.models import DataType, MarketUpdate, PriceTick
from stockfish_zmq import plugin
from stockfish_zmq.marketdata import FrameBatch
from stockfish_zmq.testing.publisher import make_message
from stockfish_zmq.testing.synthetic import SyntheticMarket, symbol_names

RESULTS = Path(__file__).resolve().parent / "results"


def frames(count: int, symbols: int) -> tuple[list[str], list[bytes]]:
    names = symbol_names(symbols)
    market = iter(SyntheticMarket(names, ("ticker",)))
    seq: dict[str, int] = {}
    out = []
    for _ in range(count):
        kind, symbol, data = next(market)
        seq[symbol] = seq.get(symbol, 0) + 1
        msg = make_message(kind, symbol, data, sequence=seq[symbol], session="s1")
        out.append(symbol.encode() + b" " + orjson.dumps(msg))
    return names, out


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def on_price_tick(self, update: MarketUpdate) -> None:
        self.n += 1


def cpu_us(fn: Callable[[], Any], n: int) -> float:
    gc.collect()
    started = time.process_time()
    fn()
    return (time.process_time() - started) / n * 1e6


async def run(count: int, rounds: int, symbols: int, batch_size: int) -> dict[str, Any]:
    names, raw = frames(count, symbols)
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "zmq")
    manager = ExchangeManager(registry=registry, journal=":memory:")
    # No publisher: the sockets wait; the batches are handed to the connector directly.
    connector = manager.add_connector("zmq", "zmq", data_only=True,
                                      endpoints=["tcp://127.0.0.1:9"], heartbeat_interval=None)
    counter = _Counter()
    manager.add_subscriber(counter)
    encode = msgspec.msgpack.Encoder().encode
    decode = msgspec.msgpack.Decoder(list[tuple[str, Any, Any, Any, Any, Any, Any, Any, int,
                                                int, int]]).decode
    price_tick = DataType.PRICE_TICK
    results: dict[str, list[float]] = {"bare": [], "in_process": [], "worker": [],
                                       "handoff": []}
    async with manager:
        await manager.subscribe_async([Subscription(s) for s in names])
        session = connector.state
        stream = next(iter(session.streams.values()))
        venue = manager._venues[connector.name]  # the manager's counters for the hub
        hub = manager.hub
        per_round = count // rounds
        loads = orjson.loads
        for r in range(rounds):
            part = raw[r * per_round:(r + 1) * per_round]
            batches = []
            for i in range(0, len(part), batch_size):
                batch = FrameBatch(stream, time.time_ns())
                batch.extend(part[i:i + batch_size])
                batches.append(batch)

            def bare(part: list[bytes] = part) -> None:
                for frame in part:
                    loads(frame[frame.find(b" ") + 1:])

            def in_process(batches: list[FrameBatch] = batches) -> None:
                for batch in batches:
                    session._feed(batch)

            packed: list[bytes] = []

            def worker(batches: list[FrameBatch] = batches, packed: list[bytes] = packed) -> None:
                # A fresh stream state: the same messages again, as a worker would see them.
                for batch in batches:
                    updates = session.normalize(batch)
                    packed.append(encode([
                        (u.payload.symbol, u.payload.bid, u.payload.ask, u.payload.last,
                         u.payload.bid_size, u.payload.ask_size, u.payload.last_size,
                         u.payload.volume, u.venue_ts_ns, u.sequence_number, u.recv_ts_ns)
                        for u in updates]))

            def handoff(packed: list[bytes] = packed) -> None:
                name, stream_name, stats = connector.name, stream.name, venue.stats
                for frame in packed:
                    now = time.time_ns()
                    updates = [MarketUpdate(price_tick, PriceTick(s, b, a, la, bs, az, ls, v,
                                                                  ts or rt),
                                            name, seq, ts, rt, stream_name)
                               for s, b, a, la, bs, az, ls, v, ts, seq, rt in decode(frame)]
                    hub.process(name, stats, updates, now, sequenced=True)

            results["bare"].append(cpu_us(bare, len(part)))
            results["in_process"].append(cpu_us(in_process, len(part)))
            # The worker sees the round again: reset its sequence state so nothing is a
            # duplicate (a worker process would have its own).
            for tracker in stream.sequencer.trackers.values():
                tracker.next_seq = None
                tracker.pending.clear()
            results["worker"].append(cpu_us(worker, len(part)))
            results["handoff"].append(cpu_us(handoff, len(part)))
    manager.journal.close()
    summary: dict[str, Any] = {k: {"median": statistics.median(v), "min": min(v),
                                   "max": max(v)} for k, v in results.items()}
    summary["handoff_vs_in_process"] = statistics.median(
        h / p for h, p in zip(results["handoff"], results["in_process"], strict=True))
    summary["worker_plus_handoff_vs_in_process"] = statistics.median(
        (w + h) / p for w, h, p in zip(results["worker"], results["handoff"],
                                       results["in_process"], strict=True))
    summary["delivered_in_process_and_handoff"] = counter.n
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--symbols", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--out", type=Path, default=RESULTS / "zmq_handoff.json")
    args = p.parse_args(argv)
    summary = asyncio.run(run(args.count, args.rounds, args.symbols, args.batch_size))
    print(f"CPU per message (us), {args.count:,} ticker messages, {args.symbols} symbols, "
          f"{args.rounds} interleaved rounds: median (min-max)")
    for key in ("bare", "in_process", "worker", "handoff"):
        s = summary[key]
        print(f"  {key:<11} {s['median']:6.2f} ({s['min']:.2f}-{s['max']:.2f})")
    print(f"hand-off / in process (the manager's share): "
          f"{summary['handoff_vs_in_process']:.2f}x; worker + hand-off / in process (all "
          f"CPU): {summary['worker_plus_handoff_vs_in_process']:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
