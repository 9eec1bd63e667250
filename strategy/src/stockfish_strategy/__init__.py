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

from .__about__ import __version__
from .adapter import OnDataAdapter, OnDataStrategy, Order, SeedFill, adapt
from .backtest import Backtest, BacktestError, scan_data
from .portfolio import Portfolio, PositionState
from .results import Results
from .strategy import RiskLimits, Strategy, StrategyRunner

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
