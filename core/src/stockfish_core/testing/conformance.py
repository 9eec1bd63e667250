"""The conformance suite: behaviour every connector shows through the ExchangeManager.

A plugin's tests subclass :class:`ConnectorConformance` and provide one fixture,
``venue_under_test``, that starts the plugin's real counterpart (its simulator) on
127.0.0.1 and yields a :class:`VenueUnderTest` describing it::

    from stockfish_core.testing import ConnectorConformance, VenueUnderTest

    class TestMyVenueConformance(ConnectorConformance):
        @pytest.fixture
        async def venue_under_test(self):
            server = await start_my_simulator()
            registry = PluginRegistry(entry_points=())
            registry.register(stockfish_myvenue.plugin, "myvenue")
            yield VenueUnderTest("myvenue", registry, {"port": server.port},
                                 drop=lambda m: server.stop(), restore=lambda m: server.start())
            await server.close()

Data-only connectors set ``orders=False``; the order checks are then skipped. Every
wait has a timeout; nothing sleeps.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
import pytest

from ..config import ManagerConfig
from ..connector import Subscription
from ..manager import ExchangeManager
from ..models import ConnectorStatus, DataType, MarketUpdate
from ..orders import Order, OrderStatus, OrderType
from ..plugins import PluginRegistry
from .harness import wait_until

__all__ = ["ConnectorConformance", "VenueUnderTest", "conformance_manager"]

#: Something done to the venue; receives the manager (sync or async).
Action = Callable[["ExchangeManager"], Awaitable[Any] | Any]


def _market_buy(symbol: str) -> Order:
    return Order(symbol, "BUY", 1)


@attrs.define
class VenueUnderTest:
    """A running counterpart of a plugin and how to exercise it."""

    plugin: str
    registry: PluginRegistry
    settings: Mapping[str, Any]
    symbol: str = "SPY"
    #: Data types the suite subscribes to and expects updates of.
    data_types: Sequence[DataType] = (DataType.PRICE_TICK,)
    orders: bool = True
    #: An order the venue fills (builds a new one per call).
    marketable_order: Callable[[str], Order] = _market_buy
    #: An order the venue accepts and leaves resting.
    resting_order: Callable[[str], Order] | None = None
    #: An order the venue itself rejects, and a word its reason contains...
    rejected_order: Callable[[str], Order] | None = None
    reject_reason: str = ""
    #: ...after this is done (e.g. a simulator switch that rejects the next order).
    before_reject: Action | None = None
    #: Make the counterpart go away (kill the simulator, drop the session)...
    drop: Action | None = None
    #: ...and bring it back (None if the connector recovers by reconnecting alone).
    restore: Action | None = None
    connector_name: str = "venue"
    timeout: float = 15.0
    manager_config: ManagerConfig = attrs.field(factory=lambda: ManagerConfig(
        health_check_interval=0.1, staleness=2.0, reconnect_initial_delay=0.05,
        reconnect_max_delay=0.5, connect_timeout=10.0,
    ))


async def _maybe(action: Action | None, manager: ExchangeManager) -> None:
    if action is not None:
        result = action(manager)
        if inspect.isawaitable(result):
            await result


class _Collector:
    def __init__(self) -> None:
        self.updates: list[MarketUpdate] = []

    def on_update(self, update: MarketUpdate) -> None:
        self.updates.append(update)


async def conformance_manager(venue: VenueUnderTest) -> ExchangeManager:
    manager = ExchangeManager(config=venue.manager_config, registry=venue.registry,
                              journal=":memory:")
    manager.add_connector(venue.connector_name, venue.plugin, primary=True, **venue.settings)
    return manager


async def _next_update(manager: ExchangeManager, collector: _Collector, data_type: DataType,
                       symbol: str, timeout: float, after: int = 0) -> MarketUpdate:
    def found() -> MarketUpdate | None:
        for update in collector.updates[after:]:
            if update.data_type is data_type and update.symbol == symbol:
                return update
        return None

    await _until(manager, lambda: found() is not None, timeout,
                 f"a {data_type.value} update for {symbol}")
    result = found()
    assert result is not None
    return result


async def _until(manager: ExchangeManager, predicate: Callable[[], bool], timeout: float,
                 what: str) -> None:
    """Wait for a condition that market data or status changes make true."""
    import asyncio

    event = asyncio.Event()

    class Wake:
        def on_update(self, _: MarketUpdate) -> None:
            event.set()

        def on_connector_status(self, *_: Any) -> None:
            event.set()

        def on_order_update(self, _: Order) -> None:
            event.set()

    waker = Wake()
    manager.add_subscriber(waker)
    try:  # re-checked every 0.25 s too: the condition may be time-based (a reconnect)
        await wait_until(predicate, event, timeout, what, recheck=0.25)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None  # the connector fails the suite
    finally:
        manager.remove_subscriber(waker)


class ConnectorConformance:
    """Subclass and provide the ``venue_under_test`` fixture (see the module docstring)."""

    @pytest.fixture
    async def conformance(self, venue_under_test: VenueUnderTest
                          ) -> AsyncIterator[tuple[ExchangeManager, VenueUnderTest]]:
        manager = await conformance_manager(venue_under_test)
        try:
            yield manager, venue_under_test
        finally:
            await manager.stop()
            manager.journal.close()

    async def test_connect_and_disconnect(self, conformance: tuple[ExchangeManager,
                                                                   VenueUnderTest]) -> None:
        manager, venue = conformance
        assert await manager.start()
        connector = manager.get_connector(venue.connector_name)
        assert connector.status is ConnectorStatus.CONNECTED
        await manager.stop()
        assert manager.list_connectors()[0][1] is ConnectorStatus.DISCONNECTED

    async def test_subscribe_and_receive_normalized_updates(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        collector = _Collector()
        manager.add_subscriber(collector)
        assert await manager.start()
        subs = [Subscription(venue.symbol, t, depth=5 if t is DataType.ORDERBOOK_SNAPSHOT
                             else None, interval="1s" if t is DataType.OHLCV_BAR else None)
                for t in venue.data_types]
        assert await manager.subscribe_async(subs) == {}
        for data_type in venue.data_types:
            update = await _next_update(manager, collector, data_type, venue.symbol,
                                        venue.timeout)
            assert update.source == venue.connector_name
            assert update.recv_ts_ns > 0
            assert update.symbol == venue.symbol
        assert manager.get_stats()["connectors"][venue.connector_name]["updates_delivered"] > 0

    async def test_order_fills_with_the_full_lifecycle(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        if not venue.orders:
            pytest.skip("data-only connector")
        seen: list[OrderStatus] = []

        class Watch:
            def on_order_update(self, order: Order) -> None:
                seen.append(order.status)

        manager.add_subscriber(Watch())
        assert await manager.start()
        order = venue.marketable_order(venue.symbol)
        order_id = await manager.send_order_async(order)
        done = await manager.wait_for_order_async(order_id, timeout=venue.timeout)
        assert done.status is OrderStatus.FILLED, done.reason
        assert done.filled_quantity == done.quantity
        assert done.avg_fill_price is not None and done.avg_fill_price > 0
        assert done.connector == venue.connector_name
        assert seen[-1] is OrderStatus.FILLED
        assert manager.positions()[venue.symbol].quantity == done.quantity * done.side.sign

    async def test_order_cancel(self, conformance: tuple[ExchangeManager, VenueUnderTest]
                                ) -> None:
        manager, venue = conformance
        if not venue.orders or venue.resting_order is None:
            pytest.skip("no resting order for this venue")
        assert await manager.start()
        order = venue.resting_order(venue.symbol)
        assert order.order_type in (OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT)
        order_id = await manager.send_order_async(order)
        await manager.wait_for_order_async(
            order_id, lambda o: o.status is OrderStatus.SUBMITTED or o.is_final, venue.timeout)
        assert order.status is OrderStatus.SUBMITTED, order.reason
        assert order.venue_order_id
        assert manager.cancel_order(order_id)
        done = await manager.wait_for_order_async(order_id, timeout=venue.timeout)
        assert done.status is OrderStatus.CANCELLED
        assert not manager.cancel_order(order_id)  # final: nothing to cancel

    async def test_bad_order_rejected_with_reason(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        if not venue.orders or venue.rejected_order is None:
            pytest.skip("no order this venue rejects")
        assert await manager.start()
        await _maybe(venue.before_reject, manager)
        order_id = await manager.send_order_async(venue.rejected_order(venue.symbol))
        done = await manager.wait_for_order_async(order_id, timeout=venue.timeout)
        assert done.status is OrderStatus.REJECTED
        assert done.reason and venue.reject_reason.lower() in done.reason.lower()

    async def test_dropped_connection_noticed_and_restored(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        if venue.drop is None:
            pytest.skip("no way to drop this venue")
        collector = _Collector()
        manager.add_subscriber(collector)
        assert await manager.start()
        data_type = venue.data_types[0]
        assert await manager.subscribe_async([Subscription(venue.symbol, data_type)]) == {}
        await _next_update(manager, collector, data_type, venue.symbol, venue.timeout)
        connector = manager.get_connector(venue.connector_name)
        await _maybe(venue.drop, manager)
        await _until(manager, lambda: not connector.is_connected,
                     venue.timeout, "the drop to be noticed")
        await _maybe(venue.restore, manager)
        await _until(manager, lambda: connector.is_connected, venue.timeout, "a reconnect")
        mark = len(collector.updates)
        update = await _next_update(manager, collector, data_type, venue.symbol, venue.timeout,
                                    after=mark)
        assert update.source == venue.connector_name
        stats = manager.get_stats()["connectors"][venue.connector_name]
        assert stats["reconnects"] >= 1 or stats["disconnects"] >= 1
