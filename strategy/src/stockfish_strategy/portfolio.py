"""The portfolio of a strategy: cash, positions with their average cost, realized and
unrealized profit and loss marked to the latest price, commissions; the buying-power rule
checked before an order leaves. Every amount is an exact Decimal.

Fills change cash by their value plus or minus their commission; a fill that reduces a
position realizes ``(price - average cost) * quantity`` (sign by side), one that adds to it
moves the average cost; one that goes through zero does both. Short positions are allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from stockfish_core.orders import Fill, Order, OrderSide, OrderType, to_decimal

__all__ = ["DecimalCache", "Portfolio", "PositionState"]

_ZERO = Decimal(0)


class DecimalCache:
    """``to_decimal`` of the floats a feed repeats (prices, sizes), each converted once.

    Only floats are kept (``1.0`` and ``1`` give different Decimals); at ``limit``
    entries the cache starts again empty, so memory stays bounded."""

    __slots__ = ("_values", "limit")

    def __init__(self, limit: int = 65_536) -> None:
        self._values: dict[float, Decimal] = {}
        self.limit = limit

    def __call__(self, value: Any, field: str = "value") -> Decimal:
        if type(value) is not float:
            return to_decimal(value, field=field)
        cached = self._values.get(value)
        if cached is None:
            cached = to_decimal(value, field=field)  # raises for nan and inf: not kept
            if len(self._values) >= self.limit:
                self._values.clear()
            self._values[value] = cached
        return cached


@attrs.define(slots=True)
class PositionState:
    """One symbol's holding: signed quantity, average cost, what it realized and paid."""

    symbol: str
    quantity: Decimal = _ZERO
    avg_cost: Decimal = _ZERO
    realized_pnl: Decimal = _ZERO
    commission: Decimal = _ZERO
    last_price: Decimal | None = None

    @property
    def market_value(self) -> Decimal:
        """Quantity times the latest price (the average cost before any price is known)."""
        price = self.last_price if self.last_price is not None else self.avg_cost
        return self.quantity * price

    @property
    def unrealized_pnl(self) -> Decimal:
        if self.last_price is None or not self.quantity:
            return _ZERO
        return (self.last_price - self.avg_cost) * self.quantity


class Portfolio:
    """Cash and positions of one strategy, from its fills; see the module docs."""

    def __init__(self, cash: Decimal | int | str = Decimal(100_000)) -> None:
        self.initial_cash = to_decimal(cash, field="capital")
        if self.initial_cash <= 0:
            raise ValueError(f"capital must be positive, got {self.initial_cash}")
        self.cash = self.initial_cash
        self.positions: dict[str, PositionState] = {}
        self.commissions = _ZERO
        #: Value traded (sum of |quantity * price| of every fill).
        self.traded_value = _ZERO
        self.fill_count = 0

    # -- changes ---------------------------------------------------------------------
    def mark(self, symbol: str, price: Decimal | float) -> None:
        """The latest price of ``symbol`` (for unrealized PnL and equity)."""
        position = self.positions.get(symbol)
        if position is None:
            position = self.positions[symbol] = PositionState(symbol)
        position.last_price = price if isinstance(price, Decimal) else to_decimal(price)

    def apply(self, fill: Fill) -> Decimal:
        """Book a fill; returns the PnL it realized (before commission)."""
        qty = fill.quantity if fill.side is OrderSide.BUY else -fill.quantity
        price = fill.price
        position = self.positions.get(fill.symbol)
        if position is None:
            position = self.positions[fill.symbol] = PositionState(fill.symbol)
        realized = _ZERO
        held = position.quantity
        if held and (held > 0) != (qty > 0):  # reduces (perhaps through zero)
            closed = min(abs(held), abs(qty))
            realized = (price - position.avg_cost) * closed * (1 if held > 0 else -1)
            remaining = held + qty
            if remaining == 0:
                position.avg_cost = _ZERO
            elif (remaining > 0) != (held > 0):  # went through zero: the rest is new
                position.avg_cost = price
            position.quantity = remaining
        else:
            total = held + qty
            position.avg_cost = (position.avg_cost * abs(held) + price * abs(qty)) / abs(total)
            position.quantity = total
        position.realized_pnl += realized
        position.commission += fill.commission
        position.last_price = price if position.last_price is None else position.last_price
        self.cash -= qty * price + fill.commission
        self.commissions += fill.commission
        self.traded_value += abs(qty * price)
        self.fill_count += 1
        return realized

    # -- figures ---------------------------------------------------------------------
    @property
    def equity(self) -> Decimal:
        """Cash plus the market value of every position."""
        return self.cash + sum((p.market_value for p in self.positions.values()), _ZERO)

    @property
    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self.positions.values()), _ZERO)

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((p.unrealized_pnl for p in self.positions.values()), _ZERO)

    def quantity(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        return _ZERO if position is None else position.quantity

    def holdings(self) -> dict[str, Decimal]:
        """Non-zero positions: symbol -> signed quantity."""
        return {s: p.quantity for s, p in sorted(self.positions.items()) if p.quantity}

    # -- the buying-power rule -------------------------------------------------------
    def check_buying_power(self, order: Order, price: Decimal | None,
                           open_orders: Iterable[Order] = ()) -> str | None:
        """Why ``order`` may not leave (None: it may). What it would add to a position's
        size, valued at its limit price (else ``price``, the latest), plus what the open
        orders already commit, must not exceed the cash."""
        reference = order.price if order.order_type in (
            OrderType.LIMIT, OrderType.STOP_LIMIT) else price
        if reference is None and order.stop_price is not None:
            reference = order.stop_price
        if reference is None:
            return f"buying power: no price for {order.symbol} yet to value the order"
        opening = self._opening(order.symbol, order.side, order.quantity)
        if not opening:
            return None
        committed = _ZERO
        for other in open_orders:
            other_ref = other.price if other.price is not None else (
                self.positions[other.symbol].last_price
                if other.symbol in self.positions else None)
            if other_ref is not None:
                left = other.quantity - other.filled_quantity
                committed += self._opening(other.symbol, other.side, left) * other_ref
        needed = opening * reference
        available = self.cash - committed
        if needed > available:
            return (f"buying power: {order.side.value} {order.quantity} {order.symbol} needs "
                    f"{needed:.2f} but {max(available, _ZERO):.2f} is available "
                    f"(cash {self.cash:.2f}, committed to open orders {committed:.2f})")
        return None

    def _opening(self, symbol: str, side: OrderSide, quantity: Decimal) -> Decimal:
        """How much of an order of ``quantity`` would open or add to a position."""
        held = self.quantity(symbol)
        signed = quantity if side is OrderSide.BUY else -quantity
        if not held or (held > 0) == (signed > 0):
            return abs(signed)
        return max(abs(signed) - abs(held), _ZERO)
