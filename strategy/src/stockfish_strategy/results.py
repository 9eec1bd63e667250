"""What a run produced: fills, orders, trades and the equity curve as DataFrames, the
performance summary, and files (CSV, JSON, the HTML report). The same for a backtest, a
paper run and a live run.

Figures of the summary: ``account_value`` (final equity), ``positions``, ``total_fills``,
``total_errors`` (the seed's keys), ``total_return``, ``annualized_return``,
``annualized_volatility``, ``sharpe``, ``sortino`` (risk-free rate 0), ``max_drawdown``
(a fraction of the peak), ``win_rate`` (of closed trades: fills that realized PnL),
``turnover`` (value traded over the average equity), ``commissions``, ``realized_pnl``,
``unrealized_pnl``. Returns are those of the equity curve resampled to days (when it spans
two days or more) and annualized with 252 days; a shorter curve uses its own points,
annualized by their median spacing.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import pandas as pd

    from .strategy import StrategyRunner

__all__ = ["Results"]

_YEAR_S = 365.25 * 86_400


def _num(value: Any) -> Any:
    """Decimal -> str for JSON (exact), float -> rounded float, NaN -> None."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 10)
    if isinstance(value, dict):
        return {k: _num(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_num(v) for v in value]
    return value


@attrs.define
class Results:
    """The outcome of one run of one strategy."""

    strategy: str
    mode: str
    initial_capital: Decimal
    fills: pd.DataFrame
    orders: pd.DataFrame
    equity: pd.DataFrame
    summary: dict[str, Any]
    errors: list[dict[str, str]]

    @property
    def trades(self) -> pd.DataFrame:
        """Fills that closed a position (in part), with the PnL they realized."""
        fills = self.fills
        if fills.empty:
            return fills
        return fills[fills["realized_pnl"] != 0]

    @classmethod
    def from_runner(cls, runner: StrategyRunner, mode: str) -> Results:
        import pandas as pd

        portfolio = runner.portfolio
        fills = pd.DataFrame(runner.fills, columns=[
            "time", "order_id", "execution_id", "symbol", "side", "quantity", "price",
            "commission", "realized_pnl", "position"])
        fills["time"] = pd.to_datetime(fills["time"], unit="ns", utc=True)
        orders = pd.DataFrame(runner.order_log, columns=[
            "time", "order_id", "symbol", "side", "type", "quantity", "price", "stop_price",
            "status", "filled", "reason"])
        orders["time"] = pd.to_datetime(orders["time"], unit="ns", utc=True)
        equity = pd.DataFrame(runner.equity, columns=["time", "equity", "cash"])
        equity["time"] = pd.to_datetime(equity["time"], unit="ns", utc=True)
        equity = equity.set_index("time")
        peak = equity["equity"].map(float).cummax() if len(equity) else equity["equity"]
        equity["drawdown"] = (equity["equity"].map(float) / peak - 1.0) if len(equity) else []
        errors = [{"time": e.timestamp.isoformat(), "callback": e.callback, "error": e.error}
                  for e in runner.errors]
        summary = _summary(runner, fills, equity)
        strategy = getattr(runner.strategy, "inner", runner.strategy)  # a seed-style one
        return cls(type(strategy).__name__, mode, portfolio.initial_cash, fills, orders,
                   equity, summary, errors)

    def write(self, folder: str | Path) -> dict[str, Path]:
        """fills.csv, orders.csv, trades.csv, equity.csv, summary.json and report.html
        under ``folder`` (created); returns their paths by name."""
        from .report import html_report

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = {name: out / f"{name}.csv" for name in ("fills", "orders", "trades", "equity")}
        self.fills.to_csv(paths["fills"], index=False)
        self.orders.to_csv(paths["orders"], index=False)
        self.trades.to_csv(paths["trades"], index=False)
        self.equity.to_csv(paths["equity"])
        paths["summary"] = out / "summary.json"
        paths["summary"].write_text(json.dumps(
            {"strategy": self.strategy, "mode": self.mode, "summary": _num(self.summary),
             "errors": self.errors}, indent=2, sort_keys=True) + "\n")
        paths["report"] = out / "report.html"
        paths["report"].write_text(html_report(self))
        return paths


def _summary(runner: StrategyRunner, fills: pd.DataFrame, equity: pd.DataFrame
             ) -> dict[str, Any]:
    import numpy as np

    portfolio = runner.portfolio
    initial = portfolio.initial_cash
    final = portfolio.equity
    values = equity["equity"].map(float) if len(equity) else None
    span_s = 0.0
    if values is not None and len(values) > 1:
        span_s = (equity.index[-1] - equity.index[0]).total_seconds()
    returns: Any = None
    periods_per_year = 0.0
    if values is not None and len(values) > 1:
        if span_s >= 2 * 86_400:
            daily = values.resample("1D").last().dropna()
            returns = daily.pct_change().dropna()
            periods_per_year = 252.0
        else:
            returns = values.pct_change().dropna()
            spacing = float(np.median(np.diff(equity.index.asi8))) / 1e9
            periods_per_year = _YEAR_S / spacing if spacing > 0 else 0.0
    total_return = float(final / initial - 1)
    annualized_return = float("nan")
    if span_s > 0:
        years = span_s / _YEAR_S
        try:
            annualized_return = ((1 + total_return) ** (1 / years) - 1
                                 if total_return > -1 else -1.0)
        except OverflowError:  # seconds of data: a yearly figure would mean nothing
            annualized_return = float("nan")
    vol = sharpe = sortino = float("nan")
    if returns is not None and len(returns) > 1 and periods_per_year:
        std = float(returns.std(ddof=1))
        mean = float(returns.mean())
        vol = std * math.sqrt(periods_per_year)
        if std > 0:
            sharpe = mean / std * math.sqrt(periods_per_year)
        downside = returns[returns < 0]
        down = float(np.sqrt((downside ** 2).sum() / len(returns)))
        if down > 0:
            sortino = mean / down * math.sqrt(periods_per_year)
    max_dd = max(0.0, float(-equity["drawdown"].min())) if len(equity) else 0.0
    closed = fills[fills["realized_pnl"] != 0] if len(fills) else fills
    wins = int((closed["realized_pnl"] > 0).sum()) if len(closed) else 0
    avg_equity = float(values.mean()) if values is not None and len(values) else float(initial)
    return {
        "account_value": final,
        "positions": {s: q for s, q in portfolio.holdings().items()},
        "total_fills": portfolio.fill_count,
        "total_errors": len(runner.errors),
        "initial_capital": initial,
        "cash": portfolio.cash,
        "realized_pnl": portfolio.realized_pnl,
        "unrealized_pnl": portfolio.unrealized_pnl,
        "commissions": portfolio.commissions,
        "total_return": total_return,
        "annualized_return": annualized_return,
        "annualized_volatility": vol,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": max_dd,
        "trades": len(closed),
        "win_rate": wins / len(closed) if len(closed) else float("nan"),
        "turnover": float(portfolio.traded_value) / avg_equity if avg_equity else float("nan"),
        "stopped": runner.stopped_reason,
    }
