"""Market data: MarketDataSnapshotFullRefresh (W) and MarketDataIncrementalRefresh (X)
kept as books, normalized to OrderBookSnapshot, PriceTick and Trade.

Every subscription has its own MDReqID (262) and its own book (the core's
:class:`~stockfish_core.plugin_api.L2Book`): W replaces it, X entries add (279=0),
change (1) or delete (2) an entry, found by MDEntryID (278) when the venue sends one,
else by price; entries at one price add up to its level, and a level of size 0 is none.
Trade entries (269=2) of X become Trades; the last one is also the PriceTick's ``last``.
A message's ``sequence_number`` is its RptSeq (83) when the venue sends one; ``stream`` is
the MDReqID; ``venue_ts_ns`` its SendingTime (52).

The raw messages fed to the core are ``(recv_ts_ns, fix_string)`` pairs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import attrs

from stockfish_core.plugin_api import (
    Connector,
    DataType,
    L2Book,
    MarketUpdate,
    PriceTick,
    Subscription,
    Trade,
)

from .messages import fields, utc_timestamp_ns

__all__ = ["MarketData", "MdSubscription"]

_BID, _OFFER, _TRADE = "0", "1", "2"
#: Tags read inside an MDEntries group; anything else in an entry is ignored.
_ENTRY_TAGS = frozenset({"269", "270", "271", "278", "279", "55", "83", "1003", "346"})


@attrs.define(slots=True, eq=False)
class MdSubscription:
    """One market-data subscription: its MDReqID, its book and its last trade."""

    md_req_id: str
    subscription: Subscription
    depth: int
    #: The price levels of the subscription's symbol.
    book: L2Book = attrs.field(init=False)
    #: Each entry of the book, by side (True: bids) and MDEntryID (or price text): its price.
    entries: dict[tuple[bool, str], float] = attrs.Factory(dict)
    #: The sizes of the entries at each price of a side, which add up to its level.
    at_price: dict[tuple[bool, float], dict[str, float]] = attrs.Factory(dict)
    last: float | None = None
    last_size: float | None = None
    volume: float = 0.0

    def __attrs_post_init__(self) -> None:
        self.book = L2Book(self.subscription.symbol)

    @property
    def symbol(self) -> str:
        return self.subscription.symbol

    def clear_book(self) -> None:
        self.book.clear()
        self.entries.clear()
        self.at_price.clear()

    def put(self, bid: bool, key: str, price: float, size: float) -> None:
        """Add or change the entry ``key`` of a side."""
        old = self.entries.get((bid, key))
        if old is not None and old != price:
            self._drop(bid, key, old)
        self.entries[(bid, key)] = price
        self.at_price.setdefault((bid, price), {})[key] = size
        self._level(bid, price)

    def delete(self, bid: bool, key: str) -> None:
        price = self.entries.pop((bid, key), None)
        if price is not None:
            self._drop(bid, key, price)

    def price_of(self, bid: bool, key: str) -> float | None:
        return self.entries.get((bid, key))

    def _drop(self, bid: bool, key: str, price: float) -> None:
        sizes = self.at_price.get((bid, price))
        if sizes is not None:
            sizes.pop(key, None)
            if not sizes:
                del self.at_price[(bid, price)]
        self._level(bid, price)

    def _level(self, bid: bool, price: float) -> None:
        sizes = self.at_price.get((bid, price))
        self.book.set_level(bid, price, sum(sizes.values()) if sizes else 0.0)


@attrs.define(slots=True, eq=False)
class _Touched:
    """What one X did to one subscription."""

    sub: MdSubscription
    trades: list[tuple[Trade, int | None]] = attrs.Factory(list)
    seq: int | None = None


def _entries(items: list[tuple[str, str]]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Top-level fields and the NoMDEntries (268) group of a W or X."""
    top: dict[str, str] = {}
    entries: list[dict[str, str]] = []
    it: Iterator[tuple[str, str]] = iter(items)
    for tag, value in it:
        if tag == "268":
            break
        top[tag] = value
    delimiter: str | None = None
    current: dict[str, str] = {}
    for tag, value in it:
        if tag == "10":
            break
        if delimiter is None:
            delimiter = tag
        if tag == delimiter:
            current = {}
            entries.append(current)
        if tag in _ENTRY_TAGS:
            current[tag] = value
    return top, entries


class MarketData:
    """The connector's market-data subscriptions and their books."""

    def __init__(self, connector_name: str) -> None:
        self.connector_name = connector_name
        self.by_req_id: dict[str, MdSubscription] = {}
        self.by_subscription: dict[Subscription, MdSubscription] = {}
        self._ids = itertools.count(1)

    def add(self, subscription: Subscription, depth: int) -> tuple[MdSubscription, bool]:
        """The subscription's state, and whether it is new."""
        existing = self.by_subscription.get(subscription)
        if existing is not None:
            return existing, False
        md_req_id = f"{self.connector_name}-md{next(self._ids)}"
        sub = MdSubscription(md_req_id, subscription, depth)
        self.by_req_id[md_req_id] = sub
        self.by_subscription[subscription] = sub
        return sub, True

    def remove(self, subscription: Subscription) -> MdSubscription | None:
        sub = self.by_subscription.pop(subscription, None)
        if sub is not None:
            self.by_req_id.pop(sub.md_req_id, None)
        return sub

    def drop(self, md_req_id: str) -> MdSubscription | None:
        sub = self.by_req_id.pop(md_req_id, None)
        if sub is not None:
            self.by_subscription.pop(sub.subscription, None)
        return sub

    def clear(self) -> None:
        self.by_req_id.clear()
        self.by_subscription.clear()

    # -- normalization -----------------------------------------------------------------
    def normalize(self, connector: Connector, messages: list[Any]) -> list[MarketUpdate]:
        out: list[MarketUpdate] = []
        for item in messages:
            try:
                recv_ns, raw = item
                self._one(connector, recv_ns, raw, out)
            except (ValueError, TypeError, KeyError) as exc:
                connector.report_error(f"unreadable market data message: {exc}: {item!r:.200}",
                                       data=True)
        return out

    def _one(self, connector: Connector, recv_ns: int, raw: str,
             out: list[MarketUpdate]) -> None:
        top, entries = _entries(fields(raw))
        msg_type = top.get("35")
        venue_ns = utc_timestamp_ns(top.get("52"))
        md_req_id = top.get("262")
        if msg_type == "W":
            sub = self.by_req_id.get(md_req_id or "") or self._by_symbol(top.get("55"))
            if sub is None:
                return
            sub.clear_book()
            seq = _int(top.get("83"))
            for entry in entries:
                kind = entry.get("269", "")
                seq = _int(entry.get("83")) or seq
                price = float(entry["270"]) if "270" in entry else None
                size = float(entry.get("271") or 0.0)
                if kind in (_BID, _OFFER) and price is not None:
                    sub.put(kind == _BID, entry.get("278") or entry["270"], price, size)
                elif kind == _TRADE and price is not None:
                    sub.last, sub.last_size = price, size
            self._emit(sub, None, seq, venue_ns, recv_ns, out)
            return
        if msg_type != "X":
            return
        touched: dict[str, _Touched] = {}
        for entry in entries:
            seq = _int(entry.get("83"))
            for sub in self._targets(md_req_id, entry.get("55")):
                state = touched.get(sub.md_req_id)
                if state is None:
                    state = touched[sub.md_req_id] = _Touched(sub)
                if seq is not None:
                    state.seq = seq
                trade = self._apply(sub, entry, venue_ns)
                if trade is not None:
                    state.trades.append((trade, seq))
        for state in touched.values():
            self._emit(state.sub, state.trades, state.seq, venue_ns, recv_ns, out)

    def _targets(self, md_req_id: str | None, symbol: str | None) -> list[MdSubscription]:
        if md_req_id:
            sub = self.by_req_id.get(md_req_id)
            return [sub] if sub is not None else []
        return [s for s in self.by_req_id.values() if s.symbol == symbol]

    def _by_symbol(self, symbol: str | None) -> MdSubscription | None:
        for sub in self.by_req_id.values():
            if sub.symbol == symbol:
                return sub
        return None

    @staticmethod
    def _apply(sub: MdSubscription, entry: dict[str, str], venue_ns: int) -> Trade | None:
        """Apply one X entry to the book; a trade entry is returned as a Trade."""
        kind = entry.get("269", "")
        action = entry.get("279", "0")
        if kind == _TRADE:
            if action == "2" or "270" not in entry:
                return None
            price, size = float(entry["270"]), float(entry.get("271") or 0.0)
            sub.last, sub.last_size = price, size
            sub.volume += size
            return Trade(sub.symbol, price, size, trade_id=entry.get("1003") or entry.get("278"),
                         timestamp_ns=venue_ns)
        if kind not in (_BID, _OFFER):
            return None
        bid = kind == _BID
        key = entry.get("278") or entry.get("270")
        if key is None:
            raise ValueError(f"X entry without MDEntryID or price for {sub.symbol}")
        if action == "2":
            sub.delete(bid, key)
            return None
        known = float(entry["270"]) if "270" in entry else sub.price_of(bid, key)
        if known is None:
            raise ValueError(f"X entry changes {key!r} of {sub.symbol}, which the book lacks")
        sub.put(bid, key, known, float(entry.get("271") or 0.0))
        return None

    def _emit(self, sub: MdSubscription, trades: list[tuple[Trade, int | None]] | None,
              seq: int | None,
              venue_ns: int, recv_ns: int, out: list[MarketUpdate]) -> None:
        data_type = sub.subscription.data_type
        source = self.connector_name
        stream = sub.md_req_id
        book = sub.book
        if data_type is DataType.ORDERBOOK_SNAPSHOT:
            book.sequence = seq
            snap = book.snapshot(sub.depth, venue_ns)
            out.append(MarketUpdate(data_type, snap, source, seq, venue_ns, recv_ns, stream))
        elif data_type is DataType.PRICE_TICK:
            bid, ask = book.best_bid(), book.best_ask()
            tick = PriceTick(
                sub.symbol,
                bid.price if bid else None, ask.price if ask else None, sub.last,
                bid.size if bid else None, ask.size if ask else None, sub.last_size,
                sub.volume or None, venue_ns,
            )
            out.append(MarketUpdate(data_type, tick, source, seq, venue_ns, recv_ns, stream))
        elif data_type is DataType.TRADE and trades:
            for trade, trade_seq in trades:
                out.append(MarketUpdate(data_type, trade, source, trade_seq, venue_ns, recv_ns,
                                        stream))


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None
