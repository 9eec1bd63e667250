"""Historical and streaming bars for the simulated gateway.

Historical bars and ticks come from the core's seeded history
(:mod:`stockfish_core.sim.history`): a bar depends only on (seed, instrument, bar size,
start), so asking twice, or for overlapping ranges, gives the same bars. Requests follow
IB's historical pacing rules (:class:`HistoricalPacing`, error 162 when broken) and its
longest duration per bar size. Streaming bars (``keepUpToDate`` and real-time 5-second
bars) are built from the live market's steps by :class:`RunningBar`.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Hashable
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from stockfish_core.sim.history import sim_bars, sim_trades

from .instruments import Instrument
from .wire import FieldReader

if TYPE_CHECKING:
    from .gateway import GatewaySimulator
    from .session import Session

__all__ = [
    "MAX_TICKS",
    "BarRow",
    "HistoricalPacing",
    "HistoryError",
    "RunningBar",
    "bar_seconds",
    "duration_seconds",
    "format_bar_time",
    "make_bars",
    "make_ticks",
    "max_duration_seconds",
    "req_historical_ticks",
]

#: (date, open, high, low, close, volume, wap, count), as the historicalData message has it.
BarRow = tuple[str, float, float, float, float, float, float, int]

_BAR = re.compile(r"^\s*(\d+)\s+(secs?|mins?|hours?|days?|weeks?|months?)\s*$")
_BAR_UNITS = {"sec": 1, "min": 60, "hour": 3600, "day": 86400, "week": 7 * 86400,
              "month": 30 * 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([SDWMY])\s*$")
_DURATION_UNITS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}
MAX_BARS = 5000
_NS = 1_000_000_000
_DAY = 86400
#: (smallest bar size, longest duration) in seconds, from IB's table of valid duration and
#: bar size settings: 1800 S of 1 sec bars, 3600 S of 5 secs, 14400 S of 10 and 15 secs,
#: 28800 S of 30 secs, 1 D of 1 min, 2 D of 2 mins, 1 W of 3 to 20 mins, 1 M of 30 mins
#: to 8 hours, 1 Y of daily and longer bars.
_MAX_DURATION = ((_DAY, 365 * _DAY), (1800, 30 * _DAY), (180, 7 * _DAY), (120, 2 * _DAY),
                 (60, _DAY), (30, 28800), (10, 14400), (5, 3600), (1, 1800))


class HistoryError(ValueError):
    """A historical request TWS would refuse, with its error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def bar_seconds(setting: str) -> int:
    """``"5 secs"``, ``"1 min"``, ``"1 day"`` ... to seconds."""
    match = _BAR.match(setting)
    if match is None or int(match.group(1)) <= 0:
        raise HistoryError(321, "Error validating request.-'bP' : cause - Historical data bar "
                                f"size setting is invalid: {setting!r}")
    return int(match.group(1)) * _BAR_UNITS[match.group(2).rstrip("s")]


def duration_seconds(duration: str) -> int:
    match = _DURATION.match(duration)
    if match is None or int(match.group(1)) <= 0:
        raise HistoryError(321, "Error validating request.-'bP' : cause - Historical data "
                                f"query duration is invalid: {duration!r}")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def format_bar_time(epoch: int, bar_secs: int, format_date: int) -> str:
    """Daily and longer bars are ``YYYYMMDD``; intraday bars are epoch seconds with
    formatDate 2, else ``YYYYMMDD HH:MM:SS UTC``."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    if bar_secs >= 86400:
        return moment.strftime("%Y%m%d")
    if format_date == 2:
        return str(epoch)
    return moment.strftime("%Y%m%d %H:%M:%S UTC")


def max_duration_seconds(bar_secs: int) -> int:
    """The longest duration IB serves in one request for bars of ``bar_secs`` (its table
    of valid duration and bar size settings)."""
    for smallest, longest in _MAX_DURATION:
        if bar_secs >= smallest:
            return longest
    return _MAX_DURATION[-1][1]


def make_bars(inst: Instrument, bar_size: str, duration: str, end_epoch: int, seed: int,
              what_to_show: str, format_date: int, *, end_given: bool = False) -> list[BarRow]:
    """The bars of ``duration`` ending at ``end_epoch``. With an end given, the bars
    starting before it; without (now), the last one is the bar still forming.

    A bar depends only on the seed, the instrument, the bar size and its start time
    (:func:`stockfish_core.sim.history.sim_bars`): overlapping requests agree."""
    secs = bar_seconds(bar_size)
    span = duration_seconds(duration)
    if span > max_duration_seconds(secs):
        raise HistoryError(162, "Historical Market Data Service error message:Time length "
                                f"exceed max. ({duration!r} of {bar_size!r} bars; at most "
                                f"{max_duration_seconds(secs)} S)")
    count = max(1, span // secs)
    if count > MAX_BARS:
        raise HistoryError(162, "Historical Market Data Service error message:Time length "
                                f"exceed max. ({count} bars of {bar_size!r} in {duration!r})")
    last = end_epoch - 1 if end_given else end_epoch
    last_start = last - last % secs
    first_start = last_start - (count - 1) * secs
    trades = what_to_show.upper() in ("TRADES", "ADJUSTED_LAST")
    bars = sim_bars(seed, inst.key, first_start * _NS, (last_start + 1) * _NS, f"{secs}s",
                    inst.price, Decimal(repr(inst.min_tick)))
    rows: list[BarRow] = []
    for bar in bars:
        start = bar.timestamp_ns // _NS
        volume = bar.volume if trades else -1.0
        wap = round((bar.high + bar.low + bar.close) / 3.0, 8)
        n = int(bar.volume // 100) if trades else -1
        rows.append((format_bar_time(start, secs, format_date), bar.open, bar.high,
                     bar.low, bar.close, volume, wap, n))
    return rows


# -- historical ticks (reqHistoricalTicks) -------------------------------------------------
#: Message ids: the request, and the three answers by whatToShow.
REQ_HISTORICAL_TICKS = 96
HISTORICAL_TICKS = 96
HISTORICAL_TICKS_BID_ASK = 97
HISTORICAL_TICKS_LAST = 98
#: The most ticks one request returns (IB: 1000).
MAX_TICKS = 1000
_TICK_ANSWERS = {"MIDPOINT": HISTORICAL_TICKS, "BID_ASK": HISTORICAL_TICKS_BID_ASK,
                 "TRADES": HISTORICAL_TICKS_LAST}


def make_ticks(inst: Instrument, what_to_show: str, seed: int, count: int, *,
               start: int | None = None, end: int | None = None,
               now: int | None = None) -> list[Any]:
    """The historical ticks IB sends for one request: one a second (each depends only on
    its second), ``count`` of them from ``start`` on or up to ``end``, never after
    ``now``; a message ready to send. Exactly one of ``start`` and ``end``."""
    what = what_to_show.upper()
    code = _TICK_ANSWERS.get(what)
    if code is None:
        raise HistoryError(321, "Error validating request.-'bX' : cause - whatToShow "
                                f"{what_to_show!r} is invalid for historical ticks")
    if not 0 < count <= MAX_TICKS:
        raise HistoryError(321, "Error validating request.-'bX' : cause - numberOfTicks "
                                f"must be between 1 and {MAX_TICKS}, got {count}")
    if (start is None) == (end is None):
        raise HistoryError(321, "Error validating request.-'bX' : cause - exactly one of "
                                "start and end date/time must be given")
    now = int(time.time()) if now is None else now
    if start is not None:
        first, last = start, min(now, start + count - 1)
    else:
        last = min(now, end if end is not None else now)
        first = last - count + 1
    tick = Decimal(repr(inst.min_tick))
    trades = sim_trades(seed, inst.key, first * _NS, (last + 1) * _NS, inst.price, tick) \
        if last >= first else []
    fields: list[Any] = [code, 0, len(trades)]
    for trade in trades:
        second = trade.timestamp_ns // _NS
        if code == HISTORICAL_TICKS_LAST:
            fields.extend((second, 0, trade.price, trade.size, inst.exchange, ""))
        elif code == HISTORICAL_TICKS_BID_ASK:
            bid = float(Decimal(repr(trade.price)) - tick)
            ask = float(Decimal(repr(trade.price)) + tick)
            fields.extend((second, 0, bid, ask, trade.size, trade.size))
        else:
            fields.extend((second, 0, trade.price, 0))
    fields.append(1)  # done
    return fields


class HistoricalPacing:
    """IB's historical-data pacing rules as TWS applies them to one client, for both
    reqHistoricalData and reqHistoricalTicks: no identical request within 15 s, no six
    requests for the same contract, exchange and tick type within 2 s, no more than 60
    requests in 10 minutes. The windows are the gateway's (a test may shorten them)."""

    def __init__(self, gateway: GatewaySimulator) -> None:
        self.gateway = gateway
        self._log: deque[tuple[float, Hashable, Hashable]] = deque()

    def check(self, key: Hashable, contract_key: Hashable) -> str | None:
        """Count a request; the reason it breaks a rule, or None."""
        gw = self.gateway
        now = time.monotonic()
        log_ = self._log
        while log_ and now - log_[0][0] > gw.hist_window:
            log_.popleft()
        problem = None
        if any(k == key and now - t < gw.hist_identical_window for t, k, _ in log_):
            problem = "Pacing violation: identical request within 15 seconds"
        elif sum(1 for t, _, c in log_ if c == contract_key and now - t < gw.hist_burst_window
                 ) >= gw.hist_burst_max:
            problem = ("Pacing violation: 6 or more requests for the same contract, exchange "
                       "and tick type within 2 seconds")
        elif len(log_) >= gw.hist_max:
            problem = "Pacing violation: more than 60 requests within 10 minutes"
        log_.append((now, key, contract_key))
        if problem is not None:
            gw.historical_pacing_violations += 1
        return problem


def req_historical_ticks(session: Session, r: FieldReader) -> None:
    """reqHistoricalTicks: reqId, contract, includeExpired, start, end, numberOfTicks,
    whatToShow, useRth, ignoreSize, miscOptions."""
    from .feeds import parse_end

    req_id = r.integer()
    contract = r.contract()
    r.skip()  # includeExpired
    start_text = r.text()
    end_text = r.text()
    count = r.integer()
    what = r.text()
    inst = session._resolve(req_id, contract)
    if inst is None:
        return
    gw = session.gateway
    if not gw.hmds_farm_ok:
        session.error(req_id, 162, "Historical Market Data Service error message:HMDS "
                                   "server disconnect")
        return
    key = ("ticks", inst.con_id, start_text, end_text, count, what)
    problem = session.hist_pacing.check(key, (inst.con_id, contract.exchange, what.upper()))
    if problem is not None:
        session.error(req_id, 162, f"Historical Market Data Service error message:{problem}")
        return
    try:
        try:
            start = parse_end(start_text) if start_text else None
            end = parse_end(end_text) if end_text else None
        except ValueError as exc:
            raise HistoryError(321, "Error validating request.-'bX' : cause - bad date/time: "
                                    f"{exc}") from None
        fields = make_ticks(inst, what, session.broker.seed, count, start=start, end=end)
    except HistoryError as exc:
        session.error(req_id, exc.code, exc.message)
        return
    gw.historical_requests += 1
    fields[1] = req_id
    session.send(fields)


@attrs.define(slots=True)
class RunningBar:
    """A bar being built from live prices, cut every ``seconds`` of bar time."""

    seconds: int
    start: int = -1
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    volume: float = 0.0
    count: int = 0

    def update(self, epoch: float, price: float, volume: float) -> bool:
        """Add a price; True when it began a new bar (the previous one is complete)."""
        start = int(epoch) - int(epoch) % self.seconds
        if start > self.start:
            new = self.start >= 0
            self.start = start
            self.open = self.high = self.low = self.close = price
            self.volume = volume
            self.count = 1 if volume else 0
            return new
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += volume
        self.count += 1 if volume else 0
        return False

    @property
    def wap(self) -> float:
        return round((self.high + self.low + self.close) / 3.0, 8)

    def reset(self, start: int, price: float) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.volume = 0.0
        self.count = 0
