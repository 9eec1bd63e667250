"""Parity: one moving-average crossover over the same recording, (a) in the backtester and
(b) replayed through the live path (``stockfish run --strategy ... --paper``: the run
command's runner, the wall clock, the manager's order ids) with the paper venue, gives the
same orders, fills and final PnL."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockfish_core.app.runner import run
from stockfish_core.config import load_config
from stockfish_core.plugins import PluginRegistry
from stockfish_strategy import Backtest, Results

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategy"
COMMISSION = "per_share:0.005,min=1,max=0.01"
SLIPPAGE = "bps:1"


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"parity_{name}", EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _strategy_file(tmp_path: Path, base: str, cls: str) -> str:
    """The example, registered where the test can see it (to stop the run once the last
    bar was seen); a seed-style one in the adapter the run command would wrap it in."""
    path = tmp_path / f"{base}_watched.py"
    parent = f"module.{cls}" if base != "seed_sma" else "OnDataAdapter"
    inner = "" if base != "seed_sma" else f"module.{cls}()"
    path.write_text(
        f"import importlib.util, sys\n"
        f"from stockfish_strategy.adapter import OnDataAdapter\n"
        f"spec = importlib.util.spec_from_file_location('w_{base}', {str(EXAMPLES / base)!r} "
        f"+ '.py')\n"
        f"module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"class Watched({parent}):\n"
        f"    def __init__(self):\n"
        f"        super().__init__({inner})\n"
        f"        sys.modules['parity_watch'].instances.append(self)\n")
    return f"{path}:Watched"


class _Watch:
    instances: list[Any] = []


async def _live(tmp_path: Path, data: Path, spec: str) -> Path:
    config_path = tmp_path / "replay.yaml"
    config_path.write_text(yaml.safe_dump({
        "connectors": {"replay": {"path": str(data), "speed": 0, "batch_size": 1},
                       "paper": {"commission": COMMISSION, "slippage": SLIPPAGE}},
        "manager": {"journal": ":memory:"},
        "subscriptions": [{"symbols": ["AAPL"], "type": "bars", "interval": "1h",
                           "connectors": ["replay"]}],
    }))
    registry = PluginRegistry()
    config = load_config(str(config_path), registry)
    watch = _Watch()
    watch.instances = []
    sys.modules["parity_watch"] = watch  # type: ignore[assignment]

    async def stop_when_played() -> None:
        # The live run has no end of its own: stop it (SIGTERM, as an operator would) once
        # the strategy saw every bar and its last orders came back.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            if not watch.instances:
                continue
            runner = watch.instances[0].runner
            replay = runner.manager.get_connector("replay").state
            paper = runner.manager.get_connector("paper").state
            if replay.finished is not None and not paper.in_flight and not any(
                    o.status.value == "PENDING" for o in runner.open_orders.values()):
                os.kill(os.getpid(), signal.SIGTERM)
                return

    stopper = asyncio.get_running_loop().create_task(stop_when_played())
    code = await run(config, registry=registry, headless=True, strategy=spec, paper=True,
                     duration=90)
    await stopper
    assert code == 0
    return tmp_path / "stockfish-results"


@pytest.mark.parametrize(("base", "cls"), [("sma_crossover", "SmaCrossover"),
                                           ("seed_sma", "SimpleMovingAverage")])
async def test_backtest_and_the_live_path_with_the_paper_venue_agree(
    bars: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: str, cls: str,
    capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = getattr(_load(base), cls)()
    backtest = await Backtest(strategy, bars, commission=COMMISSION,
                              slippage=SLIPPAGE).run_async()
    monkeypatch.chdir(tmp_path)
    results_dir = await _live(tmp_path, bars, _strategy_file(tmp_path, base, cls))
    live_runner = sys.modules["parity_watch"].instances[0].runner  # type: ignore[attr-defined]
    live = Results.from_runner(live_runner, "paper")
    assert len(backtest.fills) > 2
    fill_columns = ["time", "symbol", "side", "quantity", "price", "commission",
                    "realized_pnl", "position"]
    assert backtest.fills[fill_columns].to_dict("records") == \
        live.fills[fill_columns].to_dict("records")
    order_columns = ["symbol", "side", "type", "quantity", "price", "status", "filled"]
    assert backtest.orders[order_columns].to_dict("records") == \
        live.orders[order_columns].to_dict("records")
    for key in ("account_value", "realized_pnl", "unrealized_pnl", "commissions", "cash",
                "positions", "total_fills"):
        assert backtest.summary[key] == live.summary[key], key
    [folder] = results_dir.iterdir()  # the live run's results, as files
    assert folder.name.endswith("-paper")
    assert (folder / "report.html").is_file()
