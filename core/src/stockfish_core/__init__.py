"""Trading Stockfish connectors: the core of the plugin framework.

Importing this package loads no plugin: plugins are loaded by name, by
:class:`~stockfish_core.plugins.PluginRegistry`, when a configuration enables them.
"""

from .__about__ import API_VERSION, __version__
from .config import Config, FailoverStrategy, Secret, load_config
from .connector import Capabilities, Connector, PluginSpec, Subscription
from .errors import (
    ConfigError,
    IllegalTransition,
    InvalidOrderError,
    OrderRejected,
    PluginError,
    PluginNotInstalled,
    StockfishError,
    VenueUnavailable,
)
from .manager import ExchangeManager
from .models import (
    ConnectorStatus,
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
from .orders import (
    Fill,
    Order,
    OrderAction,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    TimeInForce,
)
from .plugins import PluginRegistry, hookimpl

__all__ = [
    "API_VERSION",
    "Capabilities",
    "Config",
    "ConfigError",
    "Connector",
    "ConnectorStatus",
    "DataType",
    "ExchangeManager",
    "FailoverStrategy",
    "Fill",
    "IllegalTransition",
    "InvalidOrderError",
    "MacroEvent",
    "MarketUpdate",
    "NewsEvent",
    "OHLCVBar",
    "Order",
    "OrderAction",
    "OrderBookLevel",
    "OrderBookSnapshot",
    "OrderRejected",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "OrderUpdate",
    "PluginError",
    "PluginNotInstalled",
    "PluginRegistry",
    "PluginSpec",
    "Position",
    "PriceTick",
    "Secret",
    "StockfishError",
    "Subscription",
    "TimeInForce",
    "Trade",
    "VenueUnavailable",
    "__version__",
    "hookimpl",
    "load_config",
]
