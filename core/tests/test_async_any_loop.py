"""The async API awaited from another event loop than the manager's (a notebook awaiting
while the manager runs on its own thread after start_all())."""

from __future__ import annotations

import asyncio

from stockfish_core import (
    ExchangeManager,
    Order,
    OrderStatus,
    OrderType,
    PluginRegistry,
    Subscription,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.sim import plugin as sim_plugin


def test_awaitable_methods_work_from_another_event_loop() -> None:
    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    m = ExchangeManager(config=ManagerConfig(health_check_interval=0.05), registry=registry,
                        journal=":memory:")
    m.add_connector("a", "sim", primary=True, tick_interval=0.005)
    assert m.start_all(timeout=10)
    try:
        async def notebook() -> tuple[OrderStatus, dict[str, str]]:
            failures = await m.subscribe_async([Subscription("SPY")])
            order_id = await m.send_order_async(Order("SPY", "BUY", 5, OrderType.LIMIT,
                                                      price=1.0))
            await m.wait_for_order_async(order_id,
                                         lambda o: o.status is OrderStatus.SUBMITTED, 5)
            loop = asyncio.get_running_loop()
            loop.call_later(0.1, m.cancel_order, order_id)
            began = loop.time()
            done = await m.wait_for_order_async(order_id, timeout=30.0)
            # Woken by the cancel, not by the end of its timeout (a future of this loop
            # resolved from the manager's thread woke nobody: it returned after 30 s).
            assert loop.time() - began < 15.0
            await m.unsubscribe_async(["SPY"])
            return done.status, failures

        status, failures = asyncio.run(notebook())
        assert status is OrderStatus.CANCELLED and failures == {}
    finally:
        m.stop_all()
        m.journal.close()
