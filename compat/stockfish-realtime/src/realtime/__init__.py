"""The earlier system's ``realtime`` import names, on stockfish-core.

Models, orders, the manager and the failover strategies are the core's own classes.
Connector classes exist only to say what to write instead: a venue is a plugin here,
added to the manager by name (``manager.add_connector("ibkr", primary=True, host=...)``)
or by the YAML (``ExchangeManager.from_config("stockfish.yaml")``).
"""

from __future__ import annotations

from stockfish_core import ConnectorStatus, Order, OrderSide, OrderStatus, OrderType
from stockfish_core.config import FailoverStrategy
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import (
    DataType,
    MacroEvent,
    MarketUpdate,
    NewsEvent,
    OHLCVBar,
    OrderBookLevel,
    OrderBookSnapshot,
    PriceTick,
)

from .exchange_base_connector import BaseConnector

__all__ = [
    "BaseConnector",
    "ConnectorStatus",
    "DataType",
    "ExchangeManager",
    "FailoverStrategy",
    "MacroEvent",
    "MarketUpdate",
    "NewsEvent",
    "OHLCVBar",
    "Order",
    "OrderBookLevel",
    "OrderBookSnapshot",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "PriceTick",
]
