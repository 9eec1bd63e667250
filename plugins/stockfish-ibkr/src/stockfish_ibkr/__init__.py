"""Trading Stockfish connector for Interactive Brokers TWS and IB Gateway, on ib_insync."""

__version__ = "0.1.0"
