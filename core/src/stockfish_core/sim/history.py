"""The ``sim`` venue's history: seeded synthetic bars for any symbol and interval.

A bar depends only on the seed, the symbol, the interval and its start time, never on
the range asked for, so overlapping requests agree (as a real venue's history does).
The price path is a sum of slow sine waves with phases drawn from the seed: smooth,
deterministic and computable at any instant without simulating what came before.
"""

from __future__ import annotations

import hashlib
import math
import random
from decimal import Decimal

from ..models import OHLCVBar, Trade
from .market import parse_interval

__all__ = ["MAX_BARS", "sim_bars", "sim_trades"]

#: The most bars (or ticks) one request returns; a longer range is an error.
MAX_BARS = 1_000_000

_PERIODS_S = (3_600.0 * 7, 86_400.0 * 3.1, 86_400.0 * 17.3, 86_400.0 * 91.7)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class _Path:
    def __init__(self, seed: int, symbol: str, start_price: float) -> None:
        rng = _rng(seed, symbol, "path")
        self.base = start_price
        self.waves = [(0.02 + 0.04 * rng.random(), p, rng.random() * 2 * math.pi)
                      for p in _PERIODS_S]

    def price(self, ns: int) -> float:
        t = ns / 1e9
        x = sum(a * math.sin(2 * math.pi * t / p + phase) for a, p, phase in self.waves)
        return self.base * math.exp(x)


def _round(value: float, tick: Decimal) -> float:
    return float((Decimal(repr(value)) / tick).to_integral_value() * tick)


def sim_bars(seed: int, symbol: str, start_ns: int, end_ns: int, interval: str,
             start_price: float = 100.0, tick_size: Decimal = Decimal("0.01")) -> list[OHLCVBar]:
    """Bars of ``interval`` starting in ``[start_ns, end_ns)``, on the interval's grid."""
    step = parse_interval(interval)
    first = -(-start_ns // step) * step
    count = max(0, -(-(end_ns - first) // step))
    if count > MAX_BARS:
        raise ValueError(f"{count} bars of {interval} asked for; at most {MAX_BARS} at once")
    path = _Path(seed, symbol, start_price)
    bars = []
    for i in range(count):
        ts = first + i * step
        o, c = path.price(ts), path.price(ts + step)
        rng = _rng(seed, symbol, interval, ts)
        spread = abs(c - o) + o * 0.001 * rng.random()
        high = _round(max(o, c) + spread * rng.random() * 0.5, tick_size)
        low = _round(max(float(tick_size), min(o, c) - spread * rng.random() * 0.5), tick_size)
        o, c = _round(o, tick_size), _round(c, tick_size)
        bars.append(OHLCVBar(symbol, o, max(high, o, c), min(low, o, c), c,
                             float(rng.randint(1, 1000) * 100), interval, ts))
    return bars


def sim_trades(seed: int, symbol: str, start_ns: int, end_ns: int, start_price: float = 100.0,
               tick_size: Decimal = Decimal("0.01"), every_ns: int = 1_000_000_000) -> list[Trade]:
    """One trade a second (``every_ns``) in ``[start_ns, end_ns)``."""
    first = -(-start_ns // every_ns) * every_ns
    count = max(0, -(-(end_ns - first) // every_ns))
    if count > MAX_BARS:
        raise ValueError(f"{count} ticks asked for; at most {MAX_BARS} at once")
    path = _Path(seed, symbol, start_price)
    out = []
    for i in range(count):
        ts = first + i * every_ns
        rng = _rng(seed, symbol, "trade", ts)
        out.append(Trade(symbol, _round(path.price(ts), tick_size),
                         float(rng.randint(1, 10) * 100), "buy" if rng.random() < 0.5 else "sell",
                         f"{symbol}-h{ts}", ts))
    return out
