"""Recording and replay: what the recorder costs, how fast a recording is read back, and
how big it is.

1. CPU per update on the manager's data path (sequence checks, caches, delivery to a
   subscriber) at a paced 100,000 updates/s, without and with the recorder attached,
   in interleaved rounds. The CPU is the whole process's (every thread: the recorder's
   writer and its final flush included), divided by the updates; beside it, apart, the
   delivering thread's own CPU (the manager loop's share: handing the recorder its
   batches, and what the writer's GIL holds cost it) and the writer thread's.
   Goal: the whole process at most 1.3x the CPU per update without the recorder.
2. Reading a recording back: the replay's read path (files -> typed columns -> one
   MarketUpdate per row, in recording order, a batch of 1,000 at a time), against
   pyarrow reading the same files bare, (a) columnar (``pq.read_table``) and (b) to
   Python rows (``Table.to_pylist()``, the least a row-by-row consumer does), in
   interleaved rounds. Goal: the replay at least 0.5x the rate of columnar reading.
3. Bytes per million ticks: the recording's Parquet files (zstd) against the same ticks
   as JSON lines (``stockfish_core.serialization.to_json``, one update per line), and
   the writer thread's CPU per tick when recording alone.

Reported with bench/harness.py: rate and CPU per update, median and range over the
rounds, the per-round ratios, the load average before and after.

    python bench/record_replay.py [--updates 300000] [--rounds 5] [--ticks 1000000]

Writes bench/results/record_replay.json.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from harness import Report, Row, Sample, interleave, measure, spread

from stockfish_core import DataType, ExchangeManager, MarketUpdate, PluginRegistry, PriceTick
from stockfish_core.data import RecordingConfig, read_updates
from stockfish_core.data.reader import Selection
from stockfish_core.data.recorder import Recorder
from stockfish_core.data.schema import decode
from stockfish_core.serialization import to_json
from stockfish_core.sim import plugin as sim_plugin

RATE = 100_000  # updates per second, paced
BATCH = 1_000  # updates per feed call: a 10 ms slot at RATE
T0 = 1_765_000_000_000_000_000


def ticks(n: int, seed: int = 7) -> list[MarketUpdate]:
    """Realistic level 1 ticks: ten symbols, random-walk prices on a cent grid."""
    rng = random.Random(seed)
    symbols = ["SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "META", "GOOG"]
    mids = dict.fromkeys(symbols, 40_000)  # cents
    volume = dict.fromkeys(symbols, 0)
    seqs = dict.fromkeys(symbols, 0)
    out = []
    for i in range(n):
        s = symbols[i % len(symbols)]
        mids[s] = max(100, mids[s] + rng.choice((-2, -1, 0, 0, 1, 2)))
        volume[s] += rng.randint(1, 10) * 100
        seqs[s] += 1
        ts = T0 + i * 10_000
        bid, ask = mids[s] / 100, (mids[s] + rng.randint(1, 3)) / 100
        out.append(MarketUpdate(DataType.PRICE_TICK,
                                PriceTick(s, bid, ask, bid, float(rng.randint(1, 50) * 100),
                                          float(rng.randint(1, 50) * 100), 100.0,
                                          float(volume[s]), ts),
                                "sim", seqs[s], ts, ts + 30_000))
    return out


# -- 1. the data path with and without the recorder --------------------------------------
class DataPath:
    """One round of the data path: ``updates`` through ``manager.on_updates`` at RATE, a
    batch of BATCH at a time, with a recorder writing under ``root`` or without."""

    def __init__(self, updates: list[MarketUpdate], root: Path) -> None:
        self.updates = updates
        self.root = root
        self.rounds = itertools.count()
        #: Per case: the delivering thread's and the writer thread's CPU, per round.
        self.loop: dict[bool, list[Sample]] = {False: [], True: []}
        self.writer_us: list[float] = []
        self.late: list[float] = []

    def run(self, record: bool) -> Sample:
        registry = PluginRegistry(entry_points=())
        registry.register(sim_plugin, "sim")
        manager = ExchangeManager(registry=registry, journal=":memory:")
        connector = manager.add_connector("sim", "sim")
        delivered = 0

        class Sub:
            def on_price_tick(self, update: MarketUpdate) -> None:
                nonlocal delivered
                delivered += 1

        manager.add_subscriber(Sub())
        recorder = None
        if record:
            recorder = Recorder(RecordingConfig(str(self.root / f"round{next(self.rounds)}")))
            recorder.start().ready.wait(60)  # its start-up (imports) is not a round's work
            manager.add_subscriber(recorder)
        updates = self.updates
        batches = [updates[i:i + BATCH] for i in range(0, len(updates), BATCH)]
        slot = BATCH / RATE
        thread0 = time.thread_time()

        def work() -> None:
            wall0 = time.perf_counter()
            for i, batch in enumerate(batches):
                manager.on_updates(connector, batch)
                wait = wall0 + (i + 1) * slot - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)  # pacing the offered load, not synchronisation
            self.late.append(max(0.0, time.perf_counter() - (wall0 + len(batches) * slot)))
            loop_cpu = time.thread_time() - thread0  # the delivering thread alone
            self.loop[record].append(Sample(len(updates), 0.0, loop_cpu))
            if recorder is not None:
                recorder.close(timeout=600)  # its remaining work counts
                assert recorder.recorded == len(updates), recorder.stats()
                self.writer_us.append(recorder.writer_cpu / len(updates) * 1e6)

        sample = measure(len(updates), work)
        manager.journal.close()
        assert delivered == len(updates)
        return sample


# -- 2. reading back -----------------------------------------------------------------------
def read_replay(folder: Path) -> int:
    """The replay's read path: the selection's files, decoded, one MarketUpdate a row."""
    selection = Selection(folder)
    n = 0
    for day, _ in selection.days():
        for data_type in selection.types:
            table = selection.table(data_type, day)
            if table is None:
                continue
            decoded = decode(data_type, table)
            for a in range(0, len(decoded), BATCH):  # the replay builds a batch at a time
                n += len(decoded.build(a, min(a + BATCH, len(decoded))))
    return n


def read_bare(folder: Path, rows: bool) -> int:
    n = 0
    for path in sorted(folder.glob("**/*.parquet")):
        table = pq.read_table(path)
        n += len(table.to_pylist()) if rows else table.num_rows
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=300_000,
                        help="updates per data-path round (at 100k/s: 3 s a round)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=1_000_000,
                        help="ticks recorded for the read and size measurements")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    report = Report("record_replay", __doc__.splitlines()[0])

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # 1.
        path = DataPath(ticks(args.updates), root)
        data = interleave({"without recorder": lambda: path.run(False),
                           "with recorder": lambda: path.run(True)},
                          args.rounds, warmup=True, progress=progress)
        # The warm-up rounds ran first, unrecorded: keep the measured rounds only.
        loop_without, loop_with = path.loop[False][-args.rounds:], path.loop[True][-args.rounds:]
        writer_us = path.writer_us[-args.rounds:]
        report.add(Row.of("data path at 100k/s, without recorder", data["without recorder"],
                          unit="update"))
        report.add(Row.of("data path at 100k/s, with recorder (whole process)",
                          data["with recorder"], unit="update",
                          baseline="without recorder", bare=data["without recorder"],
                          goal="CPU <= 1.3x", cpu_goal=1.3,
                          writer_thread_cpu_us=spread(writer_us),
                          max_late_s=max(path.late)))
        loop_row = Row.of("  the delivering thread alone, with recorder", loop_with,
                          unit="update", baseline="its CPU without recorder",
                          bare=loop_without)
        loop_row.rate = spread([])  # a thread's CPU only; the rate is the row above's
        report.add(loop_row)

        # 2. and 3.
        many = ticks(args.ticks, seed=11)
        folder = root / "rec"
        recorder = Recorder(RecordingConfig(str(folder))).start()
        recorder.ready.wait(60)
        for i in range(0, len(many), BATCH):
            recorder.on_update_batch(many[i:i + BATCH])
        recorder.close(timeout=600)
        writer_alone_us = recorder.writer_cpu / len(many) * 1e6
        parquet_bytes = sum(p.stat().st_size for p in folder.glob("**/*.parquet"))
        assert read_updates(folder, symbols=["SPY"])[:3] == [u for u in many
                                                             if u.payload.symbol == "SPY"][:3]
        jsonl = root / "ticks.jsonl"
        with jsonl.open("w") as f:
            for update in many:
                f.write(to_json(update))
                f.write("\n")
        json_bytes = jsonl.stat().st_size
        per_million = 1_000_000 / len(many)

        def replay() -> Sample:
            sample = measure(len(many), lambda: read_replay(folder))
            assert sample.ops == len(many)
            return sample

        reads = interleave({"bare read_table": lambda: measure(0, lambda: read_bare(folder,
                                                                                    False)),
                            "replay": replay,
                            "bare to_pylist": lambda: measure(0, lambda: read_bare(folder,
                                                                                   True))},
                           args.rounds, warmup=True, progress=progress)
        report.add(Row.of("pyarrow read_table (columnar)", reads["bare read_table"],
                          unit="row"))
        report.add(Row.of("replay read path (MarketUpdates)", reads["replay"], unit="update",
                          baseline="read_table", bare=reads["bare read_table"],
                          goal="rate >= 0.5x", rate_goal=0.5))
        report.add(Row.of("pyarrow Table.to_pylist", reads["bare to_pylist"], unit="row"))
        report.add(Row.of("replay read path against to_pylist", reads["replay"],
                          unit="update", baseline="to_pylist", bare=reads["bare to_pylist"]))
        report.extra["size"] = {
            "ticks": len(many),
            "parquet_bytes_per_million": round(parquet_bytes * per_million),
            "jsonl_bytes_per_million": round(json_bytes * per_million),
            "ratio": round(parquet_bytes / json_bytes, 4),
            "writer_cpu_us_per_tick_recording_alone": round(writer_alone_us, 3)}
        report.extra["data_path"] = {"updates_per_round": args.updates, "rate": RATE,
                                     "batch": BATCH}

    report.finish(args.out)
    size = report.extra["size"]
    print(f"size per million ticks: Parquet {size['parquet_bytes_per_million']:,} bytes, "
          f"JSON lines {size['jsonl_bytes_per_million']:,} bytes ({size['ratio']:.3f}x); "
          f"the writer thread recording alone: {writer_alone_us:.2f} us CPU per tick")
    writer = spread(writer_us)
    print(f"writer thread CPU per update in the data-path rounds: {writer['median']:.2f} us "
          f"({writer['min']:.2f}-{writer['max']:.2f})")


if __name__ == "__main__":
    main()
