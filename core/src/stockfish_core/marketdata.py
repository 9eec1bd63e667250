"""The market-data path inside the manager: sequence checks, the preferred feed per
symbol, the latest-value caches and delivery to subscribers.

Runs on the manager's loop; :meth:`MarketDataHub.process` is the hot path and is called
once per batch a connector feeds.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .models import DataType, MarketUpdate, OHLCVBar, OrderBookSnapshot, PriceTick, Trade
from .stats import ConnectorStats

__all__ = ["SUBSCRIBER_METHODS", "MarketDataHub"]

log = logging.getLogger("stockfish.marketdata")

#: Subscriber method called for each data type (all receive the MarketUpdate).
SUBSCRIBER_METHODS: dict[DataType, str] = {
    DataType.PRICE_TICK: "on_price_tick",
    DataType.ORDERBOOK_SNAPSHOT: "on_orderbook",
    DataType.OHLCV_BAR: "on_bar",
    DataType.TRADE: "on_trade",
    DataType.NEWS: "on_news",
    DataType.MACRO: "on_macro",
    DataType.CUSTOM: "on_custom",
}

#: A sequence number this far below the last one seen is a restarted source, not a
#: late message.
SEQUENCE_RESET_DISTANCE = 1000

Handler = Callable[[MarketUpdate], Any]
FeedKey = tuple[str, DataType]


class MarketDataHub:
    def __init__(self, staleness_ns: int, bar_cache_size: int = 500) -> None:
        self.staleness_ns = staleness_ns
        self.bar_cache_size = bar_cache_size
        self.handlers: dict[DataType, list[Handler]] = {t: [] for t in DataType}
        self.on_any: list[Handler] = []
        self.latest_ticks: dict[str, PriceTick] = {}
        self.latest_trades: dict[str, Trade] = {}
        self.books: dict[str, OrderBookSnapshot] = {}
        self.bars: dict[tuple[str, str], collections.deque[OHLCVBar]] = {}
        self._sequences: dict[tuple[str, str, str | None], int] = {}
        #: Connectors serving each (symbol, type), most preferred first.
        self.feeds: dict[FeedKey, list[str]] = {}
        self.active: dict[FeedKey, str] = {}
        self.last_seen: dict[tuple[str, str, DataType], int] = {}
        self.stale: set[tuple[str, str, DataType]] = set()
        self.subscriber_errors = 0
        self._last_error_log = 0.0
        self.on_switch: Callable[[FeedKey, str | None, str], None] | None = None

    # -- subscribers ---------------------------------------------------------------
    def add_subscriber(self, subscriber: object) -> list[str]:
        """Register every ``on_<type>`` method the object has; returns their names."""
        found = []
        for data_type, method in SUBSCRIBER_METHODS.items():
            fn = getattr(subscriber, method, None)
            if callable(fn):
                self.handlers[data_type].append(fn)
                found.append(method)
        fn = getattr(subscriber, "on_update", None)
        if callable(fn):
            self.on_any.append(fn)
            found.append("on_update")
        return found

    def remove_subscriber(self, subscriber: object) -> None:
        def keep(handlers: list[Handler]) -> list[Handler]:
            return [h for h in handlers if getattr(h, "__self__", None) is not subscriber]

        for data_type in DataType:
            self.handlers[data_type] = keep(self.handlers[data_type])
        self.on_any = keep(self.on_any)

    # -- feeds ---------------------------------------------------------------------
    def add_feed(self, key: FeedKey, connector: str, rank: Callable[[str], Any]) -> None:
        feeds = self.feeds.setdefault(key, [])
        if connector not in feeds:
            feeds.append(connector)
            feeds.sort(key=rank)
        if key not in self.active:
            self.active[key] = feeds[0]

    def remove_feed(self, key: FeedKey, connector: str) -> None:
        feeds = self.feeds.get(key)
        if not feeds or connector not in feeds:
            return
        feeds.remove(connector)
        if not feeds:
            del self.feeds[key]
            self.active.pop(key, None)
        elif self.active.get(key) == connector:
            self._switch(key, feeds[0])

    def _switch(self, key: FeedKey, connector: str) -> None:
        previous = self.active.get(key)
        if previous == connector:
            return
        self.active[key] = connector
        log.warning("%s %s: now delivered from %s (was %s)", key[0], key[1].value, connector,
                    previous)
        if self.on_switch is not None:
            self.on_switch(key, previous, connector)

    def check_staleness(self, now_ns: int, connected: Callable[[str], bool]) -> None:
        """Mark feeds without data for longer than the staleness limit, and move each
        symbol to its most preferred live feed."""
        limit = self.staleness_ns
        stale = set()
        for key, feeds in self.feeds.items():
            symbol, data_type = key
            for name in feeds:
                seen = self.last_seen.get((name, symbol, data_type), 0)
                if not connected(name) or now_ns - seen > limit:
                    stale.add((name, symbol, data_type))
            fresh = [n for n in feeds if (n, symbol, data_type) not in stale]
            if fresh and self.active.get(key) != fresh[0]:
                self._switch(key, fresh[0])
        for item in stale - self.stale:
            log.warning("%s: no %s data for %s for more than %.1fs", item[0], item[2].value,
                        item[1], limit / 1e9)
        self.stale = stale

    def reset_sequences(self, source: str) -> None:
        for key in [k for k in self._sequences if k[0] == source]:
            del self._sequences[key]

    def stale_symbols(self, connector: str) -> list[str]:
        return sorted({s for (c, s, _t) in self.stale if c == connector})

    # -- the hot path --------------------------------------------------------------
    def process(self, source: str, stats: ConnectorStats, updates: Sequence[MarketUpdate],
                now_ns: int) -> int:
        """Check, cache and deliver one batch from ``source``; returns how many were
        delivered."""
        sequences = self._sequences
        active = self.active
        last_seen = self.last_seen
        handlers = self.handlers
        on_any = self.on_any
        delivered = 0
        by_type = stats.by_type
        stats.updates_received += len(updates)
        stats.last_update_ns = now_ns
        for update in updates:
            data_type = update.data_type
            by_type[data_type.value] += 1
            payload = update.payload
            symbol: str = payload.get("symbol", "") if type(payload) is dict else payload.symbol
            seq = update.sequence_number
            if seq is not None:
                key = (source, update.stream, symbol)
                last = sequences.get(key)
                if last is not None and seq != last + 1:
                    if seq > last:
                        stats.gaps += seq - last - 1
                    elif seq == last:
                        stats.duplicates += 1
                        continue
                    elif last - seq < SEQUENCE_RESET_DISTANCE and seq > 1:
                        stats.out_of_order += 1
                        continue
                    else:
                        log.warning("%s %s: sequence restarted at %d (was %d)", source,
                                    symbol, seq, last)
                sequences[key] = seq
            feed_key = (symbol, data_type)
            last_seen[(source, symbol, data_type)] = now_ns
            current = active.get(feed_key)
            if current is not None and current != source:
                feeds = self.feeds[feed_key]
                if source in feeds and feeds.index(source) < feeds.index(current):
                    # A more preferred feed delivers again: it is back, switch to it.
                    self.stale.discard((source, symbol, data_type))
                    self._switch(feed_key, source)
                else:
                    stats.standby += 1
                    continue
            if update.venue_ts_ns and update.recv_ts_ns:
                stats.data_latency.add(update.recv_ts_ns - update.venue_ts_ns)
            self._cache(data_type, payload, symbol)
            for handler in handlers[data_type]:
                self._call(handler, update)
            for handler in on_any:
                self._call(handler, update)
            delivered += 1
        stats.updates_delivered += delivered
        return delivered

    def _cache(self, data_type: DataType, payload: Any, symbol: str | None) -> None:
        if symbol is None:
            return
        if data_type is DataType.PRICE_TICK:
            self.latest_ticks[symbol] = payload
        elif data_type is DataType.ORDERBOOK_SNAPSHOT:
            self.books[symbol] = payload
        elif data_type is DataType.TRADE:
            self.latest_trades[symbol] = payload
        elif data_type is DataType.OHLCV_BAR:
            key = (symbol, payload.interval)
            cache = self.bars.get(key)
            if cache is None:
                cache = self.bars[key] = collections.deque(maxlen=self.bar_cache_size)
            cache.append(payload)

    def _call(self, handler: Handler, update: MarketUpdate) -> None:
        try:
            handler(update)
        except Exception:
            self.subscriber_errors += 1
            now = time.monotonic()
            if now - self._last_error_log > 1.0:
                self._last_error_log = now
                log.exception("subscriber %r failed on %s (errors so far: %d; logged at most "
                              "once a second)", handler, update.data_type.value,
                              self.subscriber_errors)

    def symbols(self) -> Iterable[str]:
        return sorted({s for s, _t in self.feeds})
