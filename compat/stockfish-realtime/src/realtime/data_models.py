"""``realtime.data_models``: the core's market-data models."""

from __future__ import annotations

from stockfish_core.models import (
    DataType,
    MacroEvent,
    MarketUpdate,
    NewsEvent,
    OHLCVBar,
    OrderBookLevel,
    OrderBookSnapshot,
    PriceTick,
    Trade,
)

__all__ = ["DataType", "MacroEvent", "MarketUpdate", "NewsEvent", "OHLCVBar",
           "OrderBookLevel", "OrderBookSnapshot", "PriceTick", "Trade"]
