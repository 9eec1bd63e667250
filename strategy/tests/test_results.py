"""The performance summary's figures, worked out by hand on a small equity curve."""

from __future__ import annotations

import math
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from stockfish_strategy.results import _summary


def _runner(traded_value: str) -> Any:
    portfolio = SimpleNamespace(
        initial_cash=Decimal("100"), equity=Decimal("119.79"), fill_count=4,
        cash=Decimal("119.79"), realized_pnl=Decimal("19.79"), unrealized_pnl=Decimal(0),
        commissions=Decimal("1"), traded_value=Decimal(traded_value),
        holdings=lambda: {})
    return SimpleNamespace(portfolio=portfolio, errors=[], stopped_reason=None)


def test_returns_risk_and_turnover_of_a_daily_equity_curve() -> None:
    # Daily returns +10%, -10%, +10%, +10%: mean 0.05, sample standard deviation 0.1;
    # the downside deviation over all four days is sqrt(0.1**2 / 4) = 0.05.
    days = pd.date_range("2026-01-05", periods=5, freq="1D")
    values = [100.0, 110.0, 99.0, 108.9, 119.79]
    peak = pd.Series(values).cummax().to_numpy()
    equity = pd.DataFrame({"equity": values, "drawdown": [v / p - 1 for v, p in
                                                           zip(values, peak, strict=True)]},
                          index=days)
    fills = pd.DataFrame({"realized_pnl": [0.0, 10.0, 0.0, -1.0]})
    summary = _summary(_runner("1076.74"), fills, equity)
    assert summary["total_return"] == pytest.approx(0.1979)
    assert summary["sharpe"] == pytest.approx(0.05 / 0.1 * math.sqrt(252))
    assert summary["sortino"] == pytest.approx(0.05 / 0.05 * math.sqrt(252))
    assert summary["annualized_volatility"] == pytest.approx(0.1 * math.sqrt(252))
    assert summary["max_drawdown"] == pytest.approx(0.1)
    assert summary["turnover"] == pytest.approx(1076.74 / (sum(values) / 5))
    assert (summary["trades"], summary["win_rate"]) == (2, 0.5)
    assert (summary["account_value"], summary["total_fills"], summary["total_errors"]) == \
        (Decimal("119.79"), 4, 0)
