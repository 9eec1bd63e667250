"""stockfish-strategy: one Strategy API run unchanged in a backtest, on paper and live.

* :class:`Strategy` (:mod:`.strategy`): callbacks and methods to trade; :class:`StrategyRunner`
  attaches one to an ``ExchangeManager``.
* :class:`Portfolio` (:mod:`.portfolio`): Decimal-exact cash, positions, PnL, the
  buying-power rule.
* The ``paper`` venue (:mod:`.paper`): fills against the market the manager delivers, on
  the core's shared fill engine.
* :class:`Backtest` (:mod:`.backtest`): a recording through the replay connector, the
  manager and the paper venue, on the recording's clock.
* :class:`Results` (:mod:`.results`): summary, DataFrames, files, the HTML report.
* Seed-style strategies (``initialize``/``on_data``/``on_fill``) through
  :mod:`.adapter`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .__about__ import __version__

if TYPE_CHECKING:
    from .adapter import OnDataAdapter, OnDataStrategy, Order, SeedFill, adapt
    from .backtest import Backtest, BacktestError, scan_data
    from .portfolio import Portfolio, PositionState
    from .results import Results
    from .strategy import RiskLimits, Strategy, StrategyRunner

#: Every public name and its module, imported on first use: the package's command-line
#: entry point (stockfish_strategy.commands) and the paper venue's plugin module stay
#: light for ``stockfish`` commands that do not run a strategy.
_LAZY = {
    **dict.fromkeys(("OnDataAdapter", "OnDataStrategy", "Order", "SeedFill", "adapt"),
                    "adapter"),
    **dict.fromkeys(("Backtest", "BacktestError", "scan_data"), "backtest"),
    **dict.fromkeys(("Portfolio", "PositionState"), "portfolio"),
    "Results": "results",
    **dict.fromkeys(("RiskLimits", "Strategy", "StrategyRunner"), "strategy"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stockfish_strategy' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Backtest",
    "BacktestError",
    "OnDataAdapter",
    "OnDataStrategy",
    "Order",
    "Portfolio",
    "PositionState",
    "Results",
    "RiskLimits",
    "SeedFill",
    "Strategy",
    "StrategyRunner",
    "__version__",
    "adapt",
    "scan_data",
]
