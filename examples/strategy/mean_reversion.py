"""A strategy-side subscriber: fade moves away from a moving average of the mid price.

    stockfish run --strategy examples/strategy/mean_reversion.py:MeanReversion

Callbacks run on the manager's event loop: keep them short, never block. Sending an
order from a callback is fine: send_order journals it, routes it and returns at once.
"""

from __future__ import annotations

from collections import deque

from stockfish_core import ExchangeManager, Fill, MarketUpdate, Order, OrderRejected


class MeanReversion:
    def __init__(self, manager: ExchangeManager, symbol: str = "SPY", window: int = 50,
                 threshold_bps: float = 2.0, max_position: int = 5) -> None:
        self.manager = manager
        self.symbol = symbol
        self.mids: deque[float] = deque(maxlen=window)
        self.threshold = threshold_bps / 10_000
        self.max_position = max_position
        self.position = 0
        self.working: str | None = None  # one order at a time

    def on_price_tick(self, update: MarketUpdate) -> None:
        tick = update.payload
        if tick.symbol != self.symbol or tick.mid_price is None:
            return
        self.mids.append(tick.mid_price)
        if len(self.mids) < self.mids.maxlen or self.working is not None:  # type: ignore[operator]
            return
        average = sum(self.mids) / len(self.mids)
        deviation = (tick.mid_price - average) / average
        if deviation > self.threshold and self.position > -self.max_position:
            self._send("SELL")
        elif deviation < -self.threshold and self.position < self.max_position:
            self._send("BUY")

    def _send(self, side: str) -> None:
        try:
            self.working = self.manager.send_order(Order(self.symbol, side, 1))
        except OrderRejected as exc:  # a risk limit or no venue: skip this signal
            print(f"not sent: {exc.reason}")

    def on_fill(self, fill: Fill, order: Order) -> None:
        self.position += int(fill.quantity) * fill.side.sign

    def on_order_update(self, order: Order) -> None:
        if order.client_order_id == self.working and order.is_final:
            self.working = None
