"""The plugin as the core sees it: its declaration, its entry point, its hooks before a
session exists."""

from __future__ import annotations

from importlib import metadata

import pytest

import stockfish_fix.plugin as fix_plugin
from stockfish_core import (
    Connector,
    DataType,
    Order,
    OrderAction,
    OrderRequest,
    OrderType,
    PluginRegistry,
    Subscription,
    TimeInForce,
    VenueUnavailable,
)
from stockfish_core.testing import RecordingListener
from stockfish_fix.config import FixConfig


def test_spec_declares_config_and_capabilities() -> None:
    registry = PluginRegistry(entry_points=())
    loaded = registry.register(fix_plugin, "fix")
    spec = loaded.spec
    assert spec is not None
    assert spec.config_class is FixConfig
    caps = spec.capabilities
    assert caps.data_types == {DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.TRADE}
    assert caps.order_types == set(OrderType)  # TRAILING_STOP: see FixConfig.trailing_stops
    assert caps.time_in_force == set(TimeInForce)
    assert caps.replace and caps.execution
    assert set(loaded.hook_names) == {
        "stockfish_plugin_spec", "stockfish_connect", "stockfish_disconnect",
        "stockfish_subscribe", "stockfish_unsubscribe", "stockfish_normalize",
        "stockfish_execute", "stockfish_simulator", "stockfish_positions",
        "stockfish_executions", "stockfish_instrument",
    }


def test_entry_point_of_the_installed_distribution() -> None:
    (entry,) = [ep for ep in metadata.entry_points(group="stockfish") if ep.name == "fix"]
    assert entry.value == "stockfish_fix.plugin"
    assert entry.dist is not None and entry.dist.metadata["Name"] == "stockfish-fix"
    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert scripts.get("stockfish-fix-exchange") == "stockfish_fix.testing.cli:main"


async def test_hooks_before_any_session() -> None:
    connector = Connector("fix", "fix", None, listener=RecordingListener())
    with pytest.raises(VenueUnavailable, match="not connected"):
        fix_plugin.stockfish_subscribe(connector, Subscription("SPY"))
    with pytest.raises(VenueUnavailable, match="not connected"):
        fix_plugin.stockfish_execute(connector, OrderRequest(
            OrderAction.SUBMIT, Order("SPY", "BUY", 1, client_order_id="x")))
    assert fix_plugin.stockfish_normalize(connector, [(1, "8=FIX.4.4")]) == []
    fix_plugin.stockfish_unsubscribe(connector, Subscription("SPY"))
    await fix_plugin.stockfish_disconnect(connector)  # nothing to close: no error


async def test_the_simulator_hook_serves_a_connector() -> None:
    from stockfish_core import ExchangeManager, Order, OrderStatus, PluginRegistry

    simulator = fix_plugin.stockfish_simulator(["SPY"])
    settings = await simulator.start()
    try:
        registry = PluginRegistry(entry_points=())
        registry.register(fix_plugin, "fix")
        manager = ExchangeManager(registry=registry, journal=":memory:")
        manager.add_connector("fix", "fix", **settings)
        async with manager:
            order_id = await manager.send_order_async(Order("SPY", "BUY", 1))
            done = await manager.wait_for_order_async(order_id)
            assert done.status is OrderStatus.FILLED
        assert simulator.received_order_ids() == [order_id]
    finally:
        await simulator.stop()
