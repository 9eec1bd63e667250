"""Unified market-data models.

Every connector normalizes its venue's messages into these classes, wrapped in a
:class:`MarketUpdate`. Timestamps are integer nanoseconds since the Unix epoch (UTC);
``timestamp`` properties give a :class:`datetime.datetime` for convenience.

Market-data payloads are slotted attrs classes but not frozen: a frozen attrs ``__init__``
costs about three times as much, and these objects are built once per message on the hot
path. Treat them as read-only; the manager never changes one after delivery.
Market-data prices are floats (venues publish them so); order prices and quantities are
Decimals (see :mod:`stockfish_core.orders`).
"""

from __future__ import annotations

import enum
import math
import time
from datetime import datetime, timezone
from typing import Any, Union

import attrs

__all__ = [
    "ConnectorStatus",
    "DataType",
    "MacroEvent",
    "MarketUpdate",
    "NewsEvent",
    "OHLCVBar",
    "OrderBookLevel",
    "OrderBookSnapshot",
    "Payload",
    "PriceTick",
    "Trade",
    "is_valid_price",
    "now_ns",
    "ns_to_datetime",
]

now_ns = time.time_ns


def ns_to_datetime(ns: int) -> datetime:
    """Convert integer nanoseconds since the epoch to an aware UTC datetime."""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


class DataType(str, enum.Enum):
    """What a :class:`MarketUpdate` carries."""

    PRICE_TICK = "price_tick"
    ORDERBOOK_SNAPSHOT = "orderbook_snapshot"
    OHLCV_BAR = "ohlcv_bar"
    TRADE = "trade"
    NEWS = "news"
    MACRO = "macro"
    CUSTOM = "custom"


class ConnectorStatus(str, enum.Enum):
    """Connection state of one connector."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    ERROR = "error"


class _Serializable:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """This object as plain data (str, int, float, None, lists and dicts), as
        :func:`stockfish_core.serialization.to_dict` gives it; ``from_dict`` reverses it."""
        from .serialization import to_dict

        return to_dict(self)  # type: ignore[no-any-return]


class _Timestamped(_Serializable):
    __slots__ = ()
    timestamp_ns: int

    @property
    def timestamp(self) -> datetime:
        """``timestamp_ns`` as an aware UTC datetime."""
        return ns_to_datetime(self.timestamp_ns)


@attrs.define(slots=True)
class PriceTick(_Timestamped):
    """Level 1 quote: best bid and ask, last trade and volumes."""

    symbol: str
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    last_size: float | None = None
    volume: float | None = None
    timestamp_ns: int = 0

    @property
    def mid_price(self) -> float | None:
        """Midpoint of bid and ask, or None while either side is missing."""
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2.0

    @property
    def spread(self) -> float | None:
        """Ask minus bid, or None while either side is missing."""
        if self.bid is None or self.ask is None:
            return None
        return self.ask - self.bid

    @property
    def spread_bps(self) -> float | None:
        """Spread in basis points of the mid price."""
        mid = self.mid_price
        if mid is None or mid <= 0.0:
            return None
        return (self.ask - self.bid) / mid * 10_000.0  # type: ignore[operator]

    @property
    def is_crossed(self) -> bool:
        """True when bid is above ask (a locked quote, bid == ask, is not crossed)."""
        return self.bid is not None and self.ask is not None and self.bid > self.ask


@attrs.define(slots=True)
class OrderBookLevel(_Serializable):
    """One price level of a book."""

    price: float
    size: float
    orders: int | None = None


@attrs.define(slots=True)
class OrderBookSnapshot(_Timestamped):
    """A full order book: bids best (highest) first, asks best (lowest) first."""

    symbol: str
    bids: list[OrderBookLevel] = attrs.Factory(list)
    asks: list[OrderBookLevel] = attrs.Factory(list)
    sequence: int | None = None
    timestamp_ns: int = 0

    @property
    def best_bid(self) -> OrderBookLevel | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> OrderBookLevel | None:
        return self.asks[0] if self.asks else None

    @property
    def mid_price(self) -> float | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2.0

    @property
    def depth(self) -> int:
        """The deeper of the two sides, in levels."""
        return max(len(self.bids), len(self.asks))


@attrs.define(slots=True)
class OHLCVBar(_Timestamped):
    """A candlestick. ``timestamp_ns`` is the bar's start; ``interval`` e.g. ``"1m"``, ``"5s"``."""

    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    interval: str = "1m"
    timestamp_ns: int = 0


@attrs.define(slots=True)
class Trade(_Timestamped):
    """One trade printed by the venue (not one of our fills)."""

    symbol: str
    price: float
    size: float
    side: str | None = None
    trade_id: str | None = None
    timestamp_ns: int = 0


@attrs.define(slots=True)
class NewsEvent(_Timestamped):
    """A news item, with optional sentiment in [-1, 1] and confidence in [0, 1]."""

    title: str
    content: str = ""
    source: str = ""
    symbols: list[str] = attrs.Factory(list)
    sentiment: float | None = None
    confidence: float | None = None
    timestamp_ns: int = 0

    @property
    def symbol(self) -> str:
        """The first instrument the item names, else "news": the key the market-data
        path files it under (its sequence space; a feed's topic for such items)."""
        return self.symbols[0] if self.symbols else "news"


@attrs.define(slots=True)
class MacroEvent(_Timestamped):
    """An economic release. ``importance`` runs from 1 (low) to 3 (high)."""

    event: str
    country: str = ""
    value: float | None = None
    forecast: float | None = None
    previous: float | None = None
    importance: int = 1
    timestamp_ns: int = 0

    @property
    def symbol(self) -> str:
        """Always "macro": a release names no instrument; the key the market-data path
        files it under (its sequence space; a feed's topic for releases)."""
        return "macro"

    @property
    def surprise(self) -> float | None:
        """Actual minus forecast, when both are known."""
        if self.value is None or self.forecast is None:
            return None
        return self.value - self.forecast


Payload = Union[PriceTick, OrderBookSnapshot, OHLCVBar, Trade, NewsEvent, MacroEvent, dict]  # noqa: UP007 - a runtime alias, also on 3.10

#: The payload class each data type carries (CUSTOM carries a plain dict).
PAYLOAD_TYPES: dict[DataType, type] = {
    DataType.PRICE_TICK: PriceTick,
    DataType.ORDERBOOK_SNAPSHOT: OrderBookSnapshot,
    DataType.OHLCV_BAR: OHLCVBar,
    DataType.TRADE: Trade,
    DataType.NEWS: NewsEvent,
    DataType.MACRO: MacroEvent,
    DataType.CUSTOM: dict,
}


@attrs.define(slots=True)
class MarketUpdate(_Serializable):
    """The envelope of every normalized message.

    ``source`` is the connector name; ``stream`` identifies the sequence space inside it
    (a publisher endpoint, a FIX session, a request id) so that sequence numbers are
    tracked per (source, stream, symbol); an update without a symbol (news, macro) is
    tracked under its data type's name. ``session`` is the venue's stream identity when
    it has one (a publisher's run id): a new session is a new stream. The manager does
    the sequence accounting (:mod:`stockfish_core.sequencing`: reorder buffer, gaps,
    duplicates, restarts), so a plugin only sets ``sequence_number`` and ``session``.
    ``venue_ts_ns`` is when the venue stamped the event (0 if it does not),
    ``recv_ts_ns`` when this process received it.
    """

    data_type: DataType
    payload: Any
    source: str = ""
    sequence_number: int | None = None
    venue_ts_ns: int = 0
    recv_ts_ns: int = 0
    stream: str = ""
    session: str | int | None = None

    @property
    def symbol(self) -> str | None:
        """The payload's symbol, if it has one."""
        if isinstance(self.payload, dict):
            sym = self.payload.get("symbol")
            return sym if isinstance(sym, str) else None
        return getattr(self.payload, "symbol", None)

    @property
    def timestamp(self) -> datetime:
        """Venue time if known, else receive time, as an aware UTC datetime."""
        return ns_to_datetime(self.venue_ts_ns or self.recv_ts_ns)

    @property
    def latency_ns(self) -> int | None:
        """Receive time minus venue time, when the venue stamps its messages."""
        if not self.venue_ts_ns or not self.recv_ts_ns:
            return None
        return self.recv_ts_ns - self.venue_ts_ns


def is_valid_price(value: Any) -> bool:
    """A finite, non-negative number (bool is not a number here)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )
