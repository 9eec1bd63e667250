"""Trading Stockfish connectors: the core of the plugin framework.

Importing this package loads no plugin: plugins are loaded by name, by
:class:`~stockfish_core.plugins.PluginRegistry`, when a configuration enables them. It
stays light for plugins, which import from it, and for ``stockfish plugins``: every
public name is imported on first use (the manager and the configuration loader bring
asyncio, cattrs and PyYAML).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .__about__ import API_VERSION, __version__

if TYPE_CHECKING:
    from .accounts import AccountValues, Instrument, ReconciliationReport, VenuePosition
    from .config import Config, FailoverStrategy, load_config
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
        Execution,
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

#: Every public name and the module it comes from, imported on first use: `stockfish
#: plugins` (which imports this package) then costs little more than reading the
#: installed distributions' metadata.
_LAZY = {
    **dict.fromkeys(("AccountValues", "Instrument", "ReconciliationReport", "VenuePosition"),
                    "accounts"),
    **dict.fromkeys(("Config", "FailoverStrategy", "load_config"), "config"),
    **dict.fromkeys(("Capabilities", "Connector", "PluginSpec", "Subscription"), "connector"),
    **dict.fromkeys(("ConfigError", "IllegalTransition", "InvalidOrderError", "OrderRejected",
                     "PluginError", "PluginNotInstalled", "StockfishError",
                     "VenueUnavailable"), "errors"),
    "ExchangeManager": "manager",
    **dict.fromkeys(("ConnectorStatus", "DataType", "MacroEvent", "MarketUpdate", "NewsEvent",
                     "OHLCVBar", "OrderBookLevel", "OrderBookSnapshot", "PriceTick",
                     "Trade"), "models"),
    **dict.fromkeys(("Execution", "Fill", "Order", "OrderAction", "OrderRequest", "OrderSide",
                     "OrderStatus", "OrderType", "OrderUpdate", "Position", "TimeInForce"),
                    "orders"),
    **dict.fromkeys(("PluginRegistry", "hookimpl"), "plugins"),
    "Secret": "secret",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stockfish_core' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
    "Execution",
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
