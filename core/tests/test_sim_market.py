"""The simulated venue's market-data generator: determinism, consistency of quotes, books,
trades and bars."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stockfish_core.models import OHLCVBar
from stockfish_core.sim.market import MarketSimulator, parse_interval

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND  # a whole second


def run(sim: MarketSimulator, symbol: str, steps: int, dt: int = SECOND // 10) -> list[tuple]:
    out = []
    for i in range(steps):
        step = sim.step(symbol, T0 + i * dt)
        trade = step.trade
        out.append((step.tick.bid, step.tick.ask, step.tick.bid_size, step.tick.ask_size,
                    None if trade is None else (trade.price, trade.size, trade.side)))
    return out


@pytest.mark.parametrize(("text", "ns"), [
    ("100ms", 100_000_000), ("5s", 5 * SECOND), ("1m", 60 * SECOND), ("1h", 3600 * SECOND),
    ("1d", 86_400 * SECOND), (" 2m ", 120 * SECOND),
])
def test_parse_interval(text: str, ns: int) -> None:
    assert parse_interval(text) == ns


@pytest.mark.parametrize("text", ["", "1", "m", "0s", "1w", "-1s", "1.5m"])
def test_parse_interval_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="not understood"):
        parse_interval(text)


def test_same_seed_same_path_other_seed_other_path() -> None:
    a = run(MarketSimulator(seed=42), "SPY", 200)
    b = run(MarketSimulator(seed=42), "SPY", 200)
    c = run(MarketSimulator(seed=43), "SPY", 200)
    assert a == b
    assert a != c


def test_a_symbol_path_does_not_depend_on_other_symbols_or_on_books() -> None:
    alone = run(MarketSimulator(seed=1), "SPY", 100)
    busy = MarketSimulator(seed=1)
    path = []
    for i in range(100):
        busy.step("QQQ", T0 + i)
        busy.book("SPY", 5)
        step = busy.step("SPY", T0 + i * SECOND // 10)
        trade = step.trade
        path.append((step.tick.bid, step.tick.ask, step.tick.bid_size, step.tick.ask_size,
                     None if trade is None else (trade.price, trade.size, trade.side)))
    assert path == alone


def test_quotes_are_on_the_grid_positive_and_not_crossed() -> None:
    sim = MarketSimulator(seed=5, tick_size="0.05", start_prices={"X": 1.0}, volatility=3.0)
    assert sim.quote("X").bid is not None
    for i in range(2000):
        tick = sim.step("X", T0 + i).tick
        assert tick.bid is not None
        assert tick.ask is not None
        assert 0 < tick.bid < tick.ask
        assert tick.bid_size is not None
        assert tick.bid_size > 0
        assert tick.bid_size % 100 == 0
        bid, ask, bsz, asz = sim.decimal_quote("X")
        assert bid % Decimal("0.05") == 0
        assert ask % Decimal("0.05") == 0
        assert (float(bid), float(ask), float(bsz), float(asz)) == (
            tick.bid, tick.ask, tick.bid_size, tick.ask_size)


def test_start_prices_and_default_price() -> None:
    sim = MarketSimulator(start_prices={"SPY": 450.0}, default_price=20.0, volatility=0.0)
    spy = sim.quote("SPY")
    other = sim.quote("ANY")
    assert spy.mid_price is not None
    assert abs(spy.mid_price - 450.0) <= 0.02
    assert other.mid_price is not None
    assert abs(other.mid_price - 20.0) <= 0.02
    assert set(sim.symbols) == {"SPY", "ANY"}


def test_zero_volatility_keeps_the_price_still() -> None:
    sim = MarketSimulator(volatility=0.0, max_spread=1)
    mids = {sim.step("A", T0 + i).tick.mid_price for i in range(50)}
    assert len(mids) == 1


def test_book_top_is_the_quote_and_levels_are_ordered() -> None:
    sim = MarketSimulator(seed=9)
    for i in range(20):
        tick = sim.step("SPY", T0 + i).tick
        book = sim.book("SPY", 7)
        assert book.symbol == "SPY"
        assert book.timestamp_ns == T0 + i
        assert book.sequence == i + 1
        assert len(book.bids) == 7
        assert len(book.asks) == 7
        assert book.bids[0].price == tick.bid
        assert book.asks[0].price == tick.ask
        assert book.bids[0].size == tick.bid_size
        assert book.asks[0].size == tick.ask_size
        assert [lv.price for lv in book.bids] == sorted((lv.price for lv in book.bids),
                                                        reverse=True)
        assert [lv.price for lv in book.asks] == sorted(lv.price for lv in book.asks)
        assert len({lv.price for lv in book.bids}) == 7
        assert all(lv.size > 0 for lv in book.bids + book.asks)
    with pytest.raises(ValueError, match="depth"):
        sim.book("SPY", 0)


def test_trades_print_at_the_quote_and_add_to_volume() -> None:
    sim = MarketSimulator(seed=3, trade_probability=0.5)
    volume = 0.0
    ids = set()
    trades = 0
    for i in range(300):
        step = sim.step("SPY", T0 + i)
        trade = step.trade
        if trade is None:
            continue
        trades += 1
        volume += trade.size
        ids.add(trade.trade_id)
        expected = step.tick.ask if trade.side == "buy" else step.tick.bid
        assert trade.price == expected
        assert step.tick.last == trade.price
        assert step.tick.last_size == trade.size
        assert trade.timestamp_ns == T0 + i
    assert 100 < trades < 200
    assert len(ids) == trades
    assert sim.quote("SPY").volume == volume


@pytest.mark.parametrize(("probability", "expected"), [(0.0, 0), (1.0, 50)])
def test_trade_probability_extremes(probability: float, expected: int) -> None:
    sim = MarketSimulator(trade_probability=probability)
    assert sum(sim.step("A", T0 + i).trade is not None for i in range(50)) == expected


def test_bars_are_cut_on_period_boundaries_from_the_step_prices() -> None:
    sim = MarketSimulator(seed=11, trade_probability=0.5)
    sim.add_bars("SPY", "1s")
    # Join 0.35 s into a second: that first, partial second yields no bar.
    start = T0 + 350_000_000
    dt = SECOND // 10
    emitted: list[OHLCVBar] = []
    prices: dict[int, list[float]] = {}
    volumes: dict[int, float] = {}
    for i in range(40):
        ts = start + i * dt
        step = sim.step("SPY", ts)
        ref = step.trade.price if step.trade is not None else step.tick.mid_price
        assert ref is not None
        period = ts - ts % SECOND
        prices.setdefault(period, []).append(ref)
        volumes[period] = volumes.get(period, 0.0) + (step.trade.size if step.trade else 0.0)
        for bar in step.bars:
            assert bar.timestamp_ns < period  # only completed bars come out
        emitted.extend(step.bars)
    periods = sorted(prices)
    # The partial first second is skipped; the last, unfinished second is not out yet.
    assert [b.timestamp_ns for b in emitted] == periods[1:-1]
    for bar in emitted:
        seen = prices[bar.timestamp_ns]
        assert (bar.open, bar.high, bar.low, bar.close) == pytest.approx(
            (seen[0], max(seen), min(seen), seen[-1]), abs=1e-9)
        assert bar.volume == volumes[bar.timestamp_ns]
        assert bar.interval == "1s"
        assert bar.symbol == "SPY"


def test_bars_for_several_intervals_and_removal() -> None:
    sim = MarketSimulator()
    sim.add_bars("A", "100ms")
    sim.add_bars("A", "1s")
    intervals = [b.interval for i in range(30) for b in sim.step("A", T0 + i * SECOND // 10).bars]
    assert intervals.count("100ms") == 28
    assert intervals.count("1s") == 1
    sim.remove_bars("A", "100ms")
    assert all(b.interval == "1s" for i in range(30, 60)
               for b in sim.step("A", T0 + i * SECOND // 10).bars)
    with pytest.raises(ValueError, match="not understood"):
        sim.add_bars("A", "soon")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tick_size": "0"}, "tick_size"), ({"default_price": 0.0}, "default_price"),
    ({"volatility": -1.0}, "volatility"), ({"max_spread": 0}, "max_spread"),
    ({"lot_size": 0}, "lot_size"), ({"trade_probability": 1.5}, "trade_probability"),
])
def test_settings_are_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MarketSimulator(**kwargs)  # type: ignore[arg-type]


def test_stepping_an_unknown_symbol_adds_it() -> None:
    sim = MarketSimulator()
    step = sim.step("NEW", T0)
    assert step.tick.symbol == "NEW"
    assert "NEW" in sim.symbols
