"""Recording and replay: what the recorder costs, how fast a recording is read back, and
how big it is.

1. CPU per update on the manager's data path (sequence checks, caches, delivery to a
   subscriber) at a paced 100,000 updates/s, without and with the recorder attached.
   The CPU is the whole process's (the recorder's writer thread included, and its final
   flush), divided by the updates; beside it, the CPU of the delivering thread alone (the
   manager loop's share: the recorder's queueing, and what the writer's GIL holds cost
   it). Rounds alternate without / with.
2. Reading a recording back: the replay's read path (files -> typed columns -> one
   MarketUpdate per row, in recording order), against pyarrow reading the same files
   bare, (a) columnar only and (b) to Python rows (``Table.to_pylist()``, the least a
   row-by-row consumer does). Rounds alternate.
3. Bytes per million ticks: the recording's Parquet files (zstd) against the same ticks
   as JSON lines (``stockfish_core.serialization.to_json``, one update per line).

    python bench/record_replay.py [--updates 300000] [--rounds 3] [--ticks 1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

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


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


# -- 1. the data path with and without the recorder --------------------------------------
def data_path_cpu(updates: list[MarketUpdate], folder: Path | None) -> dict[str, float]:
    """CPU seconds per update through manager.on_updates at RATE, with a recorder
    writing to ``folder`` (or none)."""
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
    if folder is not None:
        recorder = Recorder(RecordingConfig(str(folder))).start()
        manager.add_subscriber(recorder)
    batches = [updates[i:i + BATCH] for i in range(0, len(updates), BATCH)]
    slot = BATCH / RATE
    cpu0, thread0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    for i, batch in enumerate(batches):
        manager.on_updates(connector, batch)
        wait = wall0 + (i + 1) * slot - time.perf_counter()
        if wait > 0:
            time.sleep(wait)  # pacing the offered load, not synchronisation
    late = time.perf_counter() - (wall0 + len(batches) * slot)
    loop_cpu = time.thread_time() - thread0  # the delivering thread alone
    if recorder is not None:
        recorder.close(timeout=600)  # its remaining work counts
        assert recorder.recorded == len(updates), recorder.stats()
    cpu = time.process_time() - cpu0
    manager.journal.close()
    assert delivered == len(updates)
    return {"cpu_us_per_update": cpu / len(updates) * 1e6,
            "loop_cpu_us_per_update": loop_cpu / len(updates) * 1e6, "late_s": max(0.0, late)}


# -- 2. reading back -----------------------------------------------------------------------
def read_replay(folder: Path) -> tuple[float, int]:
    """The replay's read path: the selection's files, decoded, one MarketUpdate a row."""
    start = time.process_time()
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
    return time.process_time() - start, n


def read_bare(folder: Path, rows: bool) -> tuple[float, int]:
    start = time.process_time()
    n = 0
    for path in sorted(folder.glob("**/*.parquet")):
        table = pq.read_table(path)
        if rows:
            n += len(table.to_pylist())
        else:
            n += table.num_rows
    return time.process_time() - start, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=300_000,
                        help="updates per data-path round (at 100k/s: 3 s a round)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ticks", type=int, default=1_000_000,
                        help="ticks recorded for the read and size measurements")
    args = parser.parse_args()
    results: dict[str, Any] = {}

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # 1.
        updates = ticks(args.updates)
        without: list[float] = []
        with_rec: list[float] = []
        loop_without: list[float] = []
        loop_with: list[float] = []
        late: list[float] = []
        for r in range(args.rounds):
            bare = data_path_cpu(updates, None)
            rec = data_path_cpu(updates, root / f"round{r}")
            without.append(bare["cpu_us_per_update"])
            with_rec.append(rec["cpu_us_per_update"])
            loop_without.append(bare["loop_cpu_us_per_update"])
            loop_with.append(rec["loop_cpu_us_per_update"])
            late += [bare["late_s"], rec["late_s"]]
        ratios = [w / b for w, b in zip(with_rec, without, strict=True)]
        loop_ratios = [w / b for w, b in zip(loop_with, loop_without, strict=True)]
        results["data_path"] = {"updates_per_round": args.updates, "rate": RATE,
                                "without_us": summary(without), "with_us": summary(with_rec),
                                "ratio": summary(ratios),
                                "loop_thread_without_us": summary(loop_without),
                                "loop_thread_with_us": summary(loop_with),
                                "loop_thread_ratio": summary(loop_ratios),
                                "max_late_s": max(late)}

        # 2. and 3.
        many = ticks(args.ticks, seed=11)
        folder = root / "rec"
        recorder = Recorder(RecordingConfig(str(folder))).start()
        cpu0 = time.process_time()
        for i in range(0, len(many), BATCH):
            for update in many[i:i + BATCH]:
                recorder.on_update(update)
        recorder.close(timeout=600)
        write_cpu = time.process_time() - cpu0
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
        results["size"] = {"ticks": len(many),
                           "parquet_bytes_per_million": parquet_bytes * per_million,
                           "jsonl_bytes_per_million": json_bytes * per_million,
                           "ratio": parquet_bytes / json_bytes,
                           "writer_cpu_us_per_tick": write_cpu / len(many) * 1e6}

        replay_rates, columnar_rates, rows_rates = [], [], []
        for _ in range(args.rounds):
            cpu, n = read_bare(folder, rows=False)
            columnar_rates.append(n / cpu)
            cpu, n = read_replay(folder)
            assert n == len(many)
            replay_rates.append(n / cpu)
            cpu, n = read_bare(folder, rows=True)
            rows_rates.append(n / cpu)
        results["read"] = {
            "replay_updates_per_cpu_s": summary(replay_rates),
            "bare_columnar_rows_per_cpu_s": summary(columnar_rates),
            "bare_pylist_rows_per_cpu_s": summary(rows_rates),
            "ratio_vs_pylist": summary([a / b for a, b in zip(replay_rates, rows_rates,
                                                              strict=True)]),
            "ratio_vs_columnar": summary([a / b for a, b in zip(replay_rates, columnar_rates,
                                                                strict=True)]),
        }

    d, s, rd = results["data_path"], results["size"], results["read"]

    def rng(x: dict[str, float], fmt: str = "{:.2f}") -> str:
        return f"{fmt.format(x['median'])} ({fmt.format(x['min'])}-{fmt.format(x['max'])})"

    print(f"1. data path at {RATE:,} updates/s, {args.updates:,} ticks a round, "
          f"{args.rounds} rounds interleaved; CPU per update, median (range)")
    print(f"   without the recorder   {rng(d['without_us'])} us")
    print(f"   with the recorder      {rng(d['with_us'])} us   (writer thread and final "
          "flush included)")
    print(f"   ratio                  {rng(d['ratio'])}x   (goal <= 1.3x)")
    print(f"   the delivering thread alone: {rng(d['loop_thread_without_us'])} us without, "
          f"{rng(d['loop_thread_with_us'])} us with, ratio {rng(d['loop_thread_ratio'])}x")
    print(f"2. reading {s['ticks']:,} recorded ticks back, CPU time, {args.rounds} rounds")
    print(f"   replay read path       {rng(rd['replay_updates_per_cpu_s'], '{:,.0f}')} "
          "updates/s (MarketUpdate objects)")
    print(f"   bare pyarrow, to rows  {rng(rd['bare_pylist_rows_per_cpu_s'], '{:,.0f}')} "
          "rows/s (Table.to_pylist)")
    print(f"   bare pyarrow, columnar {rng(rd['bare_columnar_rows_per_cpu_s'], '{:,.0f}')} "
          "rows/s (read_table only)")
    print(f"   ratio vs columnar      {rng(rd['ratio_vs_columnar'], '{:.3f}')}x   (goal >= 0.5x); "
          f"vs rows {rng(rd['ratio_vs_pylist'])}x")
    print(f"3. size per million ticks: Parquet {s['parquet_bytes_per_million']:,.0f} bytes, "
          f"JSON lines {s['jsonl_bytes_per_million']:,.0f} bytes ({s['ratio']:.3f}x); "
          f"writer CPU {s['writer_cpu_us_per_tick']:.2f} us per tick")

    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "record_replay.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
