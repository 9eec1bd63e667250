"""The ExchangeManager's own cost, measured against the built-in simulated venue.

Orders: N market orders sent through the manager to `sim` (risk checks, journal in WAL
mode on disk, routing, the venue's matching engine, reports back through the state
machine), against the same orders sent straight into the sim's matching engine.
Reported: orders per second to FILLED, and send -> acknowledged / send -> filled latency
percentiles.

Market data: batches of price ticks through the manager's data path (sequence checks,
preferred-feed selection, caches, delivery to a subscriber callback), against a bare loop
that hands the same updates to the same callback.

    python bench/manager_sim.py [--orders 20000] [--updates 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from stockfish_core import (
    DataType,
    ExchangeManager,
    MarketUpdate,
    Order,
    OrderSide,
    OrderType,
    PluginRegistry,
    PriceTick,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.sim import plugin as sim_plugin
from stockfish_core.sim.matching import MatchingEngine


def bare_engine(n: int) -> float:
    engine = MatchingEngine()
    engine.set_quote("SPY", Decimal("100.00"), Decimal("100.01"), Decimal(10**9),
                     Decimal(10**9))
    start = time.perf_counter()
    for i in range(n):
        engine.submit(f"o{i}", "SPY", OrderSide.BUY if i % 2 else OrderSide.SELL, Decimal(1),
                      OrderType.MARKET)
    return n / (time.perf_counter() - start)


async def through_manager(n: int, journal: Path) -> dict[str, Any]:
    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    manager = ExchangeManager(registry=registry, journal=journal,
                              config=ManagerConfig(health_check_interval=1.0))
    manager.add_connector("sim", "sim", tick_interval=0.01)
    done = asyncio.Event()
    finals = 0

    class Count:
        def on_order_update(self, order: Order) -> None:
            nonlocal finals
            if order.is_final:
                finals += 1
                if finals == n:
                    done.set()

    manager.add_subscriber(Count())
    async with manager:
        start = time.perf_counter()
        for i in range(n):
            await manager.send_order_async(Order("SPY", "BUY" if i % 2 else "SELL", 1))
            if i % 256 == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - start
        stats = manager.get_stats()["connectors"]["sim"]
    manager.journal.close()
    return {"orders_per_s": n / elapsed, "ack_latency": stats["ack_latency"],
            "fill_latency": stats["fill_latency"], "filled": stats["orders_filled"]}


async def single_order_latency(n: int, journal: Path) -> dict[str, Any]:
    """One order at a time: send, wait for FILLED, repeat."""
    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    manager = ExchangeManager(registry=registry, journal=journal)
    manager.add_connector("sim", "sim", tick_interval=0.01)
    samples = []
    async with manager:
        for i in range(n):
            start = time.perf_counter_ns()
            oid = await manager.send_order_async(Order("SPY", "BUY" if i % 2 else "SELL", 1))
            await manager.wait_for_order_async(oid)
            samples.append(time.perf_counter_ns() - start)
    manager.journal.close()
    samples.sort()
    return {"p50_us": samples[len(samples) // 2] / 1e3,
            "p99_us": samples[int(len(samples) * 0.99)] / 1e3}


def data_path(n: int, batch: int = 500) -> dict[str, float]:
    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    manager = ExchangeManager(registry=registry, journal=":memory:")
    connector = manager.add_connector("sim", "sim")
    count = 0

    def on_price_tick(update: MarketUpdate) -> None:
        nonlocal count
        count += 1

    class Sub:
        pass

    sub = Sub()
    sub.on_price_tick = on_price_tick  # type: ignore[attr-defined]
    manager.add_subscriber(sub)
    manager.hub.add_feed(("SPY", DataType.PRICE_TICK), "sim", manager._feed_rank)
    batches = []
    seq = 0
    for _ in range(n // batch):
        items = []
        for _ in range(batch):
            seq += 1
            items.append(MarketUpdate(DataType.PRICE_TICK, PriceTick("SPY", 1.0, 1.1), "sim",
                                      seq, 0, 1))
        batches.append(items)

    start = time.perf_counter()
    for items in batches:
        for update in items:
            on_price_tick(update)
    bare = (time.perf_counter() - start)
    count = 0
    start = time.perf_counter()
    for items in batches:
        manager.on_updates(connector, items)
    through = time.perf_counter() - start
    assert count == n // batch * batch, count
    manager.journal.close()
    total = n // batch * batch
    return {"bare_per_s": total / bare, "manager_per_s": total / through,
            "ratio": bare / through}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--latency-orders", type=int, default=2_000)
    parser.add_argument("--updates", type=int, default=1_000_000)
    args = parser.parse_args()

    engine_rate = bare_engine(args.orders)
    with tempfile.TemporaryDirectory() as tmp:
        managed = asyncio.run(through_manager(args.orders, Path(tmp) / "journal.sqlite"))
        single = asyncio.run(single_order_latency(args.latency_orders,
                                                  Path(tmp) / "journal2.sqlite"))
    data = data_path(args.updates)

    print(f"orders: {args.orders} market orders, journal on disk (WAL)")
    print(f"  bare matching engine      {engine_rate:>12,.0f} orders/s")
    print(f"  through the manager       {managed['orders_per_s']:>12,.0f} orders/s to FILLED "
          f"({managed['orders_per_s'] / engine_rate:.3f}x the bare engine)")
    print(f"  ack latency (streamed)    {managed['ack_latency']}")
    print(f"  fill latency (streamed)   {managed['fill_latency']}")
    print(f"  one order at a time       p50 {single['p50_us']:.0f} us, p99 {single['p99_us']:.0f}"
          " us (send -> FILLED seen by the caller)")
    print(f"market data: {args.updates:,} price ticks in batches of 500")
    print(f"  bare callback loop        {data['bare_per_s']:>12,.0f} updates/s")
    print(f"  through the manager       {data['manager_per_s']:>12,.0f} updates/s "
          f"({data['manager_per_s'] / data['bare_per_s']:.3f}x)")

    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "manager_sim.json").write_text(json.dumps(
        {"bare_engine_orders_per_s": engine_rate, "manager": managed, "single": single,
         "data": data}, indent=2, default=str))


if __name__ == "__main__":
    main()
