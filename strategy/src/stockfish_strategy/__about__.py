"""Version of stockfish-strategy."""

__version__ = "0.1.0"
