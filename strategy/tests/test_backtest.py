"""The backtester: a recording through the replay connector, the manager and the paper
venue, on the recording's clock; deterministic; clear errors for bad input."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stockfish_core.models import OHLCVBar, PriceTick
from stockfish_core.orders import Fill, Order, OrderStatus
from stockfish_strategy import Backtest, BacktestError, RiskLimits, Strategy, adapt
from stockfish_strategy.backtest import BATCH_SIZE, load_strategy_class
from stockfish_strategy.testing import HOUR_NS, T0, bar_updates, closes, record, tick_updates

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategy"
D = Decimal


def example(name: str, cls: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, cls)


def test_sma_crossover_trades_at_the_bar_closes_on_the_recordings_clock(bars: Path) -> None:
    strategy = example("sma_crossover", "SmaCrossover")()
    results = Backtest(strategy, bars, capital=10_000, commission="per_order:1").run()
    fills = results.fills
    assert len(fills) >= 4  # the wave crosses its averages several times
    prices = {T0 + i * HOUR_NS: D(str(c)) for i, c in enumerate(closes())}
    for row in fills.itertuples():
        # Every fill is at the close of the bar it was decided on, at that bar's time.
        assert row.price == prices[row.time.value]
        assert row.commission == D(1)
        assert row.quantity == D(10)
    sides = list(fills["side"])
    assert sides[0] == "BUY"
    assert all(a != b for a, b in itertools.pairwise(sides))  # in and out in turn
    summary = results.summary
    realized = sum(fills["realized_pnl"], D(0))
    assert summary["total_fills"] == len(fills)
    assert summary["commissions"] == D(len(fills))
    assert summary["realized_pnl"] == realized
    assert summary["account_value"] == D(10_000) + realized + summary["unrealized_pnl"] \
        - summary["commissions"]
    assert summary["total_errors"] == 0
    assert list(results.equity.index[:2]) == list(
        results.equity.index[:2].sort_values())  # market time, in order
    assert results.equity.index[0].value == T0


def test_two_runs_write_byte_identical_results(bars: Path, tmp_path: Path) -> None:
    cls = example("sma_crossover", "SmaCrossover")
    outputs = []
    for run in ("a", "b"):
        results = Backtest(cls(), bars, commission="per_share:0.005,min=1,max=0.01",
                           slippage="bps:1").run()
        outputs.append(results.write(tmp_path / run))
    for name, path in outputs[0].items():
        assert path.read_bytes() == outputs[1][name].read_bytes(), name
    report = outputs[0]["report"].read_text()
    assert "<svg" in report and "http://" not in report.split("<svg", 1)[0]
    assert "equity" in report and "drawdown" in report


def test_the_seeds_simple_moving_average_runs_unchanged(bars: Path) -> None:
    seed = example("seed_sma", "SimpleMovingAverage")()
    strategy = adapt(seed)
    results = Backtest(strategy, bars).run()
    own = Backtest(example("sma_crossover", "SmaCrossover")(), bars).run()
    assert len(seed.fills) == len(results.fills) > 0
    assert [f.order.side for f in seed.fills][:2] == ["buy", "sell"]
    # The seed's crossover and the Strategy API's make the same decisions.
    assert list(results.fills["price"]) == list(own.fills["price"])
    assert results.summary["account_value"] == own.summary["account_value"]


class Greedy(Strategy):
    """Buys more than the cash allows once, then a size it can pay."""

    def __init__(self) -> None:
        self.updates: list[Order] = []
        self.bars = 0

    def on_bar(self, bar: OHLCVBar) -> None:
        self.bars += 1
        if self.bars == 1:
            self.buy(bar.symbol, 1_000_000)
        elif self.bars == 2:
            self.buy(bar.symbol, 1)

    def on_order_update(self, order: Order) -> None:
        self.updates.append(order)


def test_an_order_failing_buying_power_is_rejected_with_its_reason_and_the_run_goes_on(
    bars: Path
) -> None:
    strategy = Greedy()
    results = Backtest(strategy, bars, capital=1_000).run()
    rejected = [o for o in strategy.updates if o.status is OrderStatus.REJECTED]
    assert len(rejected) == 1
    assert rejected[0].reason is not None and rejected[0].reason.startswith("buying power:")
    assert strategy.bars == 120
    assert list(results.fills["quantity"]) == [D(1)]
    assert results.orders["status"].iloc[0] == "REJECTED"


class Faulty(Strategy):
    def __init__(self, fail_from: int, fail_to: int) -> None:
        self.fail_from, self.fail_to = fail_from, fail_to
        self.bars = 0
        self.stopped = False

    def on_bar(self, bar: OHLCVBar) -> None:
        self.bars += 1
        if self.bars == 1:
            self.buy(bar.symbol, 1, price=1)  # a resting order, far below the market
        if self.fail_from <= self.bars < self.fail_to:
            raise RuntimeError(f"bad bar {self.bars}")

    def on_stop(self) -> None:
        self.stopped = True


def test_strategy_errors_are_counted_and_the_engine_goes_on(bars: Path) -> None:
    strategy = Faulty(5, 8)  # three errors, then fine
    results = Backtest(strategy, bars, limits=RiskLimits(max_consecutive_errors=5)).run()
    assert strategy.bars == 120
    assert results.summary["total_errors"] == 3
    assert [e["error"] for e in results.errors] == [f"RuntimeError: bad bar {i}"
                                                    for i in (5, 6, 7)]
    assert results.summary["stopped"] is None


def test_errors_in_a_row_stop_the_strategy_and_cancel_its_orders(
    bars: Path, caplog: pytest.LogCaptureFixture
) -> None:
    strategy = Faulty(3, 1000)
    results = Backtest(strategy, bars, limits=RiskLimits(max_consecutive_errors=4)).run()
    assert strategy.bars == 6  # bars 3, 4, 5, 6 failed: stopped, no more callbacks
    assert strategy.stopped
    assert results.summary["stopped"] == "4 errors in a row"
    assert list(results.orders["status"])[-1] == "CANCELLED"
    assert "Traceback" in caplog.text and "bad bar 3" in caplog.text


def test_a_drawdown_limit_stops_the_strategy(tmp_path: Path) -> None:
    falling = [100.0 - i for i in range(40)]
    data = record(tmp_path / "falling", bar_updates("AAPL", falling))

    class Holder(Strategy):
        def on_bar(self, bar: OHLCVBar) -> None:
            self.order_target(bar.symbol, 50)

    results = Backtest(Holder(), data, capital=10_000,
                       limits=RiskLimits(max_drawdown=D("0.05"))).run()
    assert results.summary["stopped"].startswith("drawdown limit")
    assert results.summary["max_drawdown"] >= 0.05


def test_clear_errors_for_bad_input(bars: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import no_such_module_here\n")
    with pytest.raises(BacktestError, match="does not import: ModuleNotFoundError"):
        load_strategy_class(f"{bad}:X")
    good = tmp_path / "good.py"
    good.write_text("class Mine:\n    pass\n")
    with pytest.raises(BacktestError, match=r"has no 'Other' \(classes there: Mine\)"):
        load_strategy_class(f"{good}:Other")
    with pytest.raises(BacktestError, match="no such file"):
        load_strategy_class(f"{tmp_path / 'nope.py'}:X")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BacktestError, match="holds no recording"):
        Backtest(Strategy(), empty).run()
    with pytest.raises(BacktestError, match="no such folder"):
        Backtest(Strategy(), tmp_path / "missing").run()
    with pytest.raises(BacktestError,
                       match=r"no data in the range .* holds days 2025-01-02 to 2025-01-07"):
        Backtest(Strategy(), bars, start="2030-01-01", end="2030-02-01").run()
    with pytest.raises(BacktestError, match="no data for MSFT"):
        Backtest(Strategy(), bars, symbols=["MSFT"]).run()
    with pytest.raises(BacktestError, match="--from: not an ISO date"):
        Backtest(Strategy(), bars, start="yesterday")


def test_fills_reach_on_fill_and_the_clock_is_the_markets(bars: Path) -> None:
    seen: list[tuple[Fill, Any]] = []

    class Once(Strategy):
        def on_bar(self, bar: OHLCVBar) -> None:
            if not self.position(bar.symbol) and not self.open_orders():
                self.buy(bar.symbol, 2)

        def on_fill(self, fill: Fill) -> None:
            seen.append((fill, self.now()))

    Backtest(Once(), bars).run()
    assert len(seen) == 1
    fill, now = seen[0]
    assert fill.timestamp_ns == T0  # filled at the first bar's close, at its time
    # The paper venue reports before the next bar reaches anyone (the replay hands over
    # bars in batches): the clock is still the first bar's.
    assert int(now.timestamp()) * 10**9 == T0


def test_every_error_is_counted_and_its_traceback_logging_is_rate_limited(
    bars: Path, caplog: pytest.LogCaptureFixture
) -> None:
    results = Backtest(Faulty(1, 1000), bars,
                       limits=RiskLimits(max_consecutive_errors=1000)).run()
    assert results.summary["total_errors"] == 120
    assert len(results.errors) == 120
    logged = [r for r in caplog.records if "raised (error" in r.getMessage()]
    assert 5 <= len(logged) < 120  # a burst of 5 a second, the rest counted


def test_a_fill_is_reported_before_the_next_update_of_a_batch(tmp_path: Path) -> None:
    # Fifty ticks: one batch of the replay. The order sent on the first tick fills on the
    # quote that tick showed, and the strategy sees the fill before the second tick.
    path = record(tmp_path / "ticks", tick_updates("AAPL", [100 + i / 100 for i in range(50)]))
    seen: list[tuple[int, Decimal, int]] = []

    class Probe(Strategy):
        def on_tick(self, tick: PriceTick) -> None:
            seen.append((tick.timestamp_ns, self.position("AAPL"), len(self.open_orders())))
            if len(seen) == 1:
                self.buy("AAPL", 5)

    assert BATCH_SIZE > 50
    results = Backtest(Probe(), path, symbols=["AAPL"]).run()
    assert len(seen) == 50
    assert seen[0][1:] == (D(0), 0)
    assert seen[1][1:] == (D(5), 0)  # filled and reported before the second tick
    assert results.fills["price"].tolist() == [D("100.01")]  # the first tick's ask
    assert results.fills["time"].tolist()[0].value == T0


def test_an_order_sent_from_on_fill_fills_on_the_quote_the_strategy_last_saw(
        tmp_path: Path) -> None:
    # The first fill is reported before the second tick reaches anyone; an order sent from
    # on_fill then fills on the first tick's quote, and is seen before the third tick.
    path = record(tmp_path / "ticks", tick_updates("AAPL", [100 + i for i in range(10)]))
    seen: list[Decimal] = []

    class Chain(Strategy):
        def on_tick(self, tick: PriceTick) -> None:
            seen.append(self.position("AAPL"))
            if len(seen) == 1:
                self.buy("AAPL", 1)

        def on_fill(self, fill: Fill) -> None:
            if fill.quantity == 1:
                self.buy("AAPL", 2)

    results = Backtest(Chain(), path, symbols=["AAPL"]).run()
    assert results.fills["price"].tolist() == [D("100.01"), D("100.01")]
    assert seen[:3] == [D(0), D(1), D(3)]
    # Nine seconds of data: the annualised return would overflow a float; it is nan.
    assert results.summary["annualized_return"] != results.summary["annualized_return"]
