"""A seeded random-walk market for any symbol: quotes, order books, trades and bars.

Prices move on a grid of ``tick_size``; internally every price is an integer number of
ticks, so the float prices of the market-data models and the exact Decimal quote handed
to the matching engine (:meth:`MarketSimulator.decimal_quote`) always agree.

Deterministic: each symbol has its own random stream, seeded from ``(seed, symbol)``, so a
symbol's path depends only on the seed and on how many times it was stepped (not on which
other symbols exist). Order books draw from a second stream per symbol, so asking for a
book never changes the price path. Timestamps are passed in (or taken from ``clock``):
bars are cut on those timestamps, so a run with given timestamps is fully reproducible.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from decimal import Decimal

import attrs

from ..models import OHLCVBar, OrderBookLevel, OrderBookSnapshot, PriceTick, Trade

__all__ = ["MarketSimulator", "MarketStep", "parse_interval"]

_UNITS = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
          "d": 86_400_000_000_000}
_INTERVAL = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")


def parse_interval(interval: str) -> int:
    """``"100ms"``, ``"5s"``, ``"1m"``, ``"1h"``, ``"1d"`` to nanoseconds; ValueError if not."""
    match = _INTERVAL.match(interval) if isinstance(interval, str) else None
    if match is None or int(match.group(1)) <= 0:
        raise ValueError(
            f"bar interval {interval!r} is not understood; use e.g. 100ms, 5s, 1m, 1h, 1d"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


@attrs.define(slots=True)
class MarketStep:
    """What one step of one symbol produced."""

    tick: PriceTick
    #: A trade printed on this step, if any.
    trade: Trade | None
    #: Bars completed by this step (one per bar interval whose period just ended). The
    #: first period after :meth:`MarketSimulator.add_bars` is partial and not emitted.
    bars: list[OHLCVBar]


@attrs.define(slots=True, eq=False)
class _Bar:
    interval: str
    interval_ns: int
    start_ns: int = -1
    partial: bool = True
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    volume: float = 0.0


@attrs.define(slots=True, eq=False)
class _Symbol:
    symbol: str
    rng: random.Random
    book_rng: random.Random
    center: int  # ticks
    bid: int = 0
    ask: int = 0
    bid_size: int = 0
    ask_size: int = 0
    last: int | None = None
    last_size: int | None = None
    volume: int = 0
    steps: int = 0
    trades: int = 0
    timestamp_ns: int = 0
    bars: dict[str, _Bar] = attrs.Factory(dict)


class MarketSimulator:
    """Random-walk quotes for any number of symbols, stepped on demand."""

    def __init__(
        self,
        seed: int = 0,
        *,
        tick_size: Decimal | str | float = Decimal("0.01"),
        start_prices: Mapping[str, float] | None = None,
        default_price: float = 100.0,
        volatility: float = 1.0,
        max_spread: int = 3,
        lot_size: int = 100,
        max_lots: int = 10,
        trade_probability: float = 0.3,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        """
        :param seed: the seed of every random stream.
        :param tick_size: the price grid.
        :param start_prices: first mid price per symbol; others start at ``default_price``.
        :param volatility: standard deviation of one step's move, in ticks.
        :param max_spread: the widest spread drawn, in ticks (at least 1).
        :param lot_size: sizes are whole lots of this many units.
        :param max_lots: the largest quoted size per level, in lots.
        :param trade_probability: the chance that a step prints a trade.
        :param clock: timestamps for steps that are not given one.
        """
        self.seed = seed
        self.tick_size = Decimal(repr(tick_size)) if isinstance(tick_size, float) else Decimal(
            tick_size
        )
        if self.tick_size <= 0:
            raise ValueError(f"tick_size must be positive, got {tick_size}")
        if default_price <= 0 or volatility < 0 or max_spread < 1 or lot_size < 1:
            raise ValueError("default_price > 0, volatility >= 0, max_spread >= 1, lot_size >= 1")
        if max_lots < 1 or not 0.0 <= trade_probability <= 1.0:
            raise ValueError("max_lots >= 1 and 0 <= trade_probability <= 1")
        self._tick_float = float(self.tick_size)
        exponent = self.tick_size.normalize().as_tuple().exponent
        self._digits = max(0, -exponent) if isinstance(exponent, int) else 8
        self.start_prices = dict(start_prices or {})
        self.default_price = default_price
        self.volatility = volatility
        self.max_spread = max_spread
        self.lot_size = lot_size
        self.max_lots = max_lots
        self.trade_probability = trade_probability
        self.clock = clock
        self._symbols: dict[str, _Symbol] = {}

    # -- symbols -------------------------------------------------------------------------
    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def add_symbol(self, symbol: str, start_price: float | None = None) -> None:
        """Start quoting ``symbol`` (a no-op if it is known); it gets a first quote now."""
        if symbol in self._symbols:
            return
        price = start_price if start_price is not None else self.start_prices.get(
            symbol, self.default_price
        )
        if price <= 0:
            raise ValueError(f"{symbol}: start price must be positive, got {price}")
        center = max(self._min_center, round(price / self._tick_float))
        state = _Symbol(
            symbol,
            random.Random(f"{self.seed}/{symbol}"),
            random.Random(f"{self.seed}/{symbol}/book"),
            center,
        )
        self._symbols[symbol] = state
        self._requote(state)
        state.timestamp_ns = self.clock()

    def add_bars(self, symbol: str, interval: str) -> None:
        """Build bars of ``interval`` for ``symbol`` from now on (steps then return them)."""
        self.add_symbol(symbol)
        bars = self._symbols[symbol].bars
        if interval not in bars:
            bars[interval] = _Bar(interval, parse_interval(interval))

    def remove_bars(self, symbol: str, interval: str) -> None:
        state = self._symbols.get(symbol)
        if state is not None:
            state.bars.pop(interval, None)

    # -- stepping ------------------------------------------------------------------------
    def step(self, symbol: str, timestamp_ns: int | None = None) -> MarketStep:
        """Move ``symbol`` one step: a new quote, maybe a trade, any completed bars."""
        state = self._symbols.get(symbol)
        if state is None:
            self.add_symbol(symbol)
            state = self._symbols[symbol]
        ts = self.clock() if timestamp_ns is None else timestamp_ns
        rng = state.rng
        move = round(rng.gauss(0.0, self.volatility)) if self.volatility else 0
        state.center = max(self._min_center, state.center + move)
        self._requote(state)
        state.steps += 1
        state.timestamp_ns = ts
        trade = None
        if rng.random() < self.trade_probability:
            buy = rng.random() < 0.5
            size = rng.randint(1, self.max_lots) * self.lot_size
            price_ticks = state.ask if buy else state.bid
            state.trades += 1
            state.last = price_ticks
            state.last_size = size
            state.volume += size
            trade = Trade(symbol, self._px(price_ticks), float(size), "buy" if buy else "sell",
                          f"{symbol}-{state.trades}", ts)
        bars: list[OHLCVBar] = []
        if state.bars:
            ref = trade.price if trade is not None else round(
                (state.bid + state.ask) * self._tick_float / 2.0, self._digits + 1
            )
            volume = trade.size if trade is not None else 0.0
            for bar in state.bars.values():
                done = self._update_bar(symbol, bar, ts, ref, volume)
                if done is not None:
                    bars.append(done)
        return MarketStep(self._tick(state), trade, bars)

    # -- views ---------------------------------------------------------------------------
    def quote(self, symbol: str) -> PriceTick:
        """The current quote of ``symbol`` (added if new)."""
        self.add_symbol(symbol)
        return self._tick(self._symbols[symbol])

    def decimal_quote(self, symbol: str) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """The current ``(bid, ask, bid_size, ask_size)`` as exact Decimals."""
        self.add_symbol(symbol)
        s = self._symbols[symbol]
        t = self.tick_size
        return s.bid * t, s.ask * t, Decimal(s.bid_size), Decimal(s.ask_size)

    def book(self, symbol: str, depth: int) -> OrderBookSnapshot:
        """An order book of ``depth`` levels per side whose top is the current quote."""
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.add_symbol(symbol)
        s = self._symbols[symbol]
        rng = s.book_rng
        bids = [OrderBookLevel(self._px(s.bid), float(s.bid_size), rng.randint(1, 5))]
        asks = [OrderBookLevel(self._px(s.ask), float(s.ask_size), rng.randint(1, 5))]
        bid, ask = s.bid, s.ask
        lot, lots = self.lot_size, self.max_lots
        for _ in range(depth - 1):
            bid -= rng.randint(1, 2)
            ask += rng.randint(1, 2)
            if bid >= 1:
                bids.append(OrderBookLevel(self._px(bid), float(rng.randint(1, lots) * lot),
                                           rng.randint(1, 9)))
            asks.append(OrderBookLevel(self._px(ask), float(rng.randint(1, lots) * lot),
                                       rng.randint(1, 9)))
        return OrderBookSnapshot(symbol, bids, asks, s.steps, s.timestamp_ns)

    # -- internals -----------------------------------------------------------------------
    @property
    def _min_center(self) -> int:
        return self.max_spread + 1

    def _px(self, ticks: int) -> float:
        return round(ticks * self._tick_float, self._digits)

    def _requote(self, s: _Symbol) -> None:
        rng = s.rng
        spread = rng.randint(1, self.max_spread)
        s.bid = s.center - spread // 2
        s.ask = s.bid + spread
        s.bid_size = rng.randint(1, self.max_lots) * self.lot_size
        s.ask_size = rng.randint(1, self.max_lots) * self.lot_size

    def _tick(self, s: _Symbol) -> PriceTick:
        return PriceTick(
            s.symbol, self._px(s.bid), self._px(s.ask),
            None if s.last is None else self._px(s.last),
            float(s.bid_size), float(s.ask_size),
            None if s.last_size is None else float(s.last_size),
            float(s.volume), s.timestamp_ns,
        )

    @staticmethod
    def _update_bar(
        symbol: str, bar: _Bar, ts: int, price: float, volume: float
    ) -> OHLCVBar | None:
        start = ts - ts % bar.interval_ns
        if start > bar.start_ns:
            done = None
            if bar.start_ns >= 0 and not bar.partial:
                done = OHLCVBar(symbol, bar.open, bar.high, bar.low, bar.close, bar.volume,
                                bar.interval, bar.start_ns)
            bar.partial = bar.start_ns < 0  # the first period was joined late: not emitted
            bar.start_ns = start
            bar.open = bar.high = bar.low = bar.close = price
            bar.volume = volume
            return done
        # Same period (or a timestamp from the past, folded into the current bar).
        bar.high = max(bar.high, price)
        bar.low = min(bar.low, price)
        bar.close = price
        bar.volume += volume
        return None
