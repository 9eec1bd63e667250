"""The typed per-venue hook caller, and the manager as a facade over its parts."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from stockfish_core import API_VERSION, PluginRegistry, PluginSpec, hookimpl
from stockfish_core.connector import Connector, Subscription
from stockfish_core.data.settings import HistoryRequest
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import DataType, MarketUpdate
from stockfish_core.orders import Order, OrderAction, OrderRequest, OrderSide
from stockfish_core.testing.harness import RecordingListener
from stockfish_core.venues import VenueHooks


class Venue:
    """Records which hook was called with what; async and plain hooks mixed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def stockfish_plugin_spec(self) -> PluginSpec:
        return PluginSpec(API_VERSION)

    @hookimpl
    async def stockfish_connect(self, connector: Connector) -> None:
        self.calls.append(("connect", connector.name))

    @hookimpl
    def stockfish_disconnect(self, connector: Connector) -> None:
        self.calls.append(("disconnect", connector.name))

    @hookimpl
    async def stockfish_subscribe(self, connector: Connector,
                                  subscription: Subscription) -> None:
        self.calls.append(("subscribe", subscription))

    @hookimpl
    def stockfish_unsubscribe(self, subscription: Subscription) -> None:
        self.calls.append(("unsubscribe", subscription))

    @hookimpl
    def stockfish_execute(self, connector: Connector, request: OrderRequest) -> Any:
        self.calls.append(("execute", request.action))
        if request.action is OrderAction.CANCEL:
            async def later() -> None:
                self.calls.append(("execute awaited", request.action))
            return later()
        return None

    @hookimpl
    def stockfish_normalize(self, messages: list[Any]) -> list[MarketUpdate]:
        self.calls.append(("normalize", list(messages)))
        return []

    @hookimpl
    async def stockfish_history(self, request: HistoryRequest) -> list[Any]:
        self.calls.append(("history", request.symbol))
        return [self.name]


def hooks_of(registry: PluginRegistry, name: str) -> VenueHooks:
    connector = Connector(name, name, listener=RecordingListener(),
                          hooks=registry.get(name).hooks)
    return VenueHooks(connector)


async def test_each_method_calls_its_hook_on_the_venues_plugin_only() -> None:
    a, b = Venue("a"), Venue("b")
    registry = PluginRegistry(entry_points=())
    registry.register(a, "a")
    registry.register(b, "b")
    hooks = hooks_of(registry, "a")
    sub = Subscription("SPY", DataType.PRICE_TICK)
    order = Order("SPY", OrderSide.BUY, 1)
    order.client_order_id = "X1"

    await hooks.connect(timeout=5)
    await hooks.subscribe(sub)
    await hooks.unsubscribe(sub)
    assert hooks.execute(OrderRequest(OrderAction.SUBMIT, order)) is None  # a plain hook
    pending = hooks.execute(OrderRequest(OrderAction.CANCEL, order))
    assert pending is not None and inspect.isawaitable(pending)
    await pending
    assert hooks.normalize(["raw"]) == []
    assert await hooks.history(HistoryRequest("SPY", 0, 10)) == ["a"]
    await hooks.disconnect()

    assert a.calls == [("connect", "a"), ("subscribe", sub), ("unsubscribe", sub),
                       ("execute", OrderAction.SUBMIT), ("execute", OrderAction.CANCEL),
                       ("execute awaited", OrderAction.CANCEL), ("normalize", ["raw"]),
                       ("history", "SPY"), ("disconnect", "a")]
    assert b.calls == []


async def test_a_hook_that_raises_reaches_the_caller_and_connect_times_out() -> None:
    class Failing(Venue):
        @hookimpl
        async def stockfish_subscribe(self, connector: Connector,
                                      subscription: Subscription) -> None:
            raise ValueError(f"no such symbol {subscription.symbol}")

        @hookimpl
        async def stockfish_connect(self, connector: Connector) -> None:
            import asyncio
            await asyncio.Event().wait()

    registry = PluginRegistry(entry_points=())
    registry.register(Failing("f"), "f")
    hooks = hooks_of(registry, "f")
    with pytest.raises(ValueError, match="no such symbol NOPE"):
        await hooks.subscribe(Subscription("NOPE"))
    with pytest.raises(TimeoutError):
        await hooks.connect(timeout=0.05)


def test_execute_calls_the_plugin_directly_until_another_plugin_takes_part() -> None:
    # Order entry is the hot path: no pluggy call per order, yet a wrapper registered
    # later (a tracer, an audit) sees every order from then on.
    a = Venue("a")
    registry = PluginRegistry(entry_points=())
    registry.register(a, "a")
    hooks = hooks_of(registry, "a")
    order = Order("SPY", OrderSide.BUY, 1)
    order.client_order_id = "X1"
    assert hooks.execute(OrderRequest(OrderAction.SUBMIT, order)) is None
    assert hooks._execute is not None and hooks._execute[1] == a.stockfish_execute
    seen: list[OrderAction] = []

    class Audit:
        @hookimpl(wrapper=True)
        def stockfish_execute(self, connector: Connector, request: OrderRequest) -> Any:
            seen.append(request.action)
            return (yield)

    registry.register(Audit(), "audit")
    assert hooks.execute(OrderRequest(OrderAction.STATUS, order)) is None
    assert seen == [OrderAction.STATUS]
    assert a.calls == [("execute", OrderAction.SUBMIT), ("execute", OrderAction.STATUS)]


def test_a_connector_without_hooks_is_refused_clearly() -> None:
    connector = Connector("bare", "bare", listener=RecordingListener())
    with pytest.raises(ValueError, match="connector bare has no plugin hooks"):
        VenueHooks(connector)


def test_the_manager_is_a_facade_over_parts_not_mixins() -> None:
    assert ExchangeManager.__mro__ == (ExchangeManager, object)
    manager = ExchangeManager(journal=":memory:")
    try:
        # The parts share one view of the venues and of the order store.
        assert manager._supervisor.venues is manager._venues
        assert manager._order_service.venues is manager._venues
        assert manager._order_service.orders is manager.orders
        assert manager._supervisor.orders is manager.orders
        assert manager._subscriptions.hub is manager.hub
    finally:
        manager.close()
