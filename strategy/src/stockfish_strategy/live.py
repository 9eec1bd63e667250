"""A strategy in ``stockfish run``: live data, orders to the configured venues, or with
``--paper`` to the ``paper`` venue (added when the configuration has none).

``stockfish run config.yaml --strategy file.py:Class [--paper]`` finds the
``stockfish_runtime`` attribute on the class (every :class:`~.strategy.Strategy` and
seed-style strategy has it) and hands the class here; the returned session starts the
strategy once the manager is connected and, at the end, stops it, writes its results
(summary, CSV files, the HTML report) under ``stockfish-results/<Class>-<mode>/`` and
logs the summary. The clock is the wall clock and order ids are the manager's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockfish_core.errors import StockfishError

from .adapter import adapt
from .results import Results
from .strategy import StrategyRunner

if TYPE_CHECKING:
    from stockfish_core.manager import ExchangeManager

__all__ = ["LiveSession", "attach"]

log = logging.getLogger("stockfish.strategy")

#: Where a run's results go (relative to the working directory).
RESULTS_DIR = "stockfish-results"


class LiveSession:
    """One strategy in one ``stockfish run`` (see the module docs)."""

    def __init__(self, runner: StrategyRunner, mode: str, out: Path) -> None:
        self.runner = runner
        self.mode = mode
        self.out = out
        self.results: Results | None = None

    def started(self) -> None:
        """The manager is running: the strategy starts (on_start)."""
        self.runner.start()

    def finished(self) -> str:
        """The run ends: stop the strategy, write its results; returns the summary line."""
        runner = self.runner
        runner.stop()
        results = self.results = Results.from_runner(runner, self.mode)
        paths = results.write(self.out)
        s = results.summary
        line = (f"strategy {results.strategy} ({self.mode}): account value "
                f"{s['account_value']:.2f}, fills {s['total_fills']}, errors "
                f"{s['total_errors']}, positions {s['positions'] or 'none'}"
                f"{', stopped: ' + s['stopped'] if s['stopped'] else ''}; report "
                f"{paths['report']}")
        log.warning("%s", line)
        return line


def attach(target: Any, manager: ExchangeManager, *, paper: bool = False,
           out: str | Path | None = None) -> LiveSession:
    """Build the strategy ``target`` (a class or factory) on ``manager``."""
    strategy = adapt(target() if callable(target) else target)
    connector = None
    if paper:
        if "paper" not in manager.connectors:
            manager.add_connector("paper", "paper")
        elif manager.connectors["paper"].plugin != "paper":
            raise StockfishError("--paper: the connector named 'paper' is not of the paper "
                                 "plugin; rename it")
        connector = "paper"
    mode = "paper" if paper or _only_paper(manager) else "live"
    runner = StrategyRunner(strategy, manager, backtest=False, connector=connector)
    folder = Path(out) if out is not None else Path(RESULTS_DIR) / \
        f"{type(strategy.inner if hasattr(strategy, 'inner') else strategy).__name__}-{mode}"
    return LiveSession(runner, mode, folder)


def _only_paper(manager: ExchangeManager) -> bool:
    takers = [c for c in manager.connectors.values() if not c.data_only]
    return bool(takers) and all(c.plugin == "paper" for c in takers)
