"""``stockfish_history`` for IB: bars through reqHistoricalData, ticks through
reqHistoricalTicks, within IB's historical pacing rules.

A range is cut into the chunks IB serves in one request for the bar size (1800 S of
1-second bars, 1 D of 1-minute bars, 1 Y of daily bars ...), newest first as IB counts
back from an end date-time; ticks come 1000 at a time from a start date-time on. Every
request goes through the connector's :class:`~stockfish_ibkr.pacing.HistoricalPacer`
(60 requests in 10 minutes at most, five for one contract, exchange and tick type in
2 s, an identical request within 15 s answered from its first answer), so a burst of
requests waits rather than draws IB's error 162. Caching the answers on disk is the
core's (``manager.history``), not this module's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any

from stockfish_core.plugin_api import (
    HistoryRequest,
    OHLCVBar,
    PriceTick,
    Subscription,
    Trade,
)

from .marketdata import _BAR_SIZES, _SECONDS, BadMarketData, FeedKind, FeedSub, to_bar

if TYPE_CHECKING:
    from stockfish_core.plugin_api import Connector

    from .session import IBSession

__all__ = ["TICKS_PER_REQUEST", "bar_chunks", "fetch_history", "max_duration"]

_DAY = 86400
#: (smallest bar size, longest duration) in seconds, from IB's "valid duration and bar
#: size settings": 1800 S of 1 sec bars, 3600 S of 5 secs, 14400 S of 10 and 15 secs,
#: 28800 S of 30 secs, 1 D of 1 min, 2 D of 2 mins, 1 W of 3 to 20 mins, 1 M (30 D) of
#: 30 mins to 8 hours, 1 Y (365 D) of daily and weekly bars.
_MAX_DURATION = ((_DAY, 365 * _DAY), (1800, 30 * _DAY), (180, 7 * _DAY), (120, 2 * _DAY),
                 (60, _DAY), (30, 28800), (10, 14400), (5, 3600), (1, 1800))
#: Ticks one reqHistoricalTicks returns at most.
TICKS_PER_REQUEST = 1000
_NS = 1_000_000_000


def max_duration(bar_secs: int) -> int:
    """The longest duration, in seconds, IB serves in one request of ``bar_secs`` bars."""
    for smallest, longest in _MAX_DURATION:
        if bar_secs >= smallest:
            return longest
    return _MAX_DURATION[-1][1]


def _duration_text(seconds: int) -> str:
    # IB takes seconds up to one day; longer durations in days.
    return f"{seconds} S" if seconds <= _DAY else f"{-(-seconds // _DAY)} D"


def _ib_time(epoch: int) -> str:
    """An IB date-time in UTC (``YYYYMMDD-HH:MM:SS``)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y%m%d-%H:%M:%S")


def bar_chunks(start_ns: int, end_ns: int, bar_secs: int) -> list[tuple[str, str]]:
    """(end date-time, duration) of the requests that cover the bars starting in
    ``[start_ns, end_ns)``, each within IB's longest duration for the bar size."""
    first = start_ns // _NS
    first -= first % bar_secs
    last = -(-end_ns // _NS)
    last = -(-last // bar_secs) * bar_secs  # the end of the bar holding the range's end
    longest = max_duration(bar_secs)
    longest -= longest % bar_secs
    chunks = []
    end = last
    while end > first:
        span = min(longest, end - first)
        if span > _DAY:  # in whole days, not beyond the longest
            span = min(longest, -(-span // _DAY) * _DAY)
        chunks.append((_ib_time(end), _duration_text(span)))
        end -= span
    return chunks


async def fetch_history(connector: Connector, session: IBSession,
                        request: HistoryRequest) -> list[Any]:
    """Bars (``request.what == "bars"``) or ticks of ``request``, oldest first."""
    contract = await session.contract(request.symbol)
    if request.what == "ticks":
        return await _ticks(session, contract, request)
    interval = request.interval.strip()
    size = _BAR_SIZES.get(interval)
    if size is None:
        raise ValueError(f"{request.symbol}: bar interval {interval!r} is not offered by IB; "
                         f"use one of {', '.join(_BAR_SIZES)}")
    secs = int(interval[:-1]) * _SECONDS[interval[-1]]
    what = "MIDPOINT" if contract.secType == "CASH" else "TRADES"
    chunks = bar_chunks(request.start_ns, request.end_ns, secs)
    answers = await asyncio.gather(*(session.historical(contract, end, duration, size, what)
                                     for end, duration in chunks))
    sub = FeedSub(Subscription(request.symbol, interval=interval), FeedKind.BARS, contract, "",
                  interval=interval)
    bars: dict[int, OHLCVBar] = {}
    bad = 0
    for answer in answers:
        for raw in answer:
            try:
                bar = to_bar(sub, raw)
            except BadMarketData as exc:
                bad += 1
                connector.report_error(f"historical bars: {exc}", symbol=request.symbol,
                                       data=True)
                continue
            if request.start_ns <= bar.timestamp_ns < request.end_ns:
                bars[bar.timestamp_ns] = bar  # chunks that meet may share a bar
    return [bars[t] for t in sorted(bars)]


async def _ticks(session: IBSession, contract: Any, request: HistoryRequest) -> list[Any]:
    """Trades (FX: quotes) from the start on, 1000 a request, until the end or until IB
    has no more."""
    what = "BID_ASK" if contract.secType == "CASH" else "TRADES"
    out: list[Any] = []
    cursor = request.start_ns // _NS
    end_s = -(-request.end_ns // _NS)
    # Bounded: each round moves the cursor past the last tick's second, or stops.
    for _ in range(max(0, end_s - cursor) + 1):
        if cursor >= end_s:
            break
        ticks = await session.historical_ticks(contract, _ib_time(cursor), what,
                                               TICKS_PER_REQUEST)
        if not ticks:
            break
        last = cursor
        for tick in ticks:
            ts = _tick_ns(tick.time)
            last = max(last, ts // _NS)
            if not request.start_ns <= ts < request.end_ns:
                continue
            if what == "TRADES":
                out.append(Trade(request.symbol, float(tick.price), float(tick.size),
                                 timestamp_ns=ts))
            else:
                out.append(PriceTick(request.symbol, bid=float(tick.priceBid),
                                     ask=float(tick.priceAsk), bid_size=float(tick.sizeBid),
                                     ask_size=float(tick.sizeAsk), timestamp_ns=ts))
        if len(ticks) < TICKS_PER_REQUEST:
            break  # IB has nothing later (yet)
        # IB completes the last second it began: the next request starts after it.
        cursor = last + 1
    return out


def _tick_ns(moment: Any) -> int:
    """A tick's time (a datetime; naive: UTC) or epoch seconds to nanoseconds."""
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        whole: int = int(moment.timestamp())
        return whole * _NS + int(moment.microsecond) * 1000
    seconds: int = int(moment)
    return seconds * _NS
