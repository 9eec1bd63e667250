"""The paper venue: orders filled against the market the manager delivers from the
configured feeds (a running ``sim`` venue; a recording replayed), on the shared fill
engine: the touch plus slippage, limits when crossed, stops when triggered, partial fills
by displayed size, commission, latency in market time."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from stockfish_core.config import ManagerConfig
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import DataType, MarketUpdate, PriceTick
from stockfish_core.orders import Order, OrderSide, OrderStatus
from stockfish_core.testing import wait_until
from stockfish_strategy import Portfolio, Strategy, StrategyRunner
from stockfish_strategy.backtest import _settle
from stockfish_strategy.testing import T0, record, tick_updates

D = Decimal
SECOND = 1_000_000_000


async def test_a_market_order_fills_at_the_live_feeds_quote(tmp_path: Path) -> None:
    """The issue's case: the feed quotes ~450; the paper fill is at its ask, not at a
    price of its own."""
    manager = ExchangeManager(config=ManagerConfig(journal=str(tmp_path / "j.sqlite")))
    manager.add_connector("feed", "sim", data_only=True, seed=3, tick_interval=0.01,
                          start_prices={"SPY": 450.0})
    manager.add_connector("paper", "paper", commission="per_share:0.005,min=1,max=0.01")
    asks: list[float] = []

    class Asks:
        def on_price_tick(self, update: MarketUpdate) -> None:
            asks.append(update.payload.ask)

    manager.add_subscriber(Asks())
    changed = asyncio.Event()
    manager.add_subscriber(type("Poke", (), {"on_update": lambda self, u: changed.set(),
                                             "on_order_update": lambda self, o: changed.set()
                                             })())
    async with manager:
        await manager.subscribe_async([manager_sub("SPY")], ["feed"])
        await wait_until(lambda: asks, changed, 10, "a quote from the feed")
        order_id = manager.send_order(Order("SPY", OrderSide.BUY, 10), "paper")
        order = await wait_until(lambda: manager.get_order(order_id).is_final and
                                 manager.get_order(order_id), changed, 10, "the paper fill")
        assert order.status is OrderStatus.FILLED
        assert order.connector == "paper"
        price = order.avg_fill_price
        assert price is not None
        assert float(price) in asks  # exactly one of the asks the feed delivered
        assert 400 < price < 500
        [fill] = manager.journal.fills(order_id)
        assert (fill.connector, fill.quantity, fill.commission) == ("paper", D(10), D(1))


def manager_sub(symbol: str) -> Any:
    from stockfish_core.connector import Subscription

    return Subscription(symbol, DataType.PRICE_TICK)


class Scripted(Strategy):
    """Sends the given orders on the given tick numbers (1-based)."""

    def __init__(self, script: dict[int, list[dict[str, Any]]]) -> None:
        self.script = script
        self.ticks = 0
        self.updates: list[Order] = []

    def on_tick(self, tick: PriceTick) -> None:
        self.ticks += 1
        for spec in self.script.get(self.ticks, []):
            self.order(tick.symbol, **spec)

    def on_order_update(self, order: Order) -> None:
        self.updates.append(order)


async def replay(path: Path, strategy: Strategy, **paper: Any) -> StrategyRunner:
    manager = ExchangeManager(config=ManagerConfig(), journal=":memory:")
    manager.add_connector("replay", "replay", path=str(path), batch_size=1)
    conn = manager.add_connector("paper", "paper", **paper)
    runner = StrategyRunner(strategy, manager, portfolio=Portfolio(1_000_000), backtest=True,
                            connector="paper")
    async with manager:
        runner.start()
        await manager.subscribe_async([manager_sub("SPY")], ["replay"])
        await manager.get_connector("replay").state.done.wait()
        await _settle(runner, conn.state)
        runner.stop()
    return runner


def fills(runner: StrategyRunner) -> list[tuple[int, Decimal, Decimal]]:
    return [((f["time"] - T0) // SECOND, f["quantity"], f["price"]) for f in runner.fills]


async def test_limits_fill_when_crossed_stops_when_triggered(tmp_path: Path) -> None:
    mids = [100.0, 100.5, 101.0, 100.0, 99.0, 98.0, 99.5, 101.5, 102.0]
    data = record(tmp_path / "rec", tick_updates("SPY", mids, spread=0.2))
    strategy = Scripted({1: [{"quantity": 10, "price": D("99.00")},        # buy limit
                             {"quantity": -10, "stop_price": D("98.50")},  # sell stop
                             {"quantity": 10, "stop_price": D("101.40")}]})  # buy stop
    runner = await replay(data, strategy)
    assert fills(runner) == [
        (5, D(10), D("99.00")),    # tick 6: ask 98.1 crosses the limit: at the limit (tick
        #                            5's ask 99.1 did not)
        (5, D(10), D("97.90")),    # tick 6: bid 97.9 <= 98.5 triggers the stop: at the bid
        (7, D(10), D("101.60")),   # tick 8: ask 101.6 >= 101.4 triggers the stop: at the ask
    ]


async def test_partial_fills_by_displayed_size_slippage_and_commission(tmp_path: Path) -> None:
    data = record(tmp_path / "rec", tick_updates("SPY", [100.0] * 5, spread=0.2, size=500))
    strategy = Scripted({1: [{"quantity": 1200}]})
    runner = await replay(data, strategy, slippage="spread:0.5", commission="per_order:1")
    assert fills(runner) == [(0, D(500), D("100.2")), (1, D(500), D("100.2")),
                             (2, D(200), D("100.2"))]  # ask 100.1 plus half the 0.2 spread
    assert [f["commission"] for f in runner.fills] == [D(1), D(0), D(0)]
    unlimited = await replay(data, Scripted({1: [{"quantity": 1200}]}), partial_fills=False)
    assert fills(unlimited) == [(0, D(1200), D("100.1"))]


async def test_latency_is_counted_in_market_time(tmp_path: Path) -> None:
    mids = [100.0, 101.0, 102.0, 103.0, 104.0]
    data = record(tmp_path / "rec", tick_updates("SPY", mids, spread=0.2))
    runner = await replay(data, Scripted({1: [{"quantity": 1}]}), latency=2.0)
    assert fills(runner) == [(2, D(1), D("102.1"))]  # reached the venue with tick 3


async def test_a_crossed_quote_is_counted_and_left_out(tmp_path: Path) -> None:
    updates = tick_updates("SPY", [100.0, 100.0, 100.0], spread=0.2)
    bad = updates[1].payload
    updates[1] = MarketUpdate(DataType.PRICE_TICK, PriceTick("SPY", 101.0, 100.0, None, 5.0, 5.0,
                                                            None, None, bad.timestamp_ns),
                              "sim", 2, bad.timestamp_ns, bad.timestamp_ns)
    data = record(tmp_path / "rec", updates)
    strategy = Scripted({2: [{"quantity": 1, "price": D("100.10")}]})
    runner = await replay(data, strategy)
    paper = runner.manager.get_connector("paper")
    assert paper.state.bad_quotes == 1
    assert runner.manager.get_stats()["connectors"]["paper"]["data_errors"] == 1
    # The limit meets the first quote's ask (100.1); the crossed one (ask 100) was not used.
    assert fills(runner) == [(1, D(1), D("100.1"))]


async def test_the_paper_account_and_positions_follow_its_fills(tmp_path: Path) -> None:
    data = record(tmp_path / "rec", tick_updates("SPY", [100.0, 101.0, 102.0, 103.0],
                                                 spread=0.2))
    manager = ExchangeManager(config=ManagerConfig(), journal=":memory:")
    manager.add_connector("replay", "replay", path=str(data), batch_size=1)
    conn = manager.add_connector("paper", "paper", capital=50_000, commission="per_order:1")
    runner = StrategyRunner(Scripted({1: [{"quantity": 10}], 3: [{"quantity": -4}]}), manager,
                            portfolio=Portfolio(1_000_000), backtest=True, connector="paper")
    async with manager:
        runner.start()
        await manager.subscribe_async([manager_sub("SPY")], ["replay"])
        await manager.get_connector("replay").state.done.wait()
        await _settle(runner, conn.state)
        assert fills(runner) == [(0, D(10), D("100.1")), (2, D(4), D("101.9"))]
        account = await manager.account_async("paper")
        # 50,000 - 10 x 100.1 - 1 + 4 x 101.9 - 1 (two commissions); 6 at the last mid, 103.
        assert account.cash == D("49404.6") == account.buying_power
        assert account.equity == D("49404.6") + 6 * D(103)
        assert await manager.check_positions_async("paper") == []  # the venue agrees
        [position] = conn.state.venue_positions()
        assert (position.symbol, position.quantity, position.avg_cost) == ("SPY", D(6),
                                                                            D("100.1"))
        assert manager.positions("paper")["SPY"].quantity == D(6)
        runner.stop()
    assert runner.portfolio.quantity("SPY") == D(6)


def test_the_paper_capital_must_be_positive() -> None:
    import pytest

    from stockfish_strategy.paper import PaperConfig

    with pytest.raises(ValueError, match="capital must be > 0"):
        PaperConfig(capital=0)
