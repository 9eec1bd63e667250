"""Trading Stockfish connector for ZeroMQ pub/sub market-data feeds."""

__version__ = "0.1.0"
