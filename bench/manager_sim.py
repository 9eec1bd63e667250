"""Orders through the ExchangeManager to the built-in `sim` venue, and market data through
the whole data path from the `sim` connector, each against a stated bare baseline.

Orders. The manager is built as a user builds it: a configuration with one connector,
``sim``, the plugin loaded through its entry point, the journal on disk (SQLite in WAL
mode, ``synchronous=NORMAL``, a new file each round). Every order is a market order of 1
(buy and sell in turn) for ``SPY``, quoted once with a size no order exhausts and no
market steps while measuring (``tick_interval`` of an hour), so every order fills at once.

  manager, 32 at a time   windows of 32 orders: ``send_order_async`` of each (in one
                          loop turn, so one group commit), then every order followed to
                          FILLED through a subscriber's ``on_order_update``, then the next
                          window (risk checks, the client order id, the journal's group
                          commit before the send, the sim plugin's execute, its reports
                          on the loop, the state machine, the fills and their commit)
  bare, 32 at a time      the baseline: the library the sim venue wraps, its matching
                          engine (``MatchingEngine``, what the `sim` plugin calls), driven
                          directly with the same durability done with ``sqlite3`` (WAL,
                          ``synchronous=NORMAL``): each window of 32 orders is committed
                          (one row each) before any is submitted, then submitted, then
                          their fills and final statuses committed in one transaction.
                          No event loop: the least a program needs for the same work
  manager, 1 at a time    windows of one order: send, wait for FILLED, repeat
  bare, 1 at a time       the same baseline with windows of one order

Market data. Ticks (``PriceTick``, what the sim's market produces) of ten subscribed
symbols, in batches of 500, handed to the connector as the sim venue hands its market's
output: ``connector.feed(batch)``. From there the whole data path: the plugin's
``stockfish_normalize`` (resolved once), the manager's hub (sequence accounting,
preferred feed, caches) and a subscriber's ``on_price_tick``.

  data path               ``connector.feed`` of each batch, to a subscriber that counts
  normalize only          the plugin's normalize of each batch alone (its share)
  bare callback           the baseline: the same ticks handed to a plain callback that
                          counts, one call each

Every case runs once a round, the order rotated from round to round (bench/harness.py);
reported: the rate and the CPU time per operation of this process (every thread: the
journal's checkpoint thread too), median and range, the per-round ratios to the bare
case, the load average; one at a time also the send -> FILLED latency (p50, p99).

    python bench/manager_sim.py [--orders 20000] [--latency-orders 2000]
                                [--updates 1000000] [--rounds 5] [--quick]

Writes bench/results/manager_sim.json.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from harness import Report, Row, Sample, interleave, measure, process_cpu

from stockfish_core import (
    ExchangeManager,
    MarketUpdate,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    PluginRegistry,
    PriceTick,
    Subscription,
)
from stockfish_core.config import parse_config
from stockfish_core.connector import Connector
from stockfish_core.sim.matching import ExecKind, MatchingEngine

SYMBOL = "SPY"
BID, ASK, SIZE = Decimal("100.00"), Decimal("100.01"), Decimal(10**12)
DATA_SYMBOLS = ["SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "META", "GOOG"]
BATCH = 500


def percentiles(latencies_ns: list[int]) -> dict[str, float]:
    ordered = sorted(latencies_ns)
    if not ordered:
        return {}

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e3

    return {"p50_us": at(0.50), "p99_us": at(0.99), "max_us": ordered[-1] / 1e3}


# -- through the manager ------------------------------------------------------------------
def sim_manager(journal: Path | str, registry: PluginRegistry) -> ExchangeManager:
    """A manager with one ``sim`` connector, from a configuration, as a user builds it."""
    raw = {
        "connectors": {"sim": {"primary": True, "tick_interval": 3600.0, "seed": 7}},
        "manager": {"journal": str(journal)},
    }
    return ExchangeManager.from_config(parse_config(raw, registry), registry)


async def manager_orders(n: int, window: int, journal: Path,
                         latencies: list[int] | None = None) -> Sample:
    """``n`` market orders through the manager in windows of ``window``: a window's
    orders sent together, then followed to FILLED, then the next window."""
    registry = PluginRegistry()  # the entry points: `sim` is loaded as any plugin is
    manager = sim_manager(journal, registry)
    state = {"final": 0, "filled": 0, "target": 0}
    window_done = asyncio.Event()

    class Follow:
        def on_order_update(self, order: Order) -> None:
            if order.is_final:
                state["final"] += 1
                state["filled"] += order.status is OrderStatus.FILLED
                if state["final"] >= state["target"]:
                    window_done.set()

    manager.add_subscriber(Follow())
    try:
        async with manager:
            connector = manager.get_connector("sim")
            connector.state.set_quote(SYMBOL, BID, ASK, SIZE)
            send = manager.send_order_async
            cpu0, start = process_cpu(), time.perf_counter()
            for first in range(0, n, window):
                sent = time.perf_counter_ns()
                last = min(n, first + window)
                state["target"] = last
                window_done.clear()
                for i in range(first, last):
                    await send(Order(SYMBOL, "BUY" if i % 2 else "SELL", 1))
                await asyncio.wait_for(window_done.wait(), 60)
                if latencies is not None:
                    latencies.append(time.perf_counter_ns() - sent)
            wall, cpu = time.perf_counter() - start, process_cpu() - cpu0
    finally:
        manager.journal.close()
    if state["filled"] != n:
        raise RuntimeError(f"{state['filled']} of {n} orders filled")
    return Sample(n, wall, cpu)


# -- the bare baseline --------------------------------------------------------------------
_BARE_SCHEMA = """
CREATE TABLE orders (client_order_id TEXT PRIMARY KEY, symbol TEXT NOT NULL,
                     side TEXT NOT NULL, quantity TEXT NOT NULL, status TEXT NOT NULL,
                     filled TEXT NOT NULL, avg_price TEXT);
CREATE TABLE fills (execution_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL,
                    quantity TEXT NOT NULL, price TEXT NOT NULL);
"""


def bare_orders(n: int, window: int, path: Path, latencies: list[int] | None = None) -> Sample:
    """The matching engine called directly, with the journal's durability in sqlite3."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_BARE_SCHEMA)
    engine = MatchingEngine(id_prefix="bare")
    engine.set_quote(SYMBOL, BID, ASK, SIZE, SIZE)
    execute, executemany = db.execute, db.executemany
    submit, market, fill_kind = engine.submit, OrderType.MARKET, ExecKind.FILL
    buy, sell, one = OrderSide.BUY, OrderSide.SELL, Decimal(1)
    filled_text = OrderStatus.FILLED.value
    filled = 0
    cpu0, start = process_cpu(), time.perf_counter()
    for first in range(0, n, window):
        sent = time.perf_counter_ns()
        orders = [(f"b{i}", buy if i % 2 else sell) for i in range(first, min(n, first + window))]
        execute("BEGIN")
        executemany("INSERT INTO orders VALUES (?, ?, ?, ?, 'PENDING', '0', NULL)",
                    [(coid, SYMBOL, side.value, "1") for coid, side in orders])
        execute("COMMIT")
        fills, finals = [], []
        for coid, side in orders:
            for ev in submit(coid, SYMBOL, side, one, market):
                if ev.is_fill:
                    fills.append((ev.exec_id, coid, str(ev.last_qty), str(ev.last_px)))
                    if ev.kind is fill_kind:  # the last fill: the order is FILLED
                        finals.append((filled_text, str(ev.cum_qty), str(ev.avg_px), coid))
        execute("BEGIN")
        executemany("INSERT INTO fills VALUES (?, ?, ?, ?)", fills)
        executemany("UPDATE orders SET status=?, filled=?, avg_price=? "
                    "WHERE client_order_id=?", finals)
        execute("COMMIT")
        filled += len(finals)
        if latencies is not None:
            latencies.append(time.perf_counter_ns() - sent)
    wall, cpu = time.perf_counter() - start, process_cpu() - cpu0
    db.close()
    if filled != n:
        raise RuntimeError(f"{filled} of {n} orders filled (bare)")
    return Sample(n, wall, cpu)


def order_rows(report: Report, orders: int, latency_orders: int, rounds: int,
               log: Callable[[str], None]) -> None:
    latencies: dict[str, list[int]] = {"manager": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="stockfish-bench-") as tmp:
        files = iter(range(10**9))

        def journal() -> Path:
            return Path(tmp) / f"journal-{next(files)}.sqlite"

        cases: dict[str, Callable[[], Sample]] = {
            "manager, 32 at a time": lambda: asyncio.run(
                manager_orders(orders, 32, journal())),
            "bare, 32 at a time": lambda: bare_orders(orders, 32, journal()),
            "manager, 1 at a time": lambda: asyncio.run(
                manager_orders(latency_orders, 1, journal(), latencies["manager"])),
            "bare, 1 at a time": lambda: bare_orders(latency_orders, 1, journal(),
                                                     latencies["bare"]),
        }
        samples = interleave(cases, rounds, warmup=True, progress=log)
    # The warm-up's latencies are not kept: each list holds the recorded rounds' only.
    for key in latencies:
        latencies[key] = latencies[key][-latency_orders * rounds:]
    base = "sim's matching engine + sqlite3 WAL, same commits"
    report.add(Row.of("orders, manager, 32 at a time", samples["manager, 32 at a time"],
                      unit="order", baseline=base, bare=samples["bare, 32 at a time"],
                      orders=orders))
    report.add(Row.of("orders, bare, 32 at a time", samples["bare, 32 at a time"],
                      unit="order", orders=orders))
    report.add(Row.of("orders, manager, 1 at a time", samples["manager, 1 at a time"],
                      unit="order", baseline=base, bare=samples["bare, 1 at a time"],
                      orders=latency_orders, latency=percentiles(latencies["manager"])))
    report.add(Row.of("orders, bare, 1 at a time", samples["bare, 1 at a time"],
                      unit="order", orders=latency_orders,
                      latency=percentiles(latencies["bare"])))


# -- market data --------------------------------------------------------------------------
class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def on_price_tick(self, update: MarketUpdate) -> None:
        self.n += 1


def tick_batches(updates: int) -> list[list[PriceTick]]:
    now = time.time_ns()
    ticks = [PriceTick(DATA_SYMBOLS[i % len(DATA_SYMBOLS)], 100.0 + i % 7 * 0.01,
                       100.01 + i % 7 * 0.01, None, 500.0, 500.0, None, None, now + i)
             for i in range(updates // BATCH * BATCH)]
    return [ticks[i:i + BATCH] for i in range(0, len(ticks), BATCH)]


async def data_rows(report: Report, updates: int, rounds: int,
                    log: Callable[[str], None]) -> None:
    batches = tick_batches(updates)
    total = sum(len(b) for b in batches)
    registry = PluginRegistry()
    manager = sim_manager(":memory:", registry)
    counter = _Counter()
    manager.add_subscriber(counter)
    bare_count = 0

    def bare_callback(tick: PriceTick) -> None:
        nonlocal bare_count
        bare_count += 1

    try:
        async with manager:
            failures = await manager.subscribe_async([Subscription(s) for s in DATA_SYMBOLS])
            if failures:
                raise RuntimeError(f"subscribe failed: {failures}")
            connector: Connector = manager.get_connector("sim")
            feed = connector.feed
            normalize = connector._normalize
            assert normalize is not None
            venue = connector.state

            def data_path() -> int:
                before = counter.n
                for batch in batches:
                    feed(batch)
                if counter.n - before != total:
                    raise RuntimeError(f"{counter.n - before} of {total} updates delivered")
                return total

            def normalize_only() -> int:
                numbers = dict(venue.sequences)
                for batch in batches:
                    normalize(connector, batch)
                # Numbered again by the next data path: the hub sees no gap.
                venue.sequences.clear()
                venue.sequences.update(numbers)
                return total

            def bare() -> int:
                nonlocal bare_count
                bare_count = 0
                call = bare_callback
                for batch in batches:
                    for tick in batch:
                        call(tick)
                assert bare_count == total
                return total

            cases: dict[str, Callable[[], Sample]] = {
                "data path": lambda: measure(total, data_path),
                "normalize only": lambda: measure(total, normalize_only),
                "bare callback": lambda: measure(total, bare),
            }
            samples = interleave(cases, rounds, warmup=True, progress=log)
            stats = manager.get_stats()["connectors"]["sim"]
    finally:
        manager.journal.close()
    base = "the same ticks to a plain callback"
    report.add(Row.of("updates, sim connector -> manager -> subscriber",
                      samples["data path"], unit="update", baseline=base,
                      bare=samples["bare callback"], updates=total, batch=BATCH,
                      gaps=stats.get("gaps"), duplicates=stats.get("duplicates")))
    report.add(Row.of("updates, sim normalize only", samples["normalize only"],
                      unit="update", baseline=base, bare=samples["bare callback"],
                      updates=total, batch=BATCH))
    report.add(Row.of("updates, bare callback", samples["bare callback"], unit="update",
                      updates=total, batch=BATCH))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--latency-orders", type=int, default=2_000)
    parser.add_argument("--updates", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="small counts and 2 rounds (a check that it runs)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.orders, args.latency_orders, args.updates, args.rounds = 2_000, 200, 50_000, 2
    logging.getLogger("stockfish").setLevel(logging.WARNING)
    report = Report("manager_sim", __doc__.splitlines()[0])
    order_rows(report, args.orders, args.latency_orders, args.rounds, print)
    asyncio.run(data_rows(report, args.updates, args.rounds, print))
    report.extra = {"orders": args.orders, "latency_orders": args.latency_orders,
                    "updates": args.updates, "quick": args.quick}
    for row in report.rows:
        if "latency" in row.extra:
            lat = row.extra["latency"]
            print(f"{row.case}: send -> FILLED p50 {lat['p50_us']:.0f} us, "
                  f"p99 {lat['p99_us']:.0f} us, max {lat['max_us']:.0f} us")
    report.finish(args.out)


if __name__ == "__main__":
    main()
