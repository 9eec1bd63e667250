"""Trading Stockfish connector for FIX 4.2, 4.4 and 5.0SP2 counterparties, on QuickFIX."""

__version__ = "0.1.0"
