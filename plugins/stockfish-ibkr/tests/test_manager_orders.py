"""The ibkr connector under the ExchangeManager, where the core owns reconciliation and
fill de-duplication: fills made while the gateway was away are applied once however
often they are reported again; an order IB acknowledged and then forgot is ERROR (counted,
logged once), never REJECTED; a lost gateway is retried on the plugin's fast schedule."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

import stockfish_ibkr.plugin as plugin
from stockfish_core import (
    ConnectorStatus,
    ExchangeManager,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    PluginRegistry,
    Subscription,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.testing import wait_until
from stockfish_ibkr.testing import GatewaySimulator, SimBroker

S = OrderStatus
FAST = ManagerConfig(health_check_interval=0.1, reconnect_initial_delay=0.05,
                     reconnect_max_delay=0.5, connect_timeout=5.0)


class Watch:
    """A subscriber that records fills and wakes waits on anything the manager reports."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.fills: list[Fill] = []
        self.statuses: dict[str, list[OrderStatus]] = {}
        self.ticks = 0

    def on_fill(self, fill: Fill, order: Order) -> None:
        self.fills.append(fill)
        self.event.set()

    def on_order_update(self, order: Order) -> None:
        self.statuses.setdefault(order.client_order_id or "", []).append(order.status)
        self.event.set()

    def on_price_tick(self, _: Any) -> None:
        self.ticks += 1
        self.event.set()

    def on_connector_status(self, *_: Any) -> None:
        self.event.set()

    async def until(self, predicate: Callable[[], Any], timeout: float, what: str) -> None:
        await wait_until(predicate, self.event, timeout, what, recheck=0.1)


@pytest.fixture
def managed(library_name: str) -> Callable[..., Any]:
    """``async with managed(gateway, config) as (manager, watch)``"""

    class Managed:
        def __init__(self, gw: GatewaySimulator, config: ManagerConfig, client_id: int) -> None:
            registry = PluginRegistry(entry_points=())
            registry.register(plugin, "ibkr")
            self.manager = ExchangeManager(config=config, registry=registry, journal=":memory:")
            self.manager.add_connector(
                "ibkr", "ibkr", primary=True, host="127.0.0.1", port=gw.port,
                client_id=client_id, library=library_name, connect_timeout=5.0)
            self.watch = Watch()
            self.manager.add_subscriber(self.watch)

        async def __aenter__(self) -> tuple[ExchangeManager, Watch]:
            assert await self.manager.start()
            return self.manager, self.watch

        async def __aexit__(self, *exc: object) -> None:
            await self.manager.stop()
            self.manager.journal.close()

    return lambda gw, config=FAST, client_id=1: Managed(gw, config, client_id)


@pytest.fixture
async def quiet() -> AsyncIterator[GatewaySimulator]:
    async with GatewaySimulator(tick_interval=None) as gw:
        yield gw


async def test_fills_while_away_are_applied_once(quiet: GatewaySimulator,
                                                 managed: Any) -> None:
    gw = quiet
    inst = gw.instrument("MSFT")
    async with managed(gw, client_id=4) as (manager, watch):
        connector = manager.get_connector("ibkr")
        ask = Decimal(repr(gw.broker.market(inst).quote("MSFT").ask))
        oid = await manager.send_order_async(
            Order("MSFT", "SELL", 50, OrderType.LIMIT, price=ask + 3))
        await manager.wait_for_order_async(oid, lambda o: o.status is S.SUBMITTED, 10)

        await gw.stop()
        await watch.until(lambda: not connector.is_connected, 10, "the loss")
        # While TWS is away IB fills 20 of the 50.
        gw.broker.set_quote(inst, float(ask + 3), float(ask + Decimal("3.05")), 20, 20)
        gw.broker.set_quote(inst, float(ask - 1), float(ask - Decimal("0.95")), 100, 100)
        await gw.start()
        await watch.until(lambda: len(watch.fills) == 1, 15, "the fill made while away")
        order = manager.get_order(oid)
        assert order.status is S.PARTIALLY_FILLED and order.filled_quantity == 20

        # A second reconnect: the STATUS answer reports the same execution again.
        stats = manager.get_stats()["connectors"]["ibkr"]
        reconnects = stats["reconnects"]
        assert gw.drop_client(4)
        await watch.until(lambda: manager.get_stats()["connectors"]["ibkr"]["reconnects"]
                          > reconnects and connector.is_connected, 15, "the second reconnect")
        await watch.until(
            lambda: manager.get_stats()["connectors"]["ibkr"]["duplicate_fills"] >= 1, 10,
            "the fill reported again")
        assert order.filled_quantity == 20 and len(watch.fills) == 1

        gw.broker.set_quote(inst, float(ask + 3), float(ask + Decimal("3.05")), 100, 100)
        done = await manager.wait_for_order_async(oid, timeout=10)
        assert done.status is S.FILLED and done.filled_quantity == 50
        assert [f.quantity for f in watch.fills] == [20, 30]
        assert len({f.execution_id for f in watch.fills}) == 2
        assert all(f.commission > 0 for f in watch.fills)
        assert manager.positions()["MSFT"].quantity == -50
        stats = manager.get_stats()["connectors"]["ibkr"]
        assert stats["fills"] == 2 and stats["orders_filled"] == 1
        assert watch.statuses[oid].count(S.FILLED) == 1


async def test_acknowledged_order_that_vanishes_is_error_not_rejected(
        managed: Any, caplog: pytest.LogCaptureFixture) -> None:
    first = GatewaySimulator(tick_interval=None)
    await first.start()
    port = first.port
    async with managed(first, client_id=5) as (manager, watch):
        connector = manager.get_connector("ibkr")
        bid = Decimal(repr(first.broker.market(first.instrument("IBM")).quote("IBM").bid))
        resting = await manager.send_order_async(
            Order("IBM", "BUY", 10, OrderType.LIMIT, price=bid - 5))
        await manager.wait_for_order_async(resting, lambda o: o.status is S.SUBMITTED, 10)
        # TWS goes and comes back without the order (a gateway killed with its state).
        await first.close()
        await watch.until(lambda: not connector.is_connected, 10, "the loss")
        caplog.set_level(logging.INFO)
        second = GatewaySimulator(port=port, broker=SimBroker(tick_interval=None))
        await second.start()
        try:
            done = await manager.wait_for_order_async(resting, timeout=15)
            assert done.status is S.ERROR, (done.status, done.reason)
            assert done.reason is not None and "vanished" in done.reason
            assert "never reached" not in done.reason
            stats = manager.get_stats()
            assert stats["connectors"]["ibkr"]["orders_errored"] == 1
            assert stats["connectors"]["ibkr"]["orders_rejected"] == 0
            assert stats["total"]["orders_errored"] == 1
            assert stats["orders"].get("ERROR") == 1
            lines = [r for r in caplog.records
                     if resting in r.getMessage() and "vanished" in r.getMessage()]
            assert len(lines) == 1 and lines[0].levelno == logging.ERROR
            # A new order goes through the new gateway as usual.
            new = await manager.send_order_async(Order("IBM", "BUY", 1))
            assert (await manager.wait_for_order_async(new, timeout=10)).status is S.FILLED
        finally:
            await second.close()


async def test_a_lost_gateway_is_retried_on_the_plugin_schedule(
        library_name: str, managed: Any, caplog: pytest.LogCaptureFixture) -> None:
    # The manager's own defaults (up to 30 s between attempts): the plugin's suggested
    # schedule, 0.25 s doubling to 2 s, is the faster and is used.
    config = ManagerConfig(health_check_interval=0.1, connect_timeout=5.0)
    assert config.reconnect_max_delay == 30.0
    async with GatewaySimulator(tick_interval=0.02) as gw, \
            managed(gw, config, client_id=6) as (manager, watch):
        assert manager.reconnect_schedule(manager.get_connector("ibkr")) == (0.25, 2.0)
        assert await manager.subscribe_async([Subscription("AAPL")]) == {}
        await watch.until(lambda: watch.ticks > 0, 10, "ticks")
        # Each attempt's wait is logged at DEBUG (one WARNING line per state change).
        caplog.set_level(logging.DEBUG, logger="stockfish.manager")
        await gw.stop()
        # Five failed attempts: 0.25 + 0.5 + 1 + 2 + 2 s (jittered) with the plugin's
        # schedule; 0.5 + 1 + 2 + 4 + 8 s with the manager's.
        await watch.until(
            lambda: manager.get_stats()["connectors"]["ibkr"]["reconnect_attempts"] >= 5, 20,
            "five reconnect attempts")
        mark = watch.ticks
        await gw.start()
        await watch.until(lambda: watch.ticks > mark, 15, "ticks after the restart")
        waits = [float(m.group(1)) for r in caplog.records
                 if (m := re.search(r"ibkr: reconnecting in ([0-9.]+)s", r.getMessage()))]
        assert len(waits) >= 5
        assert max(waits) <= 2.0, waits
        assert manager.get_connector("ibkr").status is ConnectorStatus.CONNECTED
