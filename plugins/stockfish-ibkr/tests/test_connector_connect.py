"""The ibkr connector's session: configuration, connecting, failures, health status."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import stockfish_ibkr.plugin as plugin
from stockfish_core import (
    ConfigError,
    ConnectorStatus,
    DataType,
    OrderType,
    PluginRegistry,
    Subscription,
)
from stockfish_core.config import parse_config, structure_plugin_config
from stockfish_ibkr.config import IBKRConfig, MarketDataType
from stockfish_ibkr.errors import ClientIdInUse, ConnectTimeout, GatewayNotListening
from stockfish_ibkr.testing import GatewaySimulator

S = ConnectorStatus


def _cfg(**settings: Any) -> IBKRConfig:
    return structure_plugin_config(IBKRConfig, settings, "connectors.ibkr")  # type: ignore[no-any-return]


# -- configuration (no network) --------------------------------------------------------------
def test_plugin_declares_itself() -> None:
    registry = PluginRegistry(entry_points=())
    loaded = registry.register(plugin, "ibkr")
    spec = loaded.spec
    assert spec is not None and spec.config_class is IBKRConfig
    caps = spec.capabilities
    assert caps.data_types == {DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT,
                               DataType.OHLCV_BAR}
    assert caps.order_types == set(OrderType)
    hooks = sorted(n for n in plugin.__all__ if n.startswith("stockfish_"))
    assert sorted(loaded.hook_names) == hooks


def test_yaml_wins_over_environment_which_wins_over_defaults() -> None:
    env = {"IB_HOST": "10.0.0.9", "IB_PORT": "4001", "IB_CLIENT_ID": "77", "IB_ACCOUNT": "U9"}
    assert str(_cfg().endpoint({})) == "127.0.0.1:7497 client 1"
    from_env = _cfg().endpoint(env)
    assert (from_env.host, from_env.port, from_env.client_id, from_env.account) == (
        "10.0.0.9", 4001, 77, "U9")
    both = _cfg(host="127.0.0.1", port=4002, client_id=5, account="DU1").endpoint(env)
    assert (both.host, both.port, both.client_id, both.account) == ("127.0.0.1", 4002, 5, "DU1")
    with pytest.raises(ValueError, match="IB_PORT must be an integer"):
        _cfg().endpoint({"IB_PORT": "seventy"})


def test_config_is_validated() -> None:
    cfg = _cfg(market_data_type="delayed-frozen", pacing={"max_messages_per_second": 45},
               contracts={"ES": {"sec_type": "FUT", "symbol": "ES", "expiry": "202512"}})
    assert cfg.market_data_type is MarketDataType.DELAYED_FROZEN
    assert cfg.market_data_type.code == 4
    assert cfg.contracts["ES"].expiry == "202512"
    for bad, words in [
        ({"prot": 1}, "connectors.ibkr.prot: unknown key"),
        ({"port": 0}, "port must be between 1 and 65535"),
        ({"pacing": {"max_messages_per_second": 60}}, "between 1 and 45 (IB's limit is 50)"),
        ({"library": "ibapi"}, "library must be auto, ib_insync or ib_async"),
        ({"market_data_type": "realtime"}, "expected one of live, frozen, delayed"),
        ({"connect_timeout": 0}, "connect_timeout must be positive"),
        ({"contracts": {"X": {"sec_typ": "FUT"}}}, "contracts.X.sec_typ: unknown key"),
    ]:
        with pytest.raises(ConfigError) as info:
            _cfg(**bad)
        assert words in str(info.value)


def test_full_yaml_section_validates(tmp_path: Any) -> None:
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "ibkr")
    config = parse_config({"connectors": {"ibkr": {"primary": True, "port": 4002,
                                                   "client_id": 3}}}, registry=registry)
    section = config.connectors["ibkr"]
    assert isinstance(section.config, IBKRConfig) and section.config.port == 4002


def test_library_choice(monkeypatch: pytest.MonkeyPatch, library_name: str) -> None:
    monkeypatch.setenv("STOCKFISH_IBKR_LIBRARY", library_name)
    assert _cfg().library_preference() == [library_name]
    assert _cfg(library=library_name).library_preference({}) == [library_name]
    monkeypatch.delenv("STOCKFISH_IBKR_LIBRARY")
    assert _cfg().library_preference() == ["ib_insync", "ib_async"]


# -- connecting ------------------------------------------------------------------------------
async def test_connects_and_reports_status(gateway: GatewaySimulator, make_harness: Any,
                                           library_name: str) -> None:
    async with make_harness(gateway, client_id=21) as h:
        await h.connect()
        statuses = [s for s, _ in h.listener.statuses]
        assert statuses == [S.CONNECTING, S.CONNECTED]
        assert h.connector.state.library_name == library_name
        assert 21 in gateway.sessions
        await h.disconnect()
        assert h.connector.status is S.DISCONNECTED
        assert 21 not in gateway.sessions or not gateway.sessions[21].transport.is_closing()
        await h.disconnect()  # twice is harmless


async def test_environment_supplies_the_endpoint(gateway: GatewaySimulator, make_harness: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IB_HOST", "127.0.0.1")
    monkeypatch.setenv("IB_PORT", str(gateway.port))
    monkeypatch.setenv("IB_CLIENT_ID", "33")
    async with make_harness(gateway, host=None, port=None, client_id=None) as h:
        await h.connect()
        assert 33 in gateway.sessions


async def test_nothing_listening_is_a_clear_error(make_harness: Any) -> None:
    gw = GatewaySimulator(tick_interval=None)
    await gw.start()
    await gw.close()  # the port is free again: nothing listens there
    async with make_harness(gw) as h:
        with pytest.raises(GatewayNotListening, match=r"nothing is listening at 127\.0\.0\.1"):
            await h.connect()
        assert h.connector.status is S.DISCONNECTED
        assert "nothing is listening" in h.connector.status_reason


async def test_client_id_in_use_fails_fast(gateway: GatewaySimulator, make_harness: Any,
                                           connect: Any) -> None:
    await connect(gateway, client_id=9)
    async with make_harness(gateway, client_id=9, connect_timeout=60.0) as h:
        # Without the 326 fast path this would wait for the 60 s connect timeout.
        with pytest.raises(ClientIdInUse, match="client id 9 is already in use"):
            await asyncio.wait_for(h.call("stockfish_connect"), 10)
        assert h.connector.status is S.ERROR


async def test_connect_timeout_is_a_clear_error(gateway: GatewaySimulator,
                                                make_harness: Any) -> None:
    gateway.stall_handshake = True
    async with make_harness(gateway, connect_timeout=0.5) as h:
        with pytest.raises(ConnectTimeout, match=r"not ready within 0.5s"):
            await h.call("stockfish_connect")
        assert h.connector.status is S.DISCONNECTED


# -- health ------------------------------------------------------------------------------------
async def test_connectivity_loss_and_restore_drive_status(gateway: GatewaySimulator,
                                                          make_harness: Any) -> None:
    async with make_harness(gateway) as h:
        await h.connect()
        await h.subscribe(Subscription("AAPL"))
        await h.next_update(5)
        gateway.connectivity_lost()
        await h.wait_status(S.RECONNECTING, 5)
        assert "1100" in h.connector.status_reason
        gateway.connectivity_restored(data_lost=True)  # TWS dropped the subscriptions
        await h.wait_status(S.CONNECTED, 5)
        # ...and the connector asked again: data flows without any new subscribe call.
        await gateway.wait_for(lambda: gateway.sessions[1].mkt, 5, "a new request")
        mark = len(h.listener.updates)
        await h.listener.wait_for(lambda: len(h.listener.updates) > mark + 2, 5, "ticks")
        gateway.connectivity_lost()
        await h.wait_status(S.RECONNECTING, 5)
        gateway.connectivity_restored(data_lost=False)
        await h.wait_status(S.CONNECTED, 5)


async def test_data_farm_notices_drive_status(gateway: GatewaySimulator,
                                              make_harness: Any) -> None:
    async with make_harness(gateway) as h:
        await h.connect()
        gateway.set_market_farm(False)
        await h.wait_status(S.RECONNECTING, 5)
        assert "usfarm (2103)" in h.connector.status_reason
        gateway.set_hmds_farm(False)
        await h.listener.wait_for(lambda: "ushmds (2105)" in h.connector.status_reason, 5,
                                  "2105")
        gateway.set_market_farm(True)
        await h.listener.wait_for(lambda: "usfarm" not in h.connector.status_reason, 5, "2104")
        assert h.connector.status is S.RECONNECTING
        gateway.set_hmds_farm(True)
        await h.wait_status(S.CONNECTED, 5)


async def test_losing_the_socket_is_disconnected(gateway: GatewaySimulator,
                                                 make_harness: Any) -> None:
    async with make_harness(gateway, client_id=4) as h:
        await h.connect()
        assert gateway.drop_client(4)
        await h.wait_status(S.DISCONNECTED, 5)
        assert "lost" in h.connector.status_reason
        await h.disconnect()
        await h.connect()  # what the manager does next
        assert h.connector.status is S.CONNECTED
