"""Market hours from exchange_calendars: a strategy asks whether a market is open; the
engine told to trade only in session rejects an order outside one, with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockfish_core.data.settings import to_ns
from stockfish_core.models import OHLCVBar
from stockfish_core.orders import Order, OrderStatus
from stockfish_strategy import Backtest, BacktestError, Strategy
from stockfish_strategy.calendar import MarketHours


def ns(text: str) -> int:
    value = to_ns(text)
    assert value is not None
    return value


def test_sessions_and_holidays_of_the_nyse() -> None:
    hours = MarketHours("XNYS")
    assert hours.is_open(ns("2025-01-02T14:30:00Z"))      # 09:30 New York
    assert not hours.is_open(ns("2025-01-02T14:29:59Z"))
    assert not hours.is_open(ns("2025-01-02T21:00:00Z"))  # 16:00: closed
    assert not hours.is_open(ns("2025-01-01T15:00:00Z"))  # New Year's Day
    assert not hours.is_open(ns("2025-01-04T15:00:00Z"))  # a Saturday
    assert not hours.is_open(ns("2025-07-03T17:30:00Z"))  # the half day before the 4th
    with pytest.raises(ValueError, match="no calendar for exchange 'NOPE'"):
        MarketHours("NOPE")


class EveryBar(Strategy):
    def __init__(self) -> None:
        self.open_flags: list[bool] = []
        self.updates: list[Order] = []

    def on_bar(self, bar: OHLCVBar) -> None:
        self.open_flags.append(self.is_market_open("XNYS"))
        self.buy(bar.symbol, 1)

    def on_order_update(self, order: Order) -> None:
        self.updates.append(order)


def test_an_engine_in_session_only_rejects_orders_outside_one(bars: Path) -> None:
    strategy = EveryBar()
    results = Backtest(strategy, bars, session="XNYS").run()
    rejected = [o for o in strategy.updates if o.status is OrderStatus.REJECTED]
    in_session = sum(strategy.open_flags)
    assert 0 < in_session < len(strategy.open_flags) == 120
    assert len(rejected) == 120 - in_session
    assert all(o.reason and o.reason.startswith("market closed: XNYS") for o in rejected)
    assert len(results.fills) == in_session
    for time in results.fills["time"]:
        assert MarketHours("XNYS").is_open(time.value)
    with pytest.raises(BacktestError, match="--session: no calendar"):
        Backtest(EveryBar(), bars, session="NOPE")
