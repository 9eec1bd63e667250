"""Historical and streaming bars for the simulated gateway.

Historical bars are cut by the core's :class:`~stockfish_core.sim.market.MarketSimulator`
from a walk that is deterministic per (seed, instrument, bar size), so asking twice gives
the same bars. Streaming bars (``keepUpToDate`` and real-time 5-second bars) are built
from the live market's steps by :class:`RunningBar`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from decimal import Decimal

import attrs

from stockfish_core.sim.market import MarketSimulator

from .instruments import Instrument

__all__ = [
    "BarRow",
    "HistoryError",
    "RunningBar",
    "bar_seconds",
    "duration_seconds",
    "format_bar_time",
    "make_bars",
]

#: (date, open, high, low, close, volume, wap, count), as the historicalData message has it.
BarRow = tuple[str, float, float, float, float, float, float, int]

_BAR = re.compile(r"^\s*(\d+)\s+(secs?|mins?|hours?|days?|weeks?|months?)\s*$")
_BAR_UNITS = {"sec": 1, "min": 60, "hour": 3600, "day": 86400, "week": 7 * 86400,
              "month": 30 * 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([SDWMY])\s*$")
_DURATION_UNITS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}
MAX_BARS = 5000
_STEPS_PER_BAR = 4


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


def make_bars(inst: Instrument, bar_size: str, duration: str, end_epoch: int, seed: int,
              what_to_show: str, format_date: int) -> list[BarRow]:
    """The bars of ``duration`` ending at ``end_epoch`` (the last one may be partial)."""
    secs = bar_seconds(bar_size)
    span = duration_seconds(duration)
    count = max(1, span // secs)
    if count > MAX_BARS:
        raise HistoryError(162, "Historical Market Data Service error message:Time length "
                                f"exceed max. ({count} bars of {bar_size!r} in {duration!r})")
    step_secs = secs / _STEPS_PER_BAR
    volatility = max(0.2, 0.0001 * inst.price / inst.min_tick * math.sqrt(step_secs))
    interval = f"{secs}s"
    market = MarketSimulator(
        seed, tick_size=Decimal(repr(inst.min_tick)), start_prices={inst.key: inst.price},
        volatility=volatility, trade_probability=0.8,
        lot_size=100 if inst.sec_type == "STK" else 1,
    )
    market.add_bars(inst.key, interval)
    last_start = end_epoch - end_epoch % secs
    first_start = last_start - (count - 1) * secs
    # One bar period before the first to warm up (the first period is never emitted).
    t_ns = (first_start - secs) * 1_000_000_000
    step_ns = int(step_secs * 1_000_000_000)
    end_ns = (last_start + secs) * 1_000_000_000
    trades = what_to_show.upper() in ("TRADES", "ADJUSTED_LAST")
    rows: list[BarRow] = []
    while t_ns <= end_ns and len(rows) < count:
        for bar in market.step(inst.key, t_ns).bars:
            start = bar.timestamp_ns // 1_000_000_000
            if start < first_start:
                continue
            volume = bar.volume if trades else -1.0
            wap = round((bar.high + bar.low + bar.close) / 3.0, 8)
            n = int(bar.volume // 100) if trades else -1
            rows.append((format_bar_time(start, secs, format_date), bar.open, bar.high,
                         bar.low, bar.close, volume, wap, n))
        t_ns += step_ns
    return rows


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
