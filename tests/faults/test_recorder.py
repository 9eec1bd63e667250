"""The recorder killed with SIGKILL mid-run: every closed file is readable, only the tail
is missing, and the loss is within the documented bound (rotate_seconds + flush_interval
of each partition)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

import pytest

pq = pytest.importorskip("pyarrow.parquet")

from stockfish_core.data import read_updates  # noqa: E402
from stockfish_core.data.recorder import PARTIAL_SUFFIX  # noqa: E402

ROTATE_SECONDS = 0.5
FLUSH_INTERVAL = 0.1
#: Scheduling on a shared machine: the writer's pass may come this much later.
SLACK_SECONDS = 1.0

RECORDING_PROCESS = textwrap.dedent("""
    import asyncio, sys, time
    from stockfish_core.config import ManagerConfig
    from stockfish_core.manager import ExchangeManager
    from stockfish_core.plugins import PluginRegistry
    from stockfish_core.sim import plugin as sim_plugin

    class Count:
        delivered = 0
        def on_update(self, update):
            Count.delivered += 1

    async def main():
        registry = PluginRegistry(entry_points=())
        registry.register(sim_plugin, "sim")
        manager = ExchangeManager(config=ManagerConfig(journal=":memory:"), registry=registry)
        manager.add_connector("sim", "sim", primary=True, tick_interval=0.002, seed=1)
        manager.add_subscriber(Count())
        manager.record(sys.argv[1], rotate_seconds=%(rotate)r, flush_interval=%(flush)r)
        manager.subscribe_price(["SPY", "QQQ"])
        async with manager:
            while True:  # report progress to the test, which kills this process
                print(Count.delivered, time.time_ns(), flush=True)
                await asyncio.sleep(0.05)

    asyncio.run(main())
""") % {"rotate": ROTATE_SECONDS, "flush": FLUSH_INTERVAL}


def test_a_recording_killed_with_sigkill_loses_at_most_the_documented_tail(
        tmp_path: Path) -> None:
    script = tmp_path / "record.py"
    script.write_text(RECORDING_PROCESS)
    out = tmp_path / "rec"
    process = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first_ns = last_ns = 0
    delivered = 0
    kill_at: int | None = None
    deadline = time.monotonic() + 60
    try:
        for line in process.stdout:  # bounded: by the deadline and by the kill below
            delivered, last_ns = (int(x) for x in line.split())
            first_ns = first_ns or last_ns
            # Several files closed (rotations) while data flows, then the kill, part-way
            # into the next file.
            if kill_at is None and delivered > 1000 and len(list(out.glob("**/*.parquet"))) >= 4:
                kill_at = delivered + 150
            if kill_at is not None and delivered >= kill_at:
                break
            assert time.monotonic() < deadline, "the recording process made no progress"
        else:
            pytest.fail(f"the recording process ended: {process.stderr.read()}")  # type: ignore[union-attr]
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(10)
        process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL

    closed = sorted(out.glob("**/*.parquet"))
    partial = sorted(out.glob(f"**/*{PARTIAL_SUFFIX}"))
    assert len(closed) >= 4, "files were closed (rotated) while the recorder ran"
    for path in closed:  # every closed file is complete and readable
        pq.read_table(path)
    assert len(partial) <= 1  # at most the open file of the one partition (sim's ticks)

    recorded = read_updates(out)
    by_stream: dict[tuple[str, str], list[int]] = defaultdict(list)
    for update in recorded:
        assert update.sequence_number is not None and update.symbol is not None
        by_stream[(update.symbol, update.data_type.value)].append(update.sequence_number)
    for key, sequences in by_stream.items():
        # What is there is a whole prefix of the stream: nothing is missing in the middle.
        assert sequences == list(range(1, len(sequences) + 1)), key

    elapsed = (last_ns - first_ns) / 1e9
    rate = delivered / elapsed
    bound = ROTATE_SECONDS + FLUSH_INTERVAL + SLACK_SECONDS
    lost = delivered - len(recorded)
    newest = max(u.recv_ts_ns for u in recorded)
    print(f"delivered {delivered} (last report), recorded {len(recorded)} in {len(closed)} "
          f"files, lost {lost} ({lost / rate:.2f}s at {rate:.0f}/s), "
          f"newest recorded {(last_ns - newest) / 1e9:.2f}s before the last report")
    assert len(recorded) > 0
    assert lost <= rate * bound
    assert (last_ns - newest) / 1e9 <= bound
