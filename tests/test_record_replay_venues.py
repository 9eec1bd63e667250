"""Record a run through the three venue simulators (the TWS-protocol gateway, the FIX
exchange, the ZeroMQ publisher) and replay it: the subscriber sees the same updates in the
same order with the same payloads."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("pandas")

from stockfish_core import ExchangeManager, MarketUpdate, PluginRegistry
from stockfish_core.config import parse_config
from stockfish_core.data import read
from stockfish_core.data import replay as replay_plugin
from stockfish_core.models import DataType
from stockfish_core.testing import wait_until

VENUES = {"ibkr": ["SPY"], "fix": ["QQQ"], "zmq": ["BTCUSD", "ETHUSD"]}


class Collector:
    def __init__(self) -> None:
        self.updates: list[MarketUpdate] = []
        self.changed = asyncio.Event()

    def on_update(self, update: MarketUpdate) -> None:
        self.updates.append(update)
        self.changed.set()


async def test_a_run_through_the_three_simulators_replays_identically(tmp_path: Path) -> None:
    registry = PluginRegistry()
    for name in VENUES:
        if name not in registry.installed():
            pytest.skip(f"stockfish-{name} is not installed")
    registry.load(list(VENUES), strict=True)
    simulators = {name: registry.get(name).hooks.call("stockfish_simulator", symbols=symbols)
                  for name, symbols in VENUES.items()}
    live_seen = Collector()
    try:
        settings: dict[str, Any] = {}
        for name, simulator in simulators.items():
            settings[name] = dict(await simulator.start())
        raw = {
            "connectors": {"ibkr": {"primary": True, **settings["ibkr"]},
                           "fix": {**settings["fix"]},
                           "zmq": {"data_only": True, **settings["zmq"]}},
            "manager": {"journal": ":memory:",
                        "recording": {"path": str(tmp_path / "rec"), "flush_interval": 0.05}},
            "subscriptions": [
                {"symbols": ["SPY"], "type": "price_tick", "connectors": ["ibkr"]},
                {"symbols": ["QQQ"], "type": "price_tick", "connectors": ["fix"]},
                {"symbols": ["QQQ"], "type": "orderbook", "depth": 5, "connectors": ["fix"]},
                {"symbols": ["BTCUSD", "ETHUSD"], "type": "price_tick", "connectors": ["zmq"]},
            ],
        }
        live = ExchangeManager.from_config(parse_config(raw, registry), registry)
        live.add_subscriber(live_seen)
        async with live:
            await wait_until(lambda: {u.source for u in live_seen.updates} == set(VENUES)
                             and len(live_seen.updates) >= 300, live_seen.changed, 60,
                             "data from the three venues")
    finally:
        for simulator in simulators.values():
            with contextlib.suppress(Exception):
                await simulator.stop()

    table = read(tmp_path / "rec")
    assert table.num_rows == len(live_seen.updates)
    assert set(table.column("source").to_pylist()) == set(VENUES)

    replay_registry = PluginRegistry(entry_points=())
    replay_registry.register(replay_plugin, "replay")
    replayer = ExchangeManager(registry=replay_registry, journal=":memory:")
    replayer.add_connector("replay", "replay", path=str(tmp_path / "rec"))
    replayed = Collector()
    replayer.add_subscriber(replayed)
    replayer.subscribe_price(["SPY"])
    async with replayer:
        state = replayer.get_connector("replay").state
        await wait_until(lambda: state.finished is not None, replayed.changed, 30,
                         "the replay to finish")
    types = {u.data_type for u in replayed.updates}
    assert types == {DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT}
    assert replayed.updates == live_seen.updates
