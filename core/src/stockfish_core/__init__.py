"""Trading Stockfish connectors: the core of the plugin framework.

Importing this package loads no plugin: plugins are loaded by name, by
:class:`~stockfish_core.plugins.PluginRegistry`, when a configuration enables them. It
stays light for plugins, which import from it: the manager and the configuration loader
(asyncio, cattrs, PyYAML) load on first use of their names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .__about__ import API_VERSION, __version__
from .accounts import AccountValues, Instrument, ReconciliationReport, VenuePosition
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
from .secret import Secret

if TYPE_CHECKING:
    from .config import Config, FailoverStrategy, load_config
    from .manager import ExchangeManager

_LAZY = {
    "Config": "config",
    "FailoverStrategy": "config",
    "load_config": "config",
    "ExchangeManager": "manager",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stockfish_core' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value

__all__ = [
    "API_VERSION",
    "AccountValues",
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
    "Instrument",
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
    "ReconciliationReport",
    "Secret",
    "StockfishError",
    "Subscription",
    "TimeInForce",
    "Trade",
    "VenuePosition",
    "VenueUnavailable",
    "__version__",
    "hookimpl",
    "load_config",
]
