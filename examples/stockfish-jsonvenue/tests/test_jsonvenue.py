"""The JSON venue plugin through its hooks (the core's harness) and through the
manager, against the JSON venue on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

import stockfish_jsonvenue as jsonvenue
from stockfish_core import (
    ConnectorStatus,
    DataType,
    ExchangeManager,
    Order,
    OrderAction,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    PluginRegistry,
    Subscription,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.testing import ConnectorHarness
from stockfish_jsonvenue.testing import JsonVenue


@pytest.fixture
async def venue() -> AsyncIterator[JsonVenue]:
    server = JsonVenue(("SPY",), tick_interval=0.01)
    await server.start()
    yield server
    await server.stop()


def _registry() -> PluginRegistry:
    registry = PluginRegistry(entry_points=())
    registry.register(jsonvenue, "jsonvenue")
    return registry


def _harness(venue: JsonVenue) -> ConnectorHarness:
    return ConnectorHarness(jsonvenue, "jsonvenue", {"port": venue.port}, registry=_registry())


async def test_quotes_are_normalized_with_their_sequence(venue: JsonVenue) -> None:
    async with _harness(venue) as h:
        await h.connect()
        await h.subscribe(Subscription("SPY"))
        first = await h.next_update(timeout=5)
        second = await h.next_update(timeout=5)
        assert first.payload.bid == 99.95 and first.payload.ask == 100.05
        assert second.sequence_number == first.sequence_number + 1  # type: ignore[operator]
        assert first.session == h.connector.state.session
        with pytest.raises(ValueError, match="price ticks only"):
            await h.subscribe(Subscription("SPY", DataType.TRADE))


async def test_fills_are_reported_by_client_order_id_alone(venue: JsonVenue) -> None:
    async with _harness(venue) as h:
        await h.connect()
        order = Order("SPY", "SELL", 5, client_order_id="C1")
        await h.execute(OrderRequest(OrderAction.SUBMIT, order))
        ack = await h.next_order_update(timeout=5)
        assert ack.status is OrderStatus.SUBMITTED and ack.venue_order_id
        fills = [await h.next_order_update(timeout=5) for _ in range(2)]
        assert [f.execution.quantity for f in fills if f.execution] == [Decimal(2), Decimal(3)]
        assert all(f.fill is None for f in fills)  # the core completes symbol and side


async def test_refused_cancel_and_unknown_status(venue: JsonVenue) -> None:
    async with _harness(venue) as h:
        await h.connect()
        ghost = Order("SPY", "BUY", 1, client_order_id="GHOST")
        await h.execute(OrderRequest(OrderAction.CANCEL, ghost))
        refused = await h.next_order_update(timeout=5)
        assert refused.rejected_request is OrderAction.CANCEL
        assert refused.reason == "unknown order"
        await h.execute(OrderRequest(OrderAction.STATUS, ghost))
        answer = await h.next_order_update(timeout=5)
        assert answer.status is OrderStatus.REJECTED and answer.reason == "unknown order"


@pytest.fixture
async def manager(venue: JsonVenue) -> AsyncIterator[ExchangeManager]:
    config = ManagerConfig(reconnect_initial_delay=0.05, reconnect_max_delay=0.2)
    manager = ExchangeManager(config=config, registry=_registry(), journal=":memory:")
    manager.add_connector("venue", "jsonvenue", port=venue.port)
    yield manager
    await manager.stop()
    manager.journal.close()


async def test_replace_through_the_manager(venue: JsonVenue, manager: ExchangeManager) -> None:
    assert await manager.start()
    order_id = await manager.send_order_async(Order("SPY", "BUY", 4, OrderType.LIMIT, price=90))
    await manager.wait_for_order_async(
        order_id, lambda o: o.status is OrderStatus.SUBMITTED, timeout=5)
    assert manager.replace_order(order_id, quantity=6, price=91)
    order = await manager.wait_for_order_async(order_id, lambda o: o.quantity == 6, timeout=5)
    assert order.price == Decimal(91)
    assert venue.orders[order_id].quantity == 6


async def test_a_dead_reader_is_a_lost_connection_and_the_order_is_reconciled(
    manager: ExchangeManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader task that dies (here on its first fill, as Fill() refusing an order the
    plugin had not seen once did) must not leave the connector CONNECTED and the order
    SUBMITTED: connector.spawn reports the loss, the core reconnects and reconciles."""
    real = jsonvenue.on_fill
    failures: list[str] = []

    def on_fill(connector: Any, event: dict[str, Any]) -> None:
        if not failures:
            failures.append(event["exec"])
            raise ValueError("cannot build the fill")
        real(connector, event)

    monkeypatch.setattr(jsonvenue, "on_fill", on_fill)
    statuses: list[tuple[str, ConnectorStatus, str]] = []

    class Watch:
        def on_connector_status(self, name: str, status: ConnectorStatus, reason: str) -> None:
            statuses.append((name, status, reason))

    manager.add_subscriber(Watch())
    assert await manager.start()
    order_id = await manager.send_order_async(Order("SPY", "BUY", 3))
    done = await manager.wait_for_order_async(order_id, timeout=10)
    assert done.status is OrderStatus.FILLED
    assert done.filled_quantity == 3
    lost = [r for _, s, r in statuses if s is ConnectorStatus.DISCONNECTED]
    assert lost and "ValueError: cannot build the fill" in lost[0]
    assert manager.get_stats()["connectors"]["venue"]["reconnects"] == 1


@pytest.mark.parametrize(("order", "why"), [
    (Order("SPY", "BUY", 1, OrderType.LIMIT, price=90, time_in_force="IOC"),
     "does not take time in force IOC"),
    (Order("SPY", "BUY", 1, OrderType.LIMIT, price=90, time_in_force="FOK"),
     "does not take time in force FOK"),
    (Order("SPY", "BUY", 1, OrderType.LIMIT, price=90, time_in_force="GTD",
           expire_ns=2**62), "does not take time in force GTD"),
    (Order("SPY", "SELL", 1, OrderType.TRAILING_STOP, trail_amount=1),
     "does not take TRAILING_STOP orders"),
])
async def test_what_the_venue_does_not_take_is_refused_before_it_leaves(
        venue: JsonVenue, manager: ExchangeManager, order: Order, why: str) -> None:
    # The JSON venue declares MARKET and LIMIT orders, DAY only.
    assert await manager.start()
    with pytest.raises(OrderRejected, match=f"connector venue cannot take this order: {why}"):
        await manager.send_order_async(order, "venue")
    assert order.status is OrderStatus.REJECTED
    assert not venue.orders
