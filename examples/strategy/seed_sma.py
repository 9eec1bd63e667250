"""The SimpleMovingAverage of seed 003, as its text writes it, run through the adapter:

    stockfish backtest examples/strategy/seed_sma.py:SimpleMovingAverage --data rec
"""

from datetime import datetime

import pandas as pd

from stockfish_strategy.adapter import OnDataStrategy as Strategy
from stockfish_strategy.adapter import Order


class SimpleMovingAverage(Strategy):
    """
    Simple moving average crossover strategy.
    Works in both backtest and live mode.
    """

    def initialize(self):
        self.fast_period = 10
        self.slow_period = 30
        self.position = None
        self.fills = []

    def on_data(self, timestamp: datetime, data: pd.DataFrame) -> list:
        orders = []

        # Calculate moving averages
        if 'Close' in data.columns:  # noqa: SIM108 - the seed's text, unchanged
            close_prices = data['Close']
        else:
            # Handle multi-symbol data
            close_prices = data[('Close', 'AAPL')]

        if len(close_prices) < self.slow_period:
            return orders

        fast_ma = close_prices.tail(self.fast_period).mean()
        slow_ma = close_prices.tail(self.slow_period).mean()

        # Generate signals
        if fast_ma > slow_ma and self.position is None:
            # Buy signal
            orders.append(Order(
                symbol='AAPL',
                quantity=10,
                order_type='market',
                side='buy'
            ))
            self.position = 'long'

        elif fast_ma < slow_ma and self.position == 'long':
            # Sell signal
            orders.append(Order(
                symbol='AAPL',
                quantity=10,
                order_type='market',
                side='sell'
            ))
            self.position = None

        return orders

    def on_fill(self, fill):
        self.fills.append(fill)
        print(f"Fill: {fill.order.side} {fill.fill_quantity} @ ${fill.fill_price:.2f}")
