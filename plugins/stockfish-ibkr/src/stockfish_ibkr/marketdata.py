"""Market-data subscriptions and the normalizer.

Quotes and depth come from the library's tickers: ``pendingTickersEvent`` hands over, once
per network packet, the set of tickers that changed; the connector feeds that batch to the
core as is and :func:`normalize` turns each ticker into one :class:`PriceTick` (or one
:class:`OrderBookSnapshot` for a depth ticker). Bars arrive as ``(FeedSub, bar)`` pairs.
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from stockfish_core.plugin_api import (
    Connector,
    DataType,
    MarketUpdate,
    OHLCVBar,
    OrderBookLevel,
    OrderBookSnapshot,
    PriceTick,
    Subscription,
    now_ns,
)

if TYPE_CHECKING:
    from .session import IBSession

__all__ = ["BadMarketData", "FeedKind", "FeedSub", "Feeds", "bar_request", "normalize", "to_bar"]

log = logging.getLogger("stockfish.ibkr")

_TRADE_TICKS = frozenset({4, 48, 68, 77})
_PRICE_TICK = DataType.PRICE_TICK
_INF = float("inf")
_NINF = float("-inf")


class BadMarketData(ValueError):
    """A message from the library that cannot be read (counted, never delivered)."""

# Bar intervals ("1m") to IB bar sizes; 5s bars stream as real-time bars by default.
_BAR_SIZES = {
    "1s": "1 secs", "5s": "5 secs", "10s": "10 secs", "15s": "15 secs", "30s": "30 secs",
    "1m": "1 min", "2m": "2 mins", "3m": "3 mins", "5m": "5 mins", "10m": "10 mins",
    "15m": "15 mins", "20m": "20 mins", "30m": "30 mins", "1h": "1 hour", "2h": "2 hours",
    "3h": "3 hours", "4h": "4 hours", "8h": "8 hours", "1d": "1 day", "1w": "1 week",
}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class FeedKind(enum.Enum):
    PRICE = "price"
    DEPTH = "depth"
    REALTIME_BARS = "realtime_bars"
    BARS = "bars"


@attrs.define(slots=True, eq=False)
class FeedSub:
    """One live subscription at IB."""

    subscription: Subscription
    kind: FeedKind
    contract: Any
    stream: str
    #: The library's ticker or bar list this subscription fills.
    handle: Any = None
    interval: str = ""
    sequence: int = 0
    delayed: bool = False

    @property
    def symbol(self) -> str:
        return self.subscription.symbol


def bar_request(subscription: Subscription) -> tuple[str, str, str, bool]:
    """IB bar size, duration, whatToShow and whether real-time bars serve it."""
    interval = (subscription.interval or "1m").strip()
    size = _BAR_SIZES.get(interval)
    if size is None:
        raise ValueError(f"{subscription.symbol}: bar interval {interval!r} is not offered by "
                         f"IB; use one of {', '.join(_BAR_SIZES)}")
    params = subscription.params
    seconds = int(interval[:-1]) * _SECONDS[interval[-1]]
    realtime = bool(params.get("realtime", interval == "5s"))
    duration = str(params.get("duration") or _duration(seconds * 100))
    what = str(params.get("what_to_show", "")).upper()
    return size, duration, what, realtime


def _duration(seconds: int) -> str:
    if seconds <= 86400:
        return f"{max(seconds, 60)} S"
    return f"{min(365, -(-seconds // 86400))} D"


def _ns(moment: Any) -> int:
    """Nanoseconds since the epoch of a datetime (naive: UTC) or date; 0 for anything
    else, or a moment before the epoch."""
    try:
        if isinstance(moment, dt.datetime):
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.timezone.utc)
            return max(0, int(moment.timestamp() * 1e9))
        if isinstance(moment, dt.date):
            return max(0, int(dt.datetime(moment.year, moment.month, moment.day,
                                          tzinfo=dt.timezone.utc).timestamp() * 1e9))
    except (OverflowError, ValueError, OSError):
        return 0
    return 0


def _number(value: Any, what: str) -> float:
    if type(value) is not float and type(value) is not int:
        raise BadMarketData(f"{what} is not a number: {value!r}")
    return float(value)


def to_bar(sub: FeedSub, bar: Any) -> OHLCVBar:
    """An OHLCVBar from a library BarData or RealTimeBar; BadMarketData for a bar with a
    price that is not a positive finite number, or no time. A volume of -1 or NaN (IB's
    "none") is 0."""
    is_realtime = hasattr(bar, "open_")
    start = bar.time if is_realtime else bar.date
    name = f"{sub.symbol} {sub.interval or ''} bar".replace("  ", " ")
    prices = [_number(getattr(bar, field), f"{name} {field.rstrip('_')}")
              for field in ("open_" if is_realtime else "open", "high", "low", "close")]
    for price in prices:
        if not 0 < price < _INF:
            raise BadMarketData(f"{name} has the price {price!r}")
    volume = _number(bar.volume, f"{name} volume")
    if volume in (_INF, _NINF):
        raise BadMarketData(f"{name} has the volume {volume!r}")
    timestamp = _ns(start)
    if timestamp <= 0:
        raise BadMarketData(f"{name} has no time: {start!r}")
    return OHLCVBar(sub.symbol, prices[0], prices[1], prices[2], prices[3],
                    volume if volume > 0 else 0.0, sub.interval, timestamp)


def normalize(connector: Connector, messages: list[Any]) -> list[MarketUpdate]:
    """Tickers and bars to MarketUpdates (the ``stockfish_normalize`` hook).

    A ticker may serve a quote and a depth subscription at once (ib_async keys tickers by
    contract): it then gives a PriceTick if its quote changed and a book if its depth did.

    IB's "no value" (NaN, -1, 0 for a price) becomes None. A message that cannot be read
    (a value that is not a number, an infinite one, a bar or book level with an impossible
    price, a ticker or bar of no subscription) is left out and counted with its reason
    (``report_error(..., data=True)``); the rest of the batch is delivered.
    """
    state = connector.state
    if state is None:
        if messages:
            connector.report_error(f"{len(messages)} market-data message(s) after the "
                                   "connector was closed", data=True)
        return []
    quotes: dict[int, FeedSub] = state.price_tickers
    books: dict[int, FeedSub] = state.depth_tickers
    source = connector.name
    recv = now_ns()
    out: list[MarketUpdate] = []
    append = out.append
    for msg in messages:
        try:
            if type(msg) is tuple:
                if len(msg) != 2 or type(msg[0]) is not FeedSub:
                    raise BadMarketData(f"a bar message that is not (subscription, bar): "
                                        f"{type(msg).__name__} of {len(msg)}")
                sub, bar = msg
                if sub.kind not in (FeedKind.BARS, FeedKind.REALTIME_BARS):
                    raise BadMarketData(f"a bar for {sub.subscription}, which is not a live "
                                        "bar subscription")
                payload = to_bar(sub, bar)
                append(MarketUpdate(DataType.OHLCV_BAR, payload, source, None,
                                    payload.timestamp_ns, recv, sub.stream))
                continue
            key = id(msg)
            sub = quotes.get(key)
            depth = books.get(key)
            if sub is None and depth is None:
                raise BadMarketData("market data for a ticker with no subscription")
            if sub is not None and msg.ticks:
                bid, ask, last = msg.bid, msg.ask, msg.last
                bsz, asz, lsz, vol = msg.bidSize, msg.askSize, msg.lastSize, msg.volume
                # One sum reads all seven: a TypeError for what is not a number, and not
                # finite if one is NaN (IB's "no value") or infinite (not a value).
                try:
                    total = bid + ask + last + bsz + asz + lsz + vol
                    finite = total - total == 0
                except TypeError:
                    raise BadMarketData(f"{sub.symbol}: a quote field is not a number: "
                                        f"{(bid, ask, last, bsz, asz, lsz, vol)!r}") from None
                if not finite:
                    values = (bid, ask, last, bsz, asz, lsz, vol)
                    if _INF in values or _NINF in values:
                        raise BadMarketData(f"{sub.symbol}: an infinite quote field: "
                                            f"{values!r}")
                venue = 0
                for t in msg.ticks:
                    if t.tickType in _TRADE_TICKS:
                        moment = msg.rtTime
                        if moment is None:
                            moment = getattr(msg, "lastTimestamp", None)
                        if moment is not None:
                            venue = _ns(moment)
                        break
                tick = PriceTick(
                    sub.subscription.symbol,
                    bid if bid == bid and bid > 0 else None,
                    ask if ask == ask and ask > 0 else None,
                    last if last == last and last > 0 else None,
                    bsz if bsz == bsz and bsz >= 0 else None,
                    asz if asz == asz and asz >= 0 else None,
                    lsz if lsz == lsz and lsz >= 0 else None,
                    vol if vol == vol and vol >= 0 else None,
                    venue or recv,
                )
                append(MarketUpdate(_PRICE_TICK, tick, source, None, venue, recv,
                                    sub.stream))
            if depth is not None and msg.domTicks:
                _book(msg, depth, source, recv, append)
        except Exception as exc:  # noqa: BLE001 - one bad message never costs the batch
            reason = str(exc) if isinstance(exc, BadMarketData) else \
                f"unreadable market data: {type(exc).__name__}: {exc}"
            connector.report_error(reason, data=True)
    return out


def _book(msg: Any, depth: FeedSub, source: str, recv: int, append: Any) -> None:
    sides = []
    for side, levels in (("bid", msg.domBids), ("ask", msg.domAsks)):
        rows = []
        for lv in levels:
            price, size = lv.price, lv.size
            if ((type(price) is not float and type(price) is not int)
                    or (type(size) is not float and type(size) is not int)
                    or not (0 < price < _INF and 0 <= size < _INF)):
                raise BadMarketData(f"{depth.symbol}: a book {side} level of size {size!r} "
                                    f"at {price!r}")
            rows.append(OrderBookLevel(price, size))
        sides.append(rows)
    depth.sequence += 1
    book = OrderBookSnapshot(depth.symbol, sides[0], sides[1], depth.sequence, recv)
    append(MarketUpdate(DataType.ORDERBOOK_SNAPSHOT, book, source, None, 0, recv,
                        depth.stream))


class Feeds:
    """The subscriptions of one IB session, keyed by what the core asked for."""

    def __init__(self, session: IBSession) -> None:
        self.session = session
        self.subs: dict[Subscription, FeedSub] = {}
        #: id(contract object) -> subscription, to route per-request errors.
        self.by_contract: dict[int, FeedSub] = {}

    def __len__(self) -> int:
        return len(self.subs)

    def _tickers(self, sub: FeedSub) -> dict[int, FeedSub]:
        state = self.session.state
        return state.depth_tickers if sub.kind is FeedKind.DEPTH else state.price_tickers

    async def subscribe(self, subscription: Subscription) -> None:
        if subscription in self.subs:
            return
        session = self.session
        dtype = subscription.data_type
        if dtype not in (DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.OHLCV_BAR):
            raise ValueError(f"{subscription}: the ibkr connector serves price ticks, order "
                             f"books and bars, not {dtype.value}")
        # A contract object per subscription: errors name the request's own object, and
        # ib_insync keys tickers by it (ib_async by its hash: one ticker then serves both).
        contract = copy.copy(await session.contract(subscription.symbol))
        stream = f"{dtype.value}:{subscription.symbol}"
        if dtype is DataType.PRICE_TICK:
            sub = FeedSub(subscription, FeedKind.PRICE, contract, stream)
        elif dtype is DataType.ORDERBOOK_SNAPSHOT:
            if subscription.depth is not None and subscription.depth < 1:
                raise ValueError(f"{subscription}: depth must be at least 1")
            sub = FeedSub(subscription, FeedKind.DEPTH, contract, stream)
        else:
            realtime = bar_request(subscription)[3]
            kind = FeedKind.REALTIME_BARS if realtime else FeedKind.BARS
            sub = FeedSub(subscription, kind, contract, stream,
                          interval=subscription.interval or "1m")
        self.subs[subscription] = sub
        self.by_contract[id(contract)] = sub
        try:
            await self._request(sub)
        except BaseException:
            self._forget(sub)
            raise

    async def _request(self, sub: FeedSub) -> None:
        session = self.session
        ib = session.ib
        pacer = session.state.pacer
        await pacer.acquire()
        if sub.kind is FeedKind.PRICE:
            sub.handle = ib.reqMktData(sub.contract, session.config.generic_ticks)
            self._tickers(sub)[id(sub.handle)] = sub
        elif sub.kind is FeedKind.DEPTH:
            rows = sub.subscription.depth or 5
            smart = sub.contract.exchange == "SMART"
            sub.handle = ib.reqMktDepth(sub.contract, numRows=rows, isSmartDepth=smart)
            self._tickers(sub)[id(sub.handle)] = sub
        elif sub.kind is FeedKind.REALTIME_BARS:
            _size, _dur, what, _rt = bar_request(sub.subscription)
            sub.handle = ib.reqRealTimeBars(sub.contract, 5, what or _default_what(sub.contract),
                                            False)
        else:
            await self._request_history(sub)

    async def _request_history(self, sub: FeedSub) -> None:
        session = self.session
        size, duration, what, _rt = bar_request(sub.subscription)
        what = what or _default_what(sub.contract)
        bars = await session.historical(sub.contract, "", duration, size, what,
                                        keep_up_to_date=True)
        sub.handle = bars
        complete = list(bars[:-1])
        if complete:
            session.connector.feed([(sub, bar) for bar in complete])

    def on_bar_update(self, bars: Any, has_new_bar: bool) -> None:
        """barUpdateEvent: a real-time bar, or a keepUpToDate bar that just completed."""
        sub = self.by_contract.get(id(bars.contract))
        if sub is None or not has_new_bar or sub.handle is not bars:
            return
        if sub.kind is FeedKind.REALTIME_BARS:
            self.session.connector.feed([(sub, bars[-1])])
        elif len(bars) >= 2:
            self.session.connector.feed([(sub, bars[-2])])

    async def unsubscribe(self, subscription: Subscription) -> None:
        sub = self.subs.get(subscription)
        if sub is None:
            return
        self._forget(sub)
        if self.session.is_connected:
            await self.session.state.pacer.acquire()
            self._cancel(sub)

    def _cancel(self, sub: FeedSub) -> None:
        ib = self.session.ib
        if sub.handle is None:
            return
        try:
            if sub.kind is FeedKind.PRICE:
                ib.cancelMktData(sub.contract)
            elif sub.kind is FeedKind.DEPTH:
                ib.cancelMktDepth(sub.contract, isSmartDepth=sub.contract.exchange == "SMART")
            elif sub.kind is FeedKind.REALTIME_BARS:
                ib.cancelRealTimeBars(sub.handle)
            else:
                ib.cancelHistoricalData(sub.handle)
        except ConnectionError:
            pass

    def _forget(self, sub: FeedSub) -> None:
        self.subs.pop(sub.subscription, None)
        self.by_contract.pop(id(sub.contract), None)
        if sub.handle is not None and sub.kind in (FeedKind.PRICE, FeedKind.DEPTH):
            self._tickers(sub).pop(id(sub.handle), None)

    async def rerequest(self, sub: FeedSub) -> None:
        """Cancel and request one subscription again (new market data type, 1101)."""
        if self.subs.get(sub.subscription) is not sub:
            return
        await self.session.state.pacer.acquire()
        self._cancel(sub)
        if sub.handle is not None and sub.kind in (FeedKind.PRICE, FeedKind.DEPTH):
            self._tickers(sub).pop(id(sub.handle), None)
        await self._request(sub)

    async def rerequest_all(self) -> None:
        for sub in list(self.subs.values()):
            try:
                await self.rerequest(sub)
            except Exception as exc:  # noqa: BLE001 - one symbol must not stop the rest
                self.session.connector.report_error(
                    f"re-requesting {sub.subscription} after TWS lost its data failed: {exc}",
                    symbol=sub.symbol)

    def clear(self) -> None:
        for sub in list(self.subs.values()):
            self._forget(sub)

    def active(self) -> Sequence[FeedSub]:
        return list(self.subs.values())


def _default_what(contract: Any) -> str:
    return "MIDPOINT" if contract.secType == "CASH" else "TRADES"
