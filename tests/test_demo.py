"""`stockfish demo`: three simulators, a failover, and a summary that says so."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_demo_summary(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stockfish_core.cli", "demo", "--duration", "10"],
        capture_output=True, text=True, timeout=150, cwd=tmp_path,
        env={**os.environ, "STOCKFISH_JOURNAL": str(tmp_path / "journal.sqlite")},
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "Configuration used (start your own from it):" in out
    summary = out[out.index("Demo summary"):]
    updates = dict(re.findall(r"(ibkr|fix|zmq) ([\d,]+)", summary.splitlines()[1]))
    assert set(updates) == {"ibkr", "fix", "zmq"}
    assert all(int(n.replace(",", "")) > 0 for n in updates.values()), summary
    routed = dict(re.findall(r"(ibkr|fix) (\d+)", summary.split("routed:")[1].splitlines()[0]))
    assert int(routed["ibkr"]) > 0 and int(routed["fix"]) > 0, summary
    failover = re.search(r"first order on the backup ([\d.]+) ms after the loss", summary)
    assert failover is not None, summary
    assert "primary back at" in summary
    assert "orders lost: 0   orders duplicated: 0" in summary
    assert summary.rstrip().endswith("result:   OK")
