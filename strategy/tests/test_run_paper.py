"""``stockfish run --strategy FILE:Class --paper``: live data from the configured feeds
(here the built-in simulated venue), orders to the paper venue, results written at the
end; and clear errors for --paper without a strategy of stockfish-strategy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)

MEAN_REVERSION = Path(__file__).resolve().parents[2] / "examples" / "strategy" / \
    "mean_reversion.py"


def stockfish(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STOCKFISH_JOURNAL": str(tmp_path / "journal.sqlite")}
    return subprocess.run([sys.executable, "-m", "stockfish_core.cli", *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)


def test_a_strategy_trades_on_paper_against_the_feeds_quotes(tmp_path: Path) -> None:
    (tmp_path / "once.py").write_text(
        "from stockfish_strategy import Strategy\n"
        "class Once(Strategy):\n"
        "    def on_tick(self, tick):\n"
        "        if tick.symbol == 'SPY' and not self.position('SPY') and \\\n"
        "                not self.open_orders():\n"
        "            self.buy('SPY', 3)\n")
    result = stockfish(tmp_path, "run", "--headless", "--duration", "3", "--paper",
                       "--strategy", f"{tmp_path / 'once.py'}:Once")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    fills = [r["fill"] for r in records if r.get("event") == "fill"]
    ticks_seen = [r for r in records if r.get("event") == "stats"]
    assert ticks_seen
    assert [(f["connector"], f["symbol"], f["quantity"]) for f in fills] == [
        ("paper", "SPY", "3")]
    summary = json.loads((tmp_path / "stockfish-results" / "Once-paper" / "summary.json")
                         .read_text())["summary"]
    assert summary["total_fills"] == 1
    assert summary["positions"] == {"SPY": "3"}
    assert (tmp_path / "stockfish-results" / "Once-paper" / "report.html").is_file()


def test_paper_needs_a_strategy_of_stockfish_strategy(tmp_path: Path) -> None:
    result = stockfish(tmp_path, "run", "--headless", "--duration", "1", "--paper")
    assert result.returncode == 1
    assert "--paper needs --strategy" in result.stderr
    result = stockfish(tmp_path, "run", "--headless", "--duration", "1", "--paper",
                       "--strategy", f"{MEAN_REVERSION}:MeanReversion")
    assert result.returncode == 1
    assert "--paper runs a strategy of stockfish-strategy" in result.stderr
    assert "Traceback" not in result.stderr
