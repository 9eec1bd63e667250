"""The market-data path inside the manager: sequence accounting, the preferred feed per
symbol, staleness, the latest-value caches and delivery to subscribers.

Runs on the manager's loop; :meth:`MarketDataHub.process` is the hot path and is called
once per batch a connector feeds. Sequence numbers are accounted for here, once, per
(source, stream, symbol) with :class:`~stockfish_core.sequencing.Sequencer`, unless the
plugin runs the core's sequencer itself (``connector.sequenced``). An update that cannot
be processed costs only itself: it is counted as a data error with its reason and
logged (rate-limited); the rest of its batch is delivered.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .models import DataType, MarketUpdate, OHLCVBar, OrderBookSnapshot, PriceTick, Trade
from .sequencing import Sequencer
from .stats import ConnectorStats, RateLimitedLog

__all__ = ["SUBSCRIBER_METHODS", "MarketDataHub", "interval_seconds"]

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

#: Data types that arrive when something happens, not continuously: never stale by
#: silence.
EVENT_TYPES = frozenset({DataType.NEWS, DataType.MACRO, DataType.CUSTOM})

_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60,
          "mins": 60, "minute": 60, "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600,
          "d": 86400, "day": 86400, "days": 86400}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")


def interval_seconds(interval: str | None) -> float | None:
    """Seconds of a bar interval such as "1m", "5s", "1h", "1d", "30 secs"; None if it
    cannot be read."""
    if not interval:
        return None
    match = _INTERVAL.match(interval)
    if match is None:
        return None
    unit = _UNITS.get(match.group(2).lower())
    return None if unit is None else float(match.group(1)) * unit


Handler = Callable[[MarketUpdate], Any]
#: Each data type's name, as the counts are keyed (a dict lookup, not the enum's
#: ``value`` property, on the hot path).
_TYPE_NAMES: dict[DataType, str] = {t: t.value for t in DataType}
FeedKey = tuple[str, DataType]
FeedItem = tuple[str, str, DataType]


class _Source:
    """The manager's sequencer for one connector, and where its counts go."""

    __slots__ = ("sequencer", "stats")

    def __init__(self, sequencer: Sequencer[MarketUpdate], stats: ConnectorStats) -> None:
        self.sequencer = sequencer
        self.stats = stats


class MarketDataHub:
    def __init__(self, staleness_ns: int, bar_cache_size: int = 500, *,
                 bar_grace_ns: int | None = None, reorder_buffer: int = 64,
                 reorder_wait: float = 0.05, restart_silence: float = 0.5) -> None:
        self.staleness_ns = staleness_ns
        #: A bar subscription is stale after one bar interval plus this.
        self.bar_grace_ns = staleness_ns if bar_grace_ns is None else bar_grace_ns
        self.bar_cache_size = bar_cache_size
        self.reorder_buffer = reorder_buffer
        self.reorder_wait = reorder_wait
        self.restart_silence = restart_silence
        self.handlers: dict[DataType, list[Handler]] = {t: [] for t in DataType}
        self.on_any: list[Handler] = []
        #: ``on_update_batch`` subscribers: the updates a call delivered, in order, at once.
        self.on_batch: list[Callable[[list[MarketUpdate]], Any]] = []
        #: The updates delivered so far in the outermost process/_deliver call (while
        #: there are batch subscribers), so that nested deliveries keep their order.
        self._collecting: list[MarketUpdate] | None = None
        self.latest_ticks: dict[str, PriceTick] = {}
        self.latest_trades: dict[str, Trade] = {}
        self.books: dict[str, OrderBookSnapshot] = {}
        self.bars: dict[tuple[str, str], collections.deque[OHLCVBar]] = {}
        #: The latest-value cache of each data type that has one (bars keep a history).
        self._value_caches: dict[DataType, dict[str, Any]] = {
            DataType.PRICE_TICK: self.latest_ticks,
            DataType.ORDERBOOK_SNAPSHOT: self.books,
            DataType.TRADE: self.latest_trades,
        }
        self._sources: dict[str, _Source] = {}
        self._timer: asyncio.TimerHandle | None = None
        #: Connectors serving each (symbol, type), most preferred first.
        self.feeds: dict[FeedKey, list[str]] = {}
        self.active: dict[FeedKey, str] = {}
        self.last_seen: dict[FeedItem, int] = {}
        #: Staleness limit of each (connector, symbol, type); None: never stale by silence.
        self.limits: dict[FeedItem, int | None] = {}
        self.stale: set[FeedItem] = set()
        self.subscriber_errors = 0
        self._last_error_log = 0.0
        self.errors = RateLimitedLog(log, interval=1.0)
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
        batch = getattr(subscriber, "on_update_batch", None)
        fn = getattr(subscriber, "on_update", None)
        if callable(batch):  # every update, a delivered batch at once (and not one by one)
            self.on_batch.append(batch)
            found.append("on_update_batch")
        elif callable(fn):
            self.on_any.append(fn)
            found.append("on_update")
        return found

    def remove_subscriber(self, subscriber: object) -> None:
        def keep(handlers: list[Handler]) -> list[Handler]:
            return [h for h in handlers if getattr(h, "__self__", None) is not subscriber]

        for data_type in DataType:
            self.handlers[data_type] = keep(self.handlers[data_type])
        self.on_any = keep(self.on_any)
        self.on_batch = [h for h in self.on_batch
                         if getattr(h, "__self__", None) is not subscriber]

    # -- feeds ---------------------------------------------------------------------
    def limit_ns(self, data_type: DataType, interval: str | None = None) -> int | None:
        """How long a subscription of this kind may be silent before it is stale: a tick,
        book or trade subscription ``staleness``; a bar subscription one bar interval
        plus the bar grace; news, macro and custom data never by silence."""
        if data_type in EVENT_TYPES:
            return None
        if data_type is DataType.OHLCV_BAR:
            seconds = interval_seconds(interval or "1m")
            if seconds is not None:
                return int(seconds * 1e9) + self.bar_grace_ns
        return self.staleness_ns

    def add_feed(self, key: FeedKey, connector: str, rank: Callable[[str], Any],
                 limit_ns: int | bool | None = True, now_ns: int | None = None) -> None:
        """``connector`` serves ``key``; ``limit_ns`` its staleness limit (True: the
        default for the data type), kept as the longest of its subscriptions."""
        feeds = self.feeds.setdefault(key, [])
        if connector not in feeds:
            feeds.append(connector)
            feeds.sort(key=rank)
        if key not in self.active:
            self.active[key] = feeds[0]
        item = (connector, key[0], key[1])
        limit = self.limit_ns(key[1]) if limit_ns is True else limit_ns
        assert limit is not True
        if item in self.limits:
            old = self.limits[item]
            limit = None if old is None or limit is None else max(old, int(limit))
        self.limits[item] = None if limit is None else int(limit)
        # A new subscription has its staleness limit to deliver its first update.
        self.last_seen.setdefault(item, time.time_ns() if now_ns is None else now_ns)

    def remove_feed(self, key: FeedKey, connector: str) -> None:
        feeds = self.feeds.get(key)
        if not feeds or connector not in feeds:
            return
        feeds.remove(connector)
        item = (connector, key[0], key[1])
        self.limits.pop(item, None)
        self.last_seen.pop(item, None)
        self.stale.discard(item)
        if not feeds:
            del self.feeds[key]
            self.active.pop(key, None)
        elif self.active.get(key) == connector:
            self._switch(key, feeds[0])

    def restart_clock(self, connector: str, now_ns: int) -> None:
        """A (re)connected connector has its staleness limits afresh."""
        for item in self.limits:
            if item[0] == connector:
                self.last_seen[item] = max(self.last_seen.get(item, 0), now_ns)

    def _switch(self, key: FeedKey, connector: str) -> None:
        previous = self.active.get(key)
        if previous == connector:
            return
        self.active[key] = connector
        log.warning("%s %s: now delivered from %s (was %s)", key[0], key[1].value, connector,
                    previous)
        if self.on_switch is not None:
            self.on_switch(key, previous, connector)

    def check_staleness(self, now_ns: int, connected: Callable[[str], bool]
                        ) -> tuple[set[FeedItem], set[FeedItem]]:
        """Mark feeds without data for longer than their limit (or not connected), and
        move each symbol to its most preferred live feed. Returns the items newly stale
        and those fresh again."""
        stale = set()
        limits = self.limits
        default = self.staleness_ns
        for key, feeds in self.feeds.items():
            symbol, data_type = key
            for name in feeds:
                item = (name, symbol, data_type)
                limit = limits.get(item, default)
                if not connected(name) or (
                        limit is not None and now_ns - self.last_seen.get(item, 0) > limit):
                    stale.add(item)
            fresh = [n for n in feeds if (n, symbol, data_type) not in stale]
            if fresh and self.active.get(key) != fresh[0]:
                self._switch(key, fresh[0])
        new, back = stale - self.stale, self.stale - stale
        self.stale = stale
        return new, back

    def stale_symbols(self, connector: str) -> list[str]:
        return sorted({s for (c, s, _t) in self.stale if c == connector})

    # -- sequence accounting ---------------------------------------------------------
    def _source(self, source: str, stats: ConnectorStats) -> _Source:
        src = self._sources.get(source)
        if src is None or src.stats is not stats:
            sequencer: Sequencer[MarketUpdate] = Sequencer(
                stats=stats, buffer_size=self.reorder_buffer, wait=self.reorder_wait,
                restart_silence=self.restart_silence, label=source)
            src = self._sources[source] = _Source(sequencer, stats)
        return src

    def reset_sequences(self, source: str) -> None:
        """Start every sequence of ``source`` afresh (the manager reconnected it); what
        was still held is delivered first."""
        src = self._sources.get(source)
        if src is None:
            return
        now = time.time_ns()
        for _tracker, held in src.sequencer.reset():
            self._deliver(source, src.stats, held, now, counted=True)

    def interrupted(self, source: str) -> None:
        """``source`` lost its connection: a fall back after this is a new stream."""
        src = self._sources.get(source)
        if src is not None:
            src.sequencer.interrupted()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a direct call): expired at the next batch instead
        deadlines = [d for src in self._sources.values()
                     if (d := src.sequencer.next_deadline()) is not None]
        if deadlines:
            delay = max(0.0, min(deadlines) - time.monotonic())
            self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.expire()
        self._arm_timer()

    def expire(self) -> None:
        """Deliver what the reorder buffers held for longer than their wait."""
        for source, src in list(self._sources.items()):
            if not src.sequencer.waiting:
                continue
            now = time.time_ns()
            for _tracker, held in src.sequencer.expire():
                if held:
                    self._deliver(source, src.stats, held, now, counted=True)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- the hot path --------------------------------------------------------------
    def process(self, source: str, stats: ConnectorStats, updates: Sequence[MarketUpdate],
                now_ns: int, *, sequenced: bool = False) -> int:
        """Account for, cache and deliver one batch from ``source``; returns how many
        were delivered. ``sequenced``: the plugin ran the core's sequencer already."""
        stats.updates_received += len(updates)
        stats.last_update_ns = now_ns
        if sequenced:
            return self._deliver(source, stats, updates, now_ns)
        src = self._sources.get(source)
        if src is None or src.stats is not stats:
            src = self._source(source, stats)
        sequencer = src.sequencer
        if sequencer.waiting and self._timer is None:
            self.expire()  # no timer (no running loop): what waited long enough goes now
        if self._collecting is not None or not self.on_batch:
            return self._process(source, stats, updates, now_ns, sequencer)
        return self._collected(self._process, source, stats, updates, now_ns, sequencer)

    def _process(self, source: str, stats: ConnectorStats, updates: Sequence[MarketUpdate],
                 now_ns: int, sequencer: Sequencer[MarketUpdate]) -> int:
        trackers = sequencer.trackers
        now: float | None = None  # the sequencer's clock, read at the first sequenced one
        active = self.active
        last_seen = self.last_seen
        handlers = self.handlers
        on_any = self.on_any
        caches = self._value_caches
        names = _TYPE_NAMES
        by_type = stats.by_type
        collect = self._collecting
        delivered = 0
        for update in updates:
            try:
                data_type = update.data_type
                payload = update.payload
                symbol = (payload.get("symbol") if type(payload) is dict
                          else getattr(payload, "symbol", None))
                by_type[names[data_type]] += 1
                seq = update.sequence_number
                if seq is not None:
                    if now is None:
                        now = sequencer.clock()
                    key = (update.stream, data_type.value if symbol is None else symbol)
                    tracker = trackers.get(key)
                    if (tracker is None or seq != tracker.next_seq or tracker.pending
                            or update.session != tracker.session):
                        released = sequencer.offer(tracker or sequencer.tracker(key), update,
                                                   seq, update.session, now)
                        if released:
                            self._deliver(source, stats, released, now_ns, counted=True)
                        continue
                    tracker.next_seq = seq + 1
                    tracker.seen = now
                if symbol is not None:
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
                    cache = caches.get(data_type)
                    if cache is not None:
                        cache[symbol] = payload
                    else:
                        self._cache(data_type, payload, symbol)
                if update.venue_ts_ns and update.recv_ts_ns:
                    stats.data_latency.add(update.recv_ts_ns - update.venue_ts_ns)
            except Exception as exc:  # noqa: BLE001 - one bad update costs only itself
                self.data_error(source, stats, update, exc)
                continue
            for handler in handlers[data_type]:
                try:
                    handler(update)
                except Exception:  # noqa: BLE001 - a subscriber's error is its own
                    self._subscriber_failed(handler, update)
            for handler in on_any:
                try:
                    handler(update)
                except Exception:  # noqa: BLE001
                    self._subscriber_failed(handler, update)
            if collect is not None:
                collect.append(update)
            delivered += 1
        stats.updates_delivered += delivered
        if sequencer.waiting:
            self._arm_timer()
        return delivered

    def _deliver(self, source: str, stats: ConnectorStats, updates: Sequence[MarketUpdate],
                 now_ns: int, *, counted: bool = False) -> int:
        """Cache and deliver updates already accounted for (a sequenced plugin's batch,
        or what the manager's reorder buffer releases); ``counted``: already in
        ``by_type`` (held by the manager's reorder buffer).

        The per-update work is the least the manager owes each update: its count, its
        feed's liveness, the preferred-feed check, the latest-value cache, a latency
        sample and the subscribers' calls. What is the same for a run of one data type
        (its handlers, its cache, its count) is looked up once per run, and what is the
        same for a symbol within the batch (``last_seen`` is the batch's time; whether
        this source is the symbol's preferred feed) once per symbol and run.
        """
        if self._collecting is not None or not self.on_batch:
            return self._deliver_updates(source, stats, updates, now_ns, counted)
        return self._collected(self._deliver_updates, source, stats, updates, now_ns, counted)

    def _collected(self, deliver: Callable[..., int], *args: Any) -> int:
        """``deliver(*args)`` as the outermost delivery: what it (and any delivery nested
        in it, such as updates the reorder buffer releases) delivers is collected, then
        handed to the batch subscribers in one call."""
        self._collecting = []
        try:
            return deliver(*args)
        finally:
            batch, self._collecting = self._collecting, None
            if batch:
                self._hand_batch(batch)

    def _hand_batch(self, batch: list[MarketUpdate]) -> None:
        """Give the batch subscribers what the outermost call delivered."""
        for handler in self.on_batch:
            try:
                handler(batch)
            except Exception:  # noqa: BLE001 - a subscriber's error is its own
                self._subscriber_failed(handler, batch[0])  # type: ignore[arg-type]

    def _deliver_updates(self, source: str, stats: ConnectorStats,
                         updates: Sequence[MarketUpdate], now_ns: int, counted: bool) -> int:
        active = self.active
        last_seen = self.last_seen
        on_any = self.on_any
        by_type = stats.by_type
        sample = stats.data_latency.add
        delivered = 0
        run_type: DataType | None = None
        run_count = 0
        handlers: list[Handler] = []
        cache: dict[str, Any] | None = None
        #: symbol -> delivered (True) or standby (False), for the current run's type.
        routed: dict[str, bool] = {}
        collect = self._collecting
        for update in updates:
            try:
                data_type = update.data_type
                if data_type is not run_type:
                    if run_count and not counted:
                        by_type[run_type.value] += run_count  # type: ignore[union-attr]
                    run_type = data_type
                    run_count = 0
                    handlers = self.handlers[data_type]
                    cache = self._value_caches.get(data_type)
                    routed = {}
                run_count += 1
                payload = update.payload
                symbol = (payload.get("symbol") if type(payload) is dict
                          else getattr(payload, "symbol", None))
                if symbol is not None:
                    route = routed.get(symbol)
                    if route is None:
                        last_seen[(source, symbol, data_type)] = now_ns
                        current = active.get((symbol, data_type))
                        route = routed[symbol] = (
                            current is None or current == source
                            or self._take_over(source, symbol, data_type, current))
                    if not route:
                        stats.standby += 1
                        continue
                    if cache is not None:
                        cache[symbol] = payload
                    else:
                        self._cache(data_type, payload, symbol)
                venue_ts = update.venue_ts_ns
                if venue_ts and update.recv_ts_ns:
                    sample(update.recv_ts_ns - venue_ts)
            except Exception as exc:  # noqa: BLE001 - one bad update costs only itself
                self.data_error(source, stats, update, exc)
                continue
            for handler in handlers:
                try:
                    handler(update)
                except Exception:  # noqa: BLE001 - a subscriber's error is its own
                    self._subscriber_failed(handler, update)
            for handler in on_any:
                try:
                    handler(update)
                except Exception:  # noqa: BLE001
                    self._subscriber_failed(handler, update)
            if collect is not None:
                collect.append(update)
            delivered += 1
        if run_count and not counted:
            by_type[run_type.value] += run_count  # type: ignore[union-attr]
        stats.updates_delivered += delivered
        return delivered

    def _take_over(self, source: str, symbol: str, data_type: DataType, current: str
                   ) -> bool:
        """``source`` delivers ``symbol``'s ``data_type`` while ``current`` is the active
        feed: True if ``source`` is more preferred (it is back: switch to it), False if
        it stands by."""
        feed_key = (symbol, data_type)
        feeds = self.feeds[feed_key]
        if source in feeds and feeds.index(source) < feeds.index(current):
            # A more preferred feed delivers again: it is back, switch to it.
            self.stale.discard((source, symbol, data_type))
            self._switch(feed_key, source)
            return True
        return False

    def data_error(self, source: str, stats: ConnectorStats, update: Any,
                   exc: BaseException) -> None:
        """Count and log (rate-limited) an update that could not be processed."""
        reason = type(exc).__name__
        stats.data_errors += 1
        by_reason = stats.data_errors_by_reason
        by_reason[reason] = by_reason.get(reason, 0) + 1
        try:
            what = repr(update)
        except Exception:  # noqa: BLE001 - a payload whose repr fails
            what = f"a {type(update).__name__}"
        what = what if len(what) <= 200 else what[:197] + "..."
        self.errors.log(logging.WARNING, f"{source}:{reason}",
                        "%s: update dropped (%s: %s; data errors so far %d): %s", source,
                        reason, str(exc)[:200], stats.data_errors, what)

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
        except Exception:  # noqa: BLE001 - a subscriber's error is its own
            self._subscriber_failed(handler, update)

    def _subscriber_failed(self, handler: Handler, update: MarketUpdate) -> None:
        """Count a subscriber's exception (called from its except block); log it at most
        once a second."""
        self.subscriber_errors += 1
        now = time.monotonic()
        if now - self._last_error_log > 1.0:
            self._last_error_log = now
            log.exception("subscriber %r failed on %s (errors so far: %d; logged at most "
                          "once a second)", handler, update.data_type.value,
                          self.subscriber_errors)

    def symbols(self) -> Iterable[str]:
        return sorted({s for s, _t in self.feeds})
