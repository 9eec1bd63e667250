"""Strategies in the seed's style, run unchanged: ``initialize()``, ``on_data(timestamp,
data) -> list[Order]`` and ``on_fill(fill)``::

    from stockfish_strategy.adapter import Order, OnDataStrategy as Strategy

    class SimpleMovingAverage(Strategy):
        def initialize(self):
            self.fast_period, self.slow_period, self.position = 10, 30, None

        def on_data(self, timestamp, data):
            close = data["Close"]
            ...
            return [Order(symbol="AAPL", quantity=10, order_type="market", side="buy")]

:class:`OnDataAdapter` makes such an object a :class:`~.strategy.Strategy`: on every bar
time (once every symbol has its bar of that time) it calls ``on_data`` with the bars so
far as a DataFrame indexed by time (columns Open, High, Low, Close, Volume for one symbol;
``(field, symbol)`` columns for several), sends the orders it returns, and calls
``on_fill`` with a :class:`SeedFill` (``fill.order.side``, ``fill.fill_quantity``,
``fill.fill_price``, ``fill.commission``, ``fill.timestamp``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from stockfish_core.models import OHLCVBar
from stockfish_core.orders import Fill
from stockfish_core.orders import Order as CoreOrder

from .strategy import Strategy

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OnDataAdapter", "OnDataStrategy", "Order", "SeedFill", "adapt"]


@attrs.define
class Order:
    """An order as the seed's strategies write it."""

    symbol: str
    quantity: float | int | Decimal
    order_type: str = "market"
    side: str = "buy"
    limit_price: float | Decimal | None = None
    stop_price: float | Decimal | None = None


@attrs.define
class SeedFill:
    """A fill as the seed's strategies read it."""

    order: Order
    fill_quantity: Decimal
    fill_price: Decimal
    commission: Decimal
    timestamp: datetime


class OnDataStrategy:
    """Base class of a seed-style strategy (all methods optional)."""

    #: How ``stockfish run --strategy`` runs this class (``module:function``).
    stockfish_runtime = "stockfish_strategy.live:attach"

    def initialize(self) -> None:
        """Called once before the first data."""

    def on_data(self, timestamp: datetime, data: pd.DataFrame) -> list[Order]:
        return []

    def on_fill(self, fill: SeedFill) -> None:
        """One of the strategy's orders filled (in part)."""


class OnDataAdapter(Strategy):
    """Runs a seed-style strategy (see the module docs) as a :class:`Strategy`."""

    def __init__(self, inner: Any, symbols: list[str] | None = None) -> None:
        self.inner = inner
        self.symbols = list(symbols or getattr(inner, "symbols", None) or [])
        self._rows: dict[str, list[tuple[int, float, float, float, float, float]]] = {}
        self._time: int | None = None
        self._seen: set[str] = set()
        self._orders: dict[str, Order] = {}

    def on_start(self) -> None:
        init = getattr(self.inner, "initialize", None)
        if callable(init):
            init()

    def on_bar(self, bar: OHLCVBar) -> None:
        self._rows.setdefault(bar.symbol, []).append(
            (bar.timestamp_ns, bar.open, bar.high, bar.low, bar.close, bar.volume))
        if bar.timestamp_ns != self._time:
            self._time, self._seen = bar.timestamp_ns, set()
        self._seen.add(bar.symbol)
        wanted = set(self.symbols) if self.symbols else set(self._rows)
        if wanted <= self._seen:
            self._step(bar.timestamp_ns)

    def _step(self, ts: int) -> None:
        orders = self.inner.on_data(datetime.fromtimestamp(ts / 1e9, tz=timezone.utc),
                                    self._frame()) or []
        for seed_order in orders:
            quantity = Decimal(str(seed_order.quantity))
            side = str(seed_order.side).lower()
            if side not in ("buy", "sell"):
                raise ValueError(f"order side must be 'buy' or 'sell', got {seed_order.side!r}")
            sent = self.order(seed_order.symbol, quantity if side == "buy" else -quantity,
                              getattr(seed_order, "limit_price", None),
                              stop_price=getattr(seed_order, "stop_price", None))
            if sent.client_order_id is not None:
                self._orders[sent.client_order_id] = seed_order

    def _frame(self) -> pd.DataFrame:
        import pandas as pd

        frames = {}
        for symbol, rows in self._rows.items():
            frame = pd.DataFrame(rows, columns=["time", "Open", "High", "Low", "Close",
                                                "Volume"])
            frame.index = pd.to_datetime(frame.pop("time"), unit="ns", utc=True)
            frames[symbol] = frame
        if len(frames) == 1:
            return next(iter(frames.values()))
        combined = pd.concat(frames, axis=1)  # (symbol, field)
        return combined.swaplevel(axis=1).sort_index(axis=1)  # (field, symbol)

    def on_fill(self, fill: Fill) -> None:
        callback = getattr(self.inner, "on_fill", None)
        if not callable(callback):
            return
        seed_order = self._orders.get(fill.client_order_id) or Order(
            fill.symbol, fill.quantity, side=fill.side.value.lower())
        callback(SeedFill(seed_order, fill.quantity, fill.price, fill.commission,
                          datetime.fromtimestamp(fill.timestamp_ns / 1e9, tz=timezone.utc)))

    def on_order_update(self, order: CoreOrder) -> None:
        callback = getattr(self.inner, "on_order_update", None)
        if callable(callback):
            callback(order)


def adapt(obj: Any, symbols: list[str] | None = None) -> Strategy:
    """A :class:`Strategy` as it is; a seed-style strategy (it has ``on_data``) adapted."""
    if isinstance(obj, Strategy):
        return obj
    if callable(getattr(obj, "on_data", None)):
        return OnDataAdapter(obj, symbols)
    raise TypeError(f"{type(obj).__name__} is not a strategy: subclass "
                    "stockfish_strategy.Strategy, or give it on_data(timestamp, data)")
