"""A synthetic market for the publisher: quotes, depth and trades for N symbols.

Each symbol has a book around a mid price that random-walks. Depth comes as a full
snapshot every ``snapshot_every`` depth messages and incremental level changes in
between; tickers quote the book's best bid and ask; trades print at the touch. Books are
never crossed, so a correct connector reports no data error on this feed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["SyntheticMarket", "symbol_names"]


def symbol_names(count: int, prefix: str = "SYM") -> list[str]:
    """``SYM000``, ``SYM001``... (zero-padded so that no name is a prefix of another)."""
    width = max(3, len(str(count - 1)))
    return [f"{prefix}{i:0{width}d}" for i in range(count)]


class _SymbolState:
    __slots__ = ("asks", "bids", "depth_count", "mid", "tick", "trade_id", "volume")

    def __init__(self, mid: float, tick: float) -> None:
        self.mid = mid
        self.tick = tick
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.depth_count = 0
        self.trade_id = 0
        self.volume = 0.0


class SyntheticMarket:
    """An endless, deterministic (for a seed) sequence of ``(kind, symbol, data)``."""

    def __init__(
        self,
        symbols: Sequence[str],
        kinds: Sequence[str] = ("ticker", "depth", "trade"),
        *,
        levels: int = 10,
        snapshot_every: int = 50,
        seed: int | None = 1,
    ) -> None:
        unknown = set(kinds) - {"ticker", "depth", "trade"}
        if unknown or not kinds:
            raise ValueError(f"synthetic kinds are ticker, depth, trade; got {sorted(kinds)}")
        if not symbols:
            raise ValueError("give at least one symbol")
        self.symbols = list(symbols)
        self.kinds = list(kinds)
        self.levels = levels
        self.snapshot_every = max(1, snapshot_every)
        self.rng = random.Random(seed)
        self.state = {s: _SymbolState(round(self.rng.uniform(50, 500), 2), 0.01)
                      for s in self.symbols}

    def __iter__(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        while True:
            for kind in self.kinds:
                for symbol in self.symbols:
                    yield kind, symbol, self.next(kind, symbol)

    def next(self, kind: str, symbol: str) -> dict[str, Any]:
        st = self.state[symbol]
        if not st.bids:
            self._rebuild(st)
        if kind == "ticker":
            return self._ticker(st)
        if kind == "depth":
            return self._depth(st)
        return self._trade(st)

    # -- generators -------------------------------------------------------------------
    def _rebuild(self, st: _SymbolState) -> None:
        rng = self.rng
        st.mid = round(max(1.0, st.mid + rng.choice((-1, 0, 1)) * st.tick * 5), 2)
        half = st.tick * (1 + rng.randrange(3))
        st.bids = {round(st.mid - half - i * st.tick, 2): self._size() for i in range(self.levels)}
        st.asks = {round(st.mid + half + i * st.tick, 2): self._size() for i in range(self.levels)}

    def _size(self) -> float:
        return round(self.rng.uniform(0.1, 10.0), 3)

    def _ticker(self, st: _SymbolState) -> dict[str, Any]:
        bid, ask = max(st.bids), min(st.asks)
        return {
            "bid": bid, "ask": ask, "bid_size": st.bids[bid], "ask_size": st.asks[ask],
            "last": round((bid + ask) / 2, 4), "volume": round(st.volume, 3),
        }

    def _depth(self, st: _SymbolState) -> dict[str, Any]:
        st.depth_count += 1
        if st.depth_count % self.snapshot_every == 1 or self.snapshot_every == 1:
            self._rebuild(st)
            return {
                "snapshot": True,
                "bids": [[p, s] for p, s in sorted(st.bids.items(), reverse=True)],
                "asks": [[p, s] for p, s in sorted(st.asks.items())],
            }
        side_name = self.rng.choice(("bids", "asks"))
        side = st.bids if side_name == "bids" else st.asks
        price = self.rng.choice(list(side))
        best = max(st.bids) if side_name == "bids" else min(st.asks)
        if price != best and len(side) > 2 and self.rng.random() < 0.2:
            del side[price]  # a level disappears
            size = 0.0
        else:
            size = self._size()
            side[price] = size
        return {side_name: [[price, size]]}

    def _trade(self, st: _SymbolState) -> dict[str, Any]:
        st.trade_id += 1
        buy = self.rng.random() < 0.5
        price = min(st.asks) if buy else max(st.bids)
        size = round(self.rng.uniform(0.01, 2.0), 3)
        st.volume += size
        return {"price": price, "size": size, "side": "buy" if buy else "sell",
                "trade_id": str(st.trade_id)}
