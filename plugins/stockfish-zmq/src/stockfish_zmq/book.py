"""A price-level order book maintained from depth snapshots and incremental updates.

Used by the connector (one book per publisher and symbol, with a validity flag for
resynchronisation) and by the publisher (the state its snapshot service answers with).

A level is ``[price, size]`` or ``[price, size, orders]`` on the wire; in an update a
size of 0 removes the level. Each side keeps at most ``max_levels`` levels (the ones
furthest from the top are dropped), so memory is bounded whatever a publisher sends.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Iterable
from typing import Any

from stockfish_core.models import OrderBookLevel, OrderBookSnapshot

__all__ = ["BookError", "OrderBook", "parse_levels"]

_NUMBER = (int, float)


class BookError(ValueError):
    """A depth message that cannot be applied; ``code`` is ``invalid_value``,
    ``wrong_type`` or ``crossed_book``."""

    def __init__(self, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.code = code


def _number(value: Any, what: str) -> float:
    if type(value) not in _NUMBER:
        raise BookError(f"{what} must be a number, got {value!r}"[:200], "wrong_type")
    if not math.isfinite(value) or value < 0:
        raise BookError(f"{what} must be a finite non-negative number, got {value!r}")
    return float(value)


def parse_levels(raw: Any, side: str) -> list[tuple[float, float, int | None]]:
    """Validate the levels of one side: a list of ``[price, size(, orders)]``."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BookError(f"{side} must be a list of [price, size] levels, got "
                        f"{type(raw).__name__}", "wrong_type")
    out: list[tuple[float, float, int | None]] = []
    for level in raw:
        if not isinstance(level, list) or not 2 <= len(level) <= 3:
            raise BookError(f"each {side} level must be [price, size] or [price, size, orders], "
                            f"got {level!r}"[:200], "wrong_type")
        price = _number(level[0], f"{side} price")
        size = _number(level[1], f"{side} size")
        orders: int | None = None
        if len(level) == 3 and level[2] is not None:
            orders = level[2]
            if type(orders) is not int or orders < 0:
                raise BookError(f"{side} orders must be a non-negative integer, got {orders!r}")
        out.append((price, size, orders))
    return out


class _Side:
    """One side: levels by price plus the prices kept sorted ascending."""

    __slots__ = ("descending", "levels", "prices")

    def __init__(self, descending: bool) -> None:
        self.descending = descending
        self.levels: dict[float, OrderBookLevel] = {}
        self.prices: list[float] = []

    def clear(self) -> None:
        self.levels.clear()
        self.prices.clear()

    def set(self, price: float, size: float, orders: int | None) -> None:
        levels = self.levels
        if size == 0.0:
            if levels.pop(price, None) is not None:
                prices = self.prices
                del prices[bisect_left(prices, price)]
            return
        if price not in levels:
            insort(self.prices, price)
        # A new level object each time: emitted snapshots share levels and stay unchanged.
        levels[price] = OrderBookLevel(price, size, orders)

    def trim(self, max_levels: int) -> None:
        excess = len(self.prices) - max_levels
        if excess <= 0:
            return
        prices = self.prices
        if self.descending:  # bids: the lowest prices are the furthest from the top
            dropped, self.prices = prices[:excess], prices[excess:]
        else:
            dropped, self.prices = prices[-excess:], prices[:-excess]
        for price in dropped:
            del self.levels[price]

    def best(self) -> float | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.descending else self.prices[0]

    def top(self, n: int) -> list[OrderBookLevel]:
        levels = self.levels
        if self.descending:
            chosen: Iterable[float] = reversed(self.prices[-n:]) if n > 0 else ()
        else:
            chosen = self.prices[:n] if n > 0 else ()
        return [levels[p] for p in chosen]

    def to_wire(self) -> list[list[Any]]:
        levels = self.levels
        prices = reversed(self.prices) if self.descending else self.prices
        out: list[list[Any]] = []
        for p in prices:
            level = levels[p]
            if level.orders is None:
                out.append([level.price, level.size])
            else:
                out.append([level.price, level.size, level.orders])
        return out


class OrderBook:
    """The book of one symbol from one publisher."""

    __slots__ = ("asks", "bids", "max_levels", "sequence", "symbol")

    def __init__(self, symbol: str, max_levels: int = 1000) -> None:
        self.symbol = symbol
        self.max_levels = max_levels
        self.bids = _Side(descending=True)
        self.asks = _Side(descending=False)
        #: Sequence number of the last message applied (None before any).
        self.sequence: int | None = None

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.sequence = None

    def apply(self, data: dict[str, Any], sequence: int | None) -> None:
        """Apply the ``data`` of a depth message (snapshot when ``data["snapshot"]``).

        Validates everything before changing anything; raises :class:`BookError` for a
        bad level or a book left crossed (then the book must be resynchronised).
        """
        snapshot = data.get("snapshot", False)
        if type(snapshot) is not bool:
            raise BookError(f"snapshot must be true or false, got {snapshot!r}", "wrong_type")
        bids = parse_levels(data.get("bids"), "bids")
        asks = parse_levels(data.get("asks"), "asks")
        if snapshot:
            self.bids.clear()
            self.asks.clear()
        bid_side, ask_side = self.bids, self.asks
        for price, size, orders in bids:
            bid_side.set(price, size, orders)
        for price, size, orders in asks:
            ask_side.set(price, size, orders)
        bid_side.trim(self.max_levels)
        ask_side.trim(self.max_levels)
        self.sequence = sequence
        best_bid, best_ask = bid_side.best(), ask_side.best()
        if best_bid is not None and best_ask is not None and best_bid > best_ask:
            raise BookError(f"book is crossed after this update: best bid {best_bid} > "
                            f"best ask {best_ask}", "crossed_book")

    def snapshot(self, depth: int, timestamp_ns: int) -> OrderBookSnapshot:
        """The top ``depth`` levels of each side as an immutable-by-convention snapshot."""
        return OrderBookSnapshot(self.symbol, self.bids.top(depth), self.asks.top(depth),
                                 self.sequence, timestamp_ns)

    def to_wire(self) -> dict[str, Any]:
        """The whole book as the ``data`` of a depth snapshot message."""
        return {"snapshot": True, "bids": self.bids.to_wire(), "asks": self.asks.to_wire()}

    @property
    def depth(self) -> int:
        return max(len(self.bids.prices), len(self.asks.prices))
