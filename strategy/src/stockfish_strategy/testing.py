"""Test support for strategies: recordings written directly (what ``stockfish record``
writes), with deterministic prices."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from stockfish_core.data.recorder import Recorder
from stockfish_core.data.settings import RecordingConfig
from stockfish_core.models import DataType, MarketUpdate, OHLCVBar, PriceTick

__all__ = ["DAY_NS", "HOUR_NS", "T0", "bar_updates", "closes", "record", "tick_updates"]

DAY_NS = 86_400_000_000_000
HOUR_NS = 3_600_000_000_000
#: 2025-01-02T21:00:00Z.
T0 = 1_735_851_600_000_000_000


def record(path: Path, updates: Iterable[MarketUpdate]) -> Path:
    """Write ``updates`` as a recording under ``path``; OSError if not all of them were."""
    recorder = Recorder(RecordingConfig(str(path))).start()
    count = 0
    for update in updates:
        recorder.on_update(update)
        count += 1
    recorder.close(timeout=300)  # a file a day: years of daily bars are many files
    stats = recorder.stats()
    if stats["write_errors"] or stats["recorded"] != count:
        raise OSError(f"recording to {path} failed: {stats['recorded']} of {count} updates "
                      f"recorded, {stats['write_errors']} write error(s)")
    return path


def closes(n: int = 120, start: float = 100.0) -> list[float]:
    """A deterministic wave with a drift: crosses its moving averages several times."""
    return [round(start + 10 * math.sin(i / 6) + 0.05 * i, 2) for i in range(n)]


def bar_updates(symbol: str, prices: list[float], *, t0: int = T0, step: int = HOUR_NS,
                interval: str = "1h", source: str = "sim") -> list[MarketUpdate]:
    """One bar per price (its close), ``step`` apart from ``t0``."""
    out = []
    for i, close in enumerate(prices):
        ts = t0 + i * step
        prev = prices[i - 1] if i else close
        bar = OHLCVBar(symbol, prev, max(prev, close) + 0.5, min(prev, close) - 0.5, close,
                       1_000_000.0, interval, ts)
        out.append(MarketUpdate(DataType.OHLCV_BAR, bar, source, i + 1, ts, ts))
    return out


def tick_updates(symbol: str, mids: list[float], *, t0: int = T0, step: int = 1_000_000_000,
                 spread: float = 0.02, size: float = 500.0, source: str = "sim"
                 ) -> list[MarketUpdate]:
    out = []
    for i, mid in enumerate(mids):
        ts = t0 + i * step
        tick = PriceTick(symbol, round(mid - spread / 2, 4), round(mid + spread / 2, 4), None,
                         size, size, None, None, ts)
        out.append(MarketUpdate(DataType.PRICE_TICK, tick, source, i + 1, ts, ts))
    return out


