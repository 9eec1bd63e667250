"""A moving-average crossover on bars, written against the Strategy API:

    stockfish backtest examples/strategy/sma_crossover.py:SmaCrossover --data rec
"""

from __future__ import annotations

from stockfish_core.models import OHLCVBar
from stockfish_strategy import Strategy


class SmaCrossover(Strategy):
    """Hold ``quantity`` while the fast average of the closes is above the slow one."""

    fast = 10
    slow = 30
    quantity = 10

    def on_bar(self, bar: OHLCVBar) -> None:
        closes = self.history(bar.symbol, self.slow)["close"]
        if len(closes) < self.slow:
            return
        above = closes.tail(self.fast).mean() > closes.mean()
        self.order_target(bar.symbol, self.quantity if above else 0)
