"""The L2 (price-level) order book plugins maintain from depth snapshots and incremental
updates: one implementation for every plugin, from :mod:`stockfish_core.plugin_api`.

The zmq connector keeps one per publisher and symbol (with a validity flag for
resynchronisation) and its publisher the state its snapshot service answers with; the
FIX connector one per market-data subscription.

A level is ``[price, size]`` or ``[price, size, orders]`` on the wire; in an update a
size of 0 removes the level. Each side keeps at most ``max_levels`` levels (the ones
furthest from the top are dropped), so memory is bounded whatever a publisher sends.
"""

from __future__ import annotations

import heapq
import reprlib
from bisect import bisect_left, insort
from collections.abc import Iterable
from operator import itemgetter
from sys import float_info
from typing import Any

from .models import OrderBookLevel, OrderBookSnapshot

__all__ = ["BookError", "L2Book", "Levels", "parse_columns", "parse_levels"]

_NUMBER = (int, float)
_NUMBER_TYPES = frozenset(_NUMBER)
_ORDERS_TYPES = frozenset((int, type(None)))
_INF = float("inf")
_FIRST, _SECOND = itemgetter(0), itemgetter(1)
_LIST_LEN = list.__len__
#: Updates with more levels than this are applied in bulk (select, then sort once)
#: instead of one sorted insertion per level.
_BULK = 32

#: One side of a depth message, validated: prices, sizes (floats) and orders (or None
#: when no level has a third element), in the order of the message.
Levels = tuple[list[float], list[float], "list[int | None] | None"]
_NO_LEVELS: Levels = ([], [], None)

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlong = 40


def show(value: Any, limit: int = 40) -> str:
    """A short ``repr`` of any decoded value, safe for a poison message: bounded depth,
    bounded length, huge integers shortened."""
    kind = type(value)
    if kind is int and not -10**30 < value < 10**30:
        text = f"<an integer of {value.bit_length()} bits>"
    elif kind is str or kind is bytes:
        text = repr(value[:limit])
    else:
        try:
            text = _REPR.repr(value)
        except Exception:  # noqa: BLE001 - a description must never fail
            text = f"<{kind.__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


class BookError(ValueError):
    """A depth message that cannot be applied; ``code`` is ``invalid_value``,
    ``wrong_type`` or ``crossed_book``."""

    def __init__(self, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.code = code


def _level_error(side: str, level: Any) -> BookError:
    return BookError(f"each {side} level must be [price, size] or [price, size, orders], "
                     f"got {show(level)}", "wrong_type")


def _column(values: list[Any], what: str) -> list[float]:
    """Check a column of numbers with a few passes in C; find the culprit only when one
    fails. Every number must be finite (an integer too) and non-negative. Integers stay
    integers here (equal to their float as dict keys); levels that are kept convert."""
    types = set(map(type, values))
    if not types <= _NUMBER_TYPES:
        bad = next(v for v in values if type(v) not in _NUMBER_TYPES)
        raise BookError(f"{what} must be a number, got {show(bad)}", "wrong_type")
    try:
        total = sum(values)  # an integer beyond a float's range with floats: OverflowError
        finite = total - total == 0 and min(values) >= 0 and \
            (int not in types or max(values) <= float_info.max)
    except OverflowError:
        finite = False
    if not finite:
        # NaN, an infinity, a negative or huge number (or only a sum too large: all pass)
        bad = next((v for v in values if not 0 <= v <= float_info.max), None)
        if bad is not None:
            raise BookError(f"{what} must be a finite non-negative number, got {show(bad)}")
    return values  # type: ignore[return-value]


def parse_columns(raw: Any, side: str) -> Levels:
    """Validate the levels of one side, a list of ``[price, size(, orders)]``, in a few
    passes in C whatever their number (the culprit of a failure is looked for then)."""
    if raw is None:
        return _NO_LEVELS
    if type(raw) is not list:
        raise BookError(f"{side} must be a list of [price, size] levels, got "
                        f"{type(raw).__name__}", "wrong_type")
    if not raw:
        return _NO_LEVELS
    try:
        lengths = set(map(_LIST_LEN, raw))  # one pass: each a list (TypeError if not)
    except TypeError:
        raise _level_error(side, next(lv for lv in raw if type(lv) is not list)) from None
    if not lengths <= {2, 3}:
        raise _level_error(side, next(lv for lv in raw if not 2 <= len(lv) <= 3))
    prices = _column(list(map(_FIRST, raw)), f"{side} price")
    sizes = _column(list(map(_SECOND, raw)), f"{side} size")
    orders: list[int | None] | None = None
    if 3 in lengths:
        orders = [lv[2] if len(lv) == 3 else None for lv in raw]
        if not set(map(type, orders)) <= _ORDERS_TYPES or \
                min((o for o in orders if o is not None), default=0) < 0:
            bad = next(o for o in orders if o is not None and (type(o) is not int or o < 0))
            raise BookError(f"{side} orders must be a non-negative integer, got {show(bad)}")
    return prices, sizes, orders


def parse_levels(raw: Any, side: str) -> list[tuple[float, float, int | None]]:
    """Validate the levels of one side: a list of ``[price, size(, orders)]``."""
    prices, sizes, orders = parse_columns(raw, side)
    return list(zip(map(float, prices), map(float, sizes),
                    orders if orders is not None else [None] * len(prices), strict=True))


class _Side:
    """One side: levels by price plus the prices kept sorted ascending."""

    __slots__ = ("descending", "levels", "prices")

    def __init__(self, descending: bool) -> None:
        self.descending = descending
        self.levels: dict[float, OrderBookLevel] = {}
        self.prices: list[float] = []

    def clear(self) -> None:
        self.levels = {}
        self.prices = []

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

    def apply(self, levels: Levels, max_levels: int, replace: bool) -> None:
        """Apply one side of a message: small updates level by level, a snapshot or a
        large update in bulk, in O(n log k): the best ``max_levels`` prices are selected
        first and only they are sorted and made into levels."""
        prices, sizes, orders = levels
        if not replace and len(prices) <= _BULK:
            for i, price in enumerate(prices):
                self.set(float(price), float(sizes[i]), None if orders is None else orders[i])
            self.trim(max_levels)
            return
        last = dict(zip(prices, range(len(prices)), strict=True))  # repeated: the last wins
        old = {} if replace else self.levels
        candidates = [p for p in old if p not in last] if old else []
        if 0.0 in sizes:
            candidates += [p for p, i in last.items() if sizes[i] != 0.0]
        else:
            candidates += last
        if len(candidates) > max_levels:
            pick = heapq.nlargest if self.descending else heapq.nsmallest
            candidates = pick(max_levels, candidates)
        candidates.sort()
        kept: dict[float, OrderBookLevel] = {}
        for price in candidates:
            index = last.get(price)
            kept[float(price)] = old[price] if index is None else OrderBookLevel(
                float(price), float(sizes[index]), None if orders is None else orders[index])
        self.levels = kept
        self.prices = list(kept)

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


class L2Book:
    """The price-level book of one symbol (of one publisher or subscription)."""

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
            raise BookError(f"snapshot must be true or false, got {show(snapshot)}",
                            "wrong_type")
        bids = parse_columns(data.get("bids"), "bids")
        asks = parse_columns(data.get("asks"), "asks")
        bid_side, ask_side = self.bids, self.asks
        bid_side.apply(bids, self.max_levels, snapshot)
        ask_side.apply(asks, self.max_levels, snapshot)
        self.sequence = sequence
        best_bid, best_ask = bid_side.best(), ask_side.best()
        if best_bid is not None and best_ask is not None and best_bid > best_ask:
            raise BookError(f"book is crossed after this update: best bid {best_bid} > "
                            f"best ask {best_ask}", "crossed_book")

    def set_level(self, bid: bool, price: float, size: float, orders: int | None = None) -> None:
        """Set the level at ``price`` of the bids (``bid``) or the asks; a ``size`` of 0
        removes it. The side keeps its ``max_levels`` levels nearest the top."""
        side = self.bids if bid else self.asks
        side.set(float(price), float(size), orders)
        side.trim(self.max_levels)

    def best_bid(self) -> OrderBookLevel | None:
        """The highest bid, or None."""
        price = self.bids.best()
        return None if price is None else self.bids.levels[price]

    def best_ask(self) -> OrderBookLevel | None:
        """The lowest ask, or None."""
        price = self.asks.best()
        return None if price is None else self.asks.levels[price]

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
