"""The backtest path's speed: market updates per second through the replay connector, the
manager, the paper venue and a strategy, against the manager's data path alone.

Three setups over the same recording of level 1 ticks (ten symbols), in interleaved
rounds; for each, the wall-clock rate and the process CPU time per update, median and
range over the rounds:

1. ``data path``: the replay (its default batches of 1,000) into the manager and a
   subscriber that counts: what the manager's data path costs alone (the baseline of
   the other two rows).
2. ``replay 1/turn``: the same, one update per loop turn (what the backtester asked of
   the replay before its orders reached the paper venue inside the callback).
3. ``backtest``: :class:`stockfish_strategy.Backtest` with a strategy attached (a moving
   average of each symbol's mid, an order when it crosses), the paper venue filling.

Every setup runs once a round, the order rotated from round to round, and the ratios
to (1) are per round (bench/harness.py); the load average is printed before and after.

    python bench/strategy_backtest.py [--ticks 50000] [--rounds 3] [--quick]

The issue's goal for (3) is 300,000 updates/s; read the figures beside (1). Writes
bench/results/strategy_backtest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness import Report, Row, Sample, interleave, measure

from stockfish_core import DataType, ExchangeManager, MarketUpdate, PriceTick, Subscription
from stockfish_core.config import ManagerConfig
from stockfish_strategy import Backtest, Strategy
from stockfish_strategy.testing import record

SYMBOLS = ["SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "META", "GOOG"]
T0 = 1_765_000_000_000_000_000


def ticks(n: int, seed: int = 7) -> list[MarketUpdate]:
    rng = random.Random(seed)
    mids = dict.fromkeys(SYMBOLS, 40_000)
    seqs = dict.fromkeys(SYMBOLS, 0)
    out = []
    for i in range(n):
        s = SYMBOLS[i % len(SYMBOLS)]
        mids[s] = max(100, mids[s] + rng.choice((-2, -1, 0, 0, 1, 2)))
        seqs[s] += 1
        ts = T0 + i * 10_000_000
        tick = PriceTick(s, mids[s] / 100, (mids[s] + 2) / 100, None, 500.0, 500.0, None, None,
                         ts)
        out.append(MarketUpdate(DataType.PRICE_TICK, tick, "sim", seqs[s], ts, ts))
    return out


class MeanCross(Strategy):
    """Long 10 while the mid is above its 50-tick mean, flat otherwise."""

    def __init__(self) -> None:
        self.sums: dict[str, list[float]] = {}

    def on_tick(self, tick: PriceTick) -> None:
        mid = (tick.bid + tick.ask) / 2  # type: ignore[operator]
        window = self.sums.setdefault(tick.symbol, [])
        window.append(mid)
        if len(window) > 50:
            window.pop(0)
            mean = sum(window) / 50
            want = 10 if mid > mean * 1.0005 else 0 if mid < mean * 0.9995 else None
            if want is not None and want != self.position(tick.symbol) and \
                    not self.open_orders(tick.symbol):
                self.order_target(tick.symbol, want)


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def on_price_tick(self, update: MarketUpdate) -> None:
        self.n += 1


async def replay_only(path: Path, batch: int) -> int:
    manager = ExchangeManager(config=ManagerConfig(journal=":memory:"))
    manager.add_connector("replay", "replay", path=str(path), batch_size=batch)
    counter = Counter()
    manager.add_subscriber(counter)
    async with manager:
        await manager.subscribe_async([Subscription(s) for s in SYMBOLS], ["replay"])
        await manager.get_connector("replay").state.done.wait()
    return counter.n


GOAL = 300_000


def timed(ops: int, run: Callable[[], int]) -> Callable[[], Sample]:
    return lambda: measure(ops, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="5,000 ticks and 2 rounds (a check that it runs)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.ticks, args.rounds = 5_000, 2
    logging.getLogger("stockfish").setLevel(logging.WARNING)
    report = Report("strategy_backtest", __doc__.splitlines()[0])
    with tempfile.TemporaryDirectory() as tmp:
        path = record(Path(tmp) / "rec", ticks(args.ticks))
        setups: dict[str, Callable[[], int]] = {
            "data path": lambda: asyncio.run(replay_only(path, 1000)),
            "replay 1/turn": lambda: asyncio.run(replay_only(path, 1)),
            "backtest": lambda: (Backtest(MeanCross(), path).run(), args.ticks)[1],
        }
        cases = {name: timed(args.ticks, run) for name, run in setups.items()}
        samples = interleave(cases, args.rounds, progress=print)
    base = "replay -> manager -> counting subscriber"
    report.add(Row.of("data path (replay, batches of 1,000)", samples["data path"],
                      unit="update", ticks=args.ticks))
    report.add(Row.of("replay, one update a turn", samples["replay 1/turn"], unit="update",
                      baseline=base, bare=samples["data path"], ticks=args.ticks))
    row = report.add(Row.of("backtest (replay, paper venue, strategy)", samples["backtest"],
                            unit="update", baseline=base, bare=samples["data path"],
                            goal=f"{GOAL:,} updates/s", ticks=args.ticks))
    row.verdict = "met" if row.rate["median"] >= GOAL else "NOT met"
    report.extra = {"ticks": args.ticks, "symbols": len(SYMBOLS), "quick": args.quick}
    report.finish(args.out)


if __name__ == "__main__":
    main()
