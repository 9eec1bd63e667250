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
share is what limits several feeds on one loop. Each round takes the next slice of the
messages; every case runs once a round, the order rotated from round to round
(bench/harness.py), with the sequence state reset before each of the two cases that
normalize (a worker process would have its own), and the hand-off's frames packed
before the rounds. Rows: "in process" against bare; "worker" and "hand-off" against "in
process" (per-round ratios), with the load average.

    python bench/zmq_handoff.py --count 200000 --rounds 5 --symbols 10
    python bench/zmq_handoff.py --quick       # a check that it runs

Writes bench/results/zmq_handoff.json (bench/harness.py's shape).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import orjson
from harness import Report, Row, Sample, interleave, measure, spread

from stockfish_core import ExchangeManager, PluginRegistry, Subscription
from stockfish_core.models import DataType, MarketUpdate, PriceTick
from stockfish_zmq import plugin
from stockfish_zmq.marketdata import FrameBatch
from stockfish_zmq.testing.publisher import make_message
from stockfish_zmq.testing.synthetic import SyntheticMarket, symbol_names


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


def timed(ops: int, work: Callable[[], object]) -> Sample:
    gc.collect()
    return measure(ops, work)


async def run(count: int, rounds: int, symbols: int,
              batch_size: int) -> tuple[dict[str, list[Sample]], int]:
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
    async with manager:
        await manager.subscribe_async([Subscription(s) for s in names])
        session = connector.state
        stream = next(iter(session.streams.values()))
        venue = manager._venues[connector.name]  # the manager's counters for the hub
        hub = manager.hub
        per_round = count // rounds
        loads = orjson.loads

        def reset() -> None:
            """A fresh sequence state: the same messages again, as a worker process (with
            its own) would see them, and nothing a duplicate."""
            for tracker in stream.sequencer.trackers.values():
                tracker.next_seq = None
                tracker.pending.clear()

        def pack(batches: list[FrameBatch]) -> list[bytes]:
            """What a worker sends: each batch's updates as tuples in one msgpack frame."""
            return [encode([
                (u.payload.symbol, u.payload.bid, u.payload.ask, u.payload.last,
                 u.payload.bid_size, u.payload.ask_size, u.payload.last_size,
                 u.payload.volume, u.venue_ts_ns, u.sequence_number, u.recv_ts_ns)
                for u in session.normalize(batch)]) for batch in batches]

        parts = [raw[r * per_round:(r + 1) * per_round] for r in range(rounds)]
        batch_parts = []
        for part in parts:
            batches = []
            for i in range(0, len(part), batch_size):
                batch = FrameBatch(stream, time.time_ns())
                batch.extend(part[i:i + batch_size])
                batches.append(batch)
            batch_parts.append(batches)
        packed_parts = []
        for batches in batch_parts:
            reset()
            packed_parts.append(pack(batches))

        def bare(part: list[bytes]) -> None:
            for frame in part:
                loads(frame[frame.find(b" ") + 1:])

        def in_process(batches: list[FrameBatch]) -> None:
            for batch in batches:
                session._feed(batch)

        def handoff(packed: list[bytes]) -> None:
            name, stream_name, stats = connector.name, stream.name, venue.stats
            for frame in packed:
                now = time.time_ns()
                updates = [MarketUpdate(price_tick, PriceTick(s, b, a, la, bs, az, ls, v,
                                                              ts or rt),
                                        name, seq, ts, rt, stream_name)
                           for s, b, a, la, bs, az, ls, v, ts, seq, rt in decode(frame)]
                hub.process(name, stats, updates, now, sequenced=True)

        done = dict.fromkeys(("bare", "in_process", "worker", "handoff"), 0)

        def case(name: str) -> Callable[[], Sample]:
            def one() -> Sample:
                r = done[name]
                done[name] += 1
                n = len(parts[r])
                if name == "bare":
                    return timed(n, lambda: bare(parts[r]))
                if name == "in_process":
                    reset()
                    return timed(n, lambda: in_process(batch_parts[r]))
                if name == "worker":
                    reset()
                    return timed(n, lambda: pack(batch_parts[r]))
                return timed(n, lambda: handoff(packed_parts[r]))
            return one

        samples = interleave({name: case(name) for name in done}, rounds, progress=print)
    manager.journal.close()
    return samples, counter.n


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--symbols", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--quick", action="store_true",
                   help="20,000 messages in 2 rounds (a check that it runs)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.count, args.rounds = 20_000, 2
    report = Report("zmq_handoff", __doc__.split("\n\n")[0].replace("\n", " "))
    samples, delivered = asyncio.run(run(args.count, args.rounds, args.symbols,
                                         args.batch_size))
    what = f"{args.symbols} symbols"
    inproc = samples["in_process"]
    report.add(Row.of(f"in process: connector batch path, {what}", inproc, unit="message",
                      baseline="bare orjson.loads of each frame", bare=samples["bare"]))
    report.add(Row.of(f"worker's share: normalize + msgpack, {what}", samples["worker"],
                      unit="message", baseline="in process", bare=inproc))
    report.add(Row.of(f"hand-off: the manager's share, {what}", samples["handoff"],
                      unit="message", baseline="in process", bare=inproc))
    report.add(Row.of(f"bare orjson.loads, {what}", samples["bare"], unit="message"))
    both = spread((w.cpu_us + h.cpu_us) / p.cpu_us for w, h, p in zip(
        samples["worker"], samples["handoff"], inproc, strict=True))
    report.extra = {"count": args.count, "symbols": args.symbols,
                    "batch_size": args.batch_size, "quick": args.quick,
                    "worker_plus_handoff_cpu_x_in_process": both,
                    "delivered_in_process_and_handoff": delivered}
    print(f"worker + hand-off / in process (all CPU): {both['median']:.2f}x "
          f"({both['min']:.2f}-{both['max']:.2f})")
    report.finish(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
