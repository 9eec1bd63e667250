"""``realtime.exchange_base_connector``: enums and Order from the core; BaseConnector
only says how a venue is written here (a plugin)."""

from __future__ import annotations

from typing import Any

from stockfish_core import ConnectorStatus, Order, OrderSide, OrderStatus, OrderType

__all__ = [
    "BaseConnector",
    "ConnectorStatus",
    "LegacyConnector",
    "Order",
    "OrderSide",
    "OrderStatus",
    "OrderType",
]

_PLUGIN_GUIDE = (
    "a venue is a plugin here, not a BaseConnector subclass: write a module with hook "
    "implementations (stockfish_plugin_spec, stockfish_connect, stockfish_subscribe, "
    "stockfish_normalize, stockfish_execute) and register it under the entry-point group "
    "'stockfish'; docs/plugin-guide.md walks through it with examples/stockfish-csvfeed, a "
    "complete plugin in one module"
)


class BaseConnector:
    """Not a base class here: subclassing or building one says what to write."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError(f"class {cls.__name__}(BaseConnector): {_PLUGIN_GUIDE}")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"BaseConnector(): {_PLUGIN_GUIDE}")


def _call(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


class LegacyConnector:
    """What an earlier connector class builds: its plugin's name and settings, so that
    every use of it can say exactly what to write instead."""

    stockfish_plugin = ""

    def __init__(self, **settings: Any) -> None:
        self.stockfish_settings = {k: v for k, v in settings.items() if v is not None}

    def _instead(self, what: str) -> str:
        settings = _call(self.stockfish_settings)
        add = f"manager.add_connector({self.stockfish_plugin!r}" + (
            f", {settings})" if settings else ")")
        return (f"{type(self).__name__}.{what}: a connector runs inside an ExchangeManager "
                f"here; write: manager = ExchangeManager(); {add}; manager.start_all(); then "
                f"use the manager (manager.subscribe_price(['SPY']), manager.send_order(order),"
                f" manager.get_stats())")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name.startswith("stockfish_"):
            raise AttributeError(name)
        raise TypeError(self._instead(name))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_call(self.stockfish_settings)})"
