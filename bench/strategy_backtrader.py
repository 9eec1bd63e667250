"""A peer as referee: the same moving-average crossover, on the same daily bars, with the
same commission, in stockfish-strategy's backtester and in backtrader (a bench-only
dependency: ``pip install backtrader``). The two must make the same trades and end with
the same equity to the cent; then the bars per second of both, in interleaved rounds
(the order rotated from round to round, bench/harness.py), with the process CPU time per
bar (median and range), the per-round ratios to backtrader and the load average.

The strategy: hold 10 shares while the 10-bar mean of the closes is above the 30-bar
mean, none otherwise; market orders, filled at the close of the bar that decided them
(backtrader: ``cheat_on_close``); 0.01 a share commission; 100,000 of cash.

    python bench/strategy_backtrader.py [--years 20] [--rounds 3] [--quick]

Writes bench/results/strategy_backtrader.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from harness import Report, Row, Sample, interleave, measure

from stockfish_core.data.settings import to_ns
from stockfish_core.models import OHLCVBar
from stockfish_core.sim.history import sim_bars
from stockfish_strategy import Backtest, Strategy
from stockfish_strategy.backtest import record_bars

FAST, SLOW, QTY, RATE, CASH = 10, 30, 10, 0.01, 100_000


class Crossover(Strategy):
    def on_bar(self, bar: OHLCVBar) -> None:
        closes = self.history(bar.symbol, SLOW)["close"]
        if len(closes) < SLOW:
            return
        above = closes.tail(FAST).mean() > closes.mean()
        self.order_target(bar.symbol, QTY if above else 0)


def ours(path: Path) -> tuple[list[tuple[str, str, int, float]], Decimal]:
    results = Backtest(Crossover(), path, capital=CASH, commission=f"per_unit:{RATE}").run()
    trades = [(t.date().isoformat(), side.lower(), int(q), round(float(p), 2))
              for t, side, q, p in zip(
        results.fills["time"], results.fills["side"], results.fills["quantity"],
        results.fills["price"], strict=True)]
    return trades, results.summary["account_value"]


def theirs(frame: pd.DataFrame) -> tuple[list[tuple[str, str, int, float]], float]:
    import backtrader as bt

    trades: list[tuple[str, str, int, float]] = []

    class Cross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.fast = bt.indicators.SimpleMovingAverage(self.data.close, period=FAST)
            self.slow = bt.indicators.SimpleMovingAverage(self.data.close, period=SLOW)

        def next(self) -> None:
            self.order_target_size(target=QTY if self.fast[0] > self.slow[0] else 0)

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                # The bar's close time: ours delivers a daily bar at its close.
                when = bt.num2date(order.executed.dt) + pd.Timedelta(days=1)
                trades.append((when.date().isoformat(), "buy" if order.isbuy() else "sell",
                               int(abs(order.executed.size)), round(order.executed.price, 2)))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(Cross)
    cerebro.broker.setcash(CASH)
    cerebro.broker.set_coc(True)
    cerebro.broker.setcommission(commission=RATE, commtype=bt.CommInfoBase.COMM_FIXED,
                                 stocklike=True)
    cerebro.run()
    return trades, cerebro.broker.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="two years of bars and 2 rounds (a check that it runs)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.years, args.rounds = 2, 2
    try:
        import backtrader  # noqa: F401
    except ImportError:
        print("backtrader is not installed (a bench-only dependency): pip install backtrader; "
              "skipped")
        return 0
    report = Report("strategy_backtrader", __doc__.splitlines()[0])
    start = to_ns("2000-01-01")
    assert start is not None
    bars = sim_bars(11, "AAPL", start, start + args.years * 365 * 86_400 * 10**9, "1d", 100.0)
    frame = pd.DataFrame({"open": [b.open for b in bars], "high": [b.high for b in bars],
                          "low": [b.low for b in bars], "close": [b.close for b in bars],
                          "volume": [b.volume for b in bars]},
                         index=pd.to_datetime([b.timestamp_ns for b in bars], unit="ns"))
    with tempfile.TemporaryDirectory() as tmp:
        path = record_bars({"AAPL": frame.tz_localize("UTC")}, "1d", Path(tmp) / "rec")
        our_trades, our_equity = ours(path)
        their_trades, their_equity = theirs(frame)
        same_trades = our_trades == their_trades
        same_equity = round(our_equity, 2) == round(Decimal(repr(their_equity)), 2)
        print(f"{len(bars)} daily bars; trades: ours {len(our_trades)}, backtrader "
              f"{len(their_trades)}, identical: {same_trades}")
        print(f"final equity: ours {our_equity:.2f}, backtrader {their_equity:.2f}, "
              f"to the cent: {same_equity}")
        if not same_trades:
            for a, b in zip(our_trades, their_trades, strict=False):
                if a != b:
                    print(f"  first difference: ours {a}, backtrader {b}")
                    break
        cases: dict[str, Callable[[], Sample]] = {
            "stockfish": lambda: measure(len(bars), lambda: ours(path)),
            "backtrader": lambda: measure(len(bars), lambda: theirs(frame)),
        }
        samples = interleave(cases, args.rounds, progress=print)
    row = report.add(Row.of("crossover backtest, stockfish", samples["stockfish"], unit="bar",
                            baseline="backtrader, same strategy and bars", bare=samples[
                                "backtrader"], goal="5x backtrader's rate", rate_goal=5.0,
                            bars=len(bars), same_trades=same_trades,
                            same_equity=same_equity))
    report.add(Row.of("crossover backtest, backtrader", samples["backtrader"], unit="bar",
                      bars=len(bars)))
    report.extra = {"bars": len(bars), "years": args.years, "trades": len(our_trades),
                    "backtrader_trades": len(their_trades), "same_trades": same_trades,
                    "equity": str(our_equity), "backtrader_equity": their_equity,
                    "same_equity": same_equity, "quick": args.quick}
    if not (same_trades and same_equity):
        row.verdict = "NOT met (results differ)"
    report.finish(args.out)
    return 0 if same_trades and same_equity else 1


if __name__ == "__main__":
    sys.exit(main())
