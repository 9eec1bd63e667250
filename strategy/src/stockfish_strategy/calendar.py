"""Market hours: exchange sessions and holidays from a maintained calendar library,
``exchange_calendars`` (``pip install stockfish-strategy[calendars]``)::

    hours = MarketHours("XNYS")        # NYSE; XNAS, XLON, XTKS, CMES...
    hours.is_open(now_ns)              # in a regular session (holidays and half days known)

A strategy asks with :meth:`Strategy.is_market_open`; the engine trades only in session
when given ``session="XNYS"`` (``stockfish backtest ... --session XNYS``): an order sent
outside a session is REJECTED with the reason before it leaves.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MarketHours"]

_MINUTE_NS = 60_000_000_000


class MarketHours:
    """The regular sessions of one exchange (an ``exchange_calendars`` code)."""

    def __init__(self, exchange: str) -> None:
        try:
            import exchange_calendars
        except ImportError:
            raise ImportError("market hours need exchange_calendars: pip install "
                              "stockfish-strategy[calendars]") from None
        try:
            self.calendar: Any = exchange_calendars.get_calendar(exchange)
        except Exception as exc:  # noqa: BLE001 - the library's own unknown-name error
            known = ", ".join(sorted(exchange_calendars.get_calendar_names())[:12])
            raise ValueError(f"no calendar for exchange {exchange!r} ({type(exc).__name__}"
                             f"); e.g. {known}...") from None
        self.exchange = exchange
        self._minute = -1
        self._open = False

    def is_open(self, ts_ns: int) -> bool:
        """Whether the exchange is in a regular session at ``ts_ns`` (UTC nanoseconds)."""
        minute = ts_ns // _MINUTE_NS
        if minute != self._minute:  # one calendar lookup a minute
            import pandas as pd

            stamp = pd.Timestamp(minute * _MINUTE_NS, unit="ns", tz="UTC")
            first, last = self.calendar.first_minute, self.calendar.last_minute
            self._open = bool(first <= stamp <= last
                              and self.calendar.is_open_on_minute(stamp))
            self._minute = minute
        return self._open
