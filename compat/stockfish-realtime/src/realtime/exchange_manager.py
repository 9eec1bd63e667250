"""``realtime.exchange_manager``: the core's ExchangeManager."""

from __future__ import annotations

from stockfish_core.config import FailoverStrategy
from stockfish_core.manager import ExchangeManager

__all__ = ["ExchangeManager", "FailoverStrategy"]
