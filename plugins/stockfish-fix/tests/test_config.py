"""The connector's settings, read from YAML through the core's configuration loader."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import stockfish_fix.plugin as fix_plugin
from stockfish_core import ConfigError, PluginRegistry, Secret, load_config
from stockfish_core.config import structure_plugin_config
from stockfish_fix.config import FixConfig, HostPort, ReconnectMode, StoreKind


def registry() -> PluginRegistry:
    reg = PluginRegistry(entry_points=())
    reg.register(fix_plugin, "fix")
    return reg


def structure(**settings: Any) -> FixConfig:
    base = {"sender_comp_id": "ME", "target_comp_id": "THEM", "port": 9876}
    base.update(settings)
    config: FixConfig = structure_plugin_config(FixConfig, base, "connectors.fix")
    return config


def test_yaml_with_credentials_from_the_environment(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIX_USER", "trader1")
    monkeypatch.setenv("FIX_PASSWORD", "s3cret")
    monkeypatch.setenv("FIX_TOKEN", "12345")
    path = tmp_path / "stockfish.yaml"
    path.write_text(textwrap.dedent("""
        connectors:
          broker:
            plugin: fix
            host: fix.broker.example
            port: 9876
            begin_string: FIXT.1.1
            sender_comp_id: STOCKFISH
            target_comp_id: BROKER
            username: ${FIX_USER}
            password: ${FIX_PASSWORD}
            logon_fields: {96: "${FIX_TOKEN}"}
            alternate_hosts: [{host: fix2.broker.example, port: 9877}]
            file_store_path: /var/lib/stockfish/fix
            reset_on_logon: true
            extra_settings: {ValidateFieldsOutOfOrder: false, CheckLatency: N}
    """))
    config = load_config(path, registry())
    fix: FixConfig = config.connectors["broker"].config
    assert fix.begin_string == "FIXT.1.1"
    assert fix.default_appl_ver_id == "FIX.5.0SP2"
    assert isinstance(fix.password, Secret)
    assert fix.logon_values() == {553: "trader1", 554: "s3cret", 96: "12345"}
    assert "s3cret" not in repr(fix) and "12345" not in repr(fix)
    assert fix.alternate_hosts == [HostPort("fix2.broker.example", 9877)]
    assert fix.extra_settings == {"ValidateFieldsOutOfOrder": "N", "CheckLatency": "N"}
    assert fix.reset_on_logon is True
    assert fix.reconnect is ReconnectMode.MANAGER
    assert fix.store is StoreKind.FILE


def test_defaults() -> None:
    config = structure()
    assert (config.host, config.begin_string, config.heartbeat_interval) == (
        "127.0.0.1", "FIX.4.4", 30)
    assert config.application_version == "FIX.4.4"
    assert not config.fixt
    assert config.logon_values() == {}
    assert structure(begin_string="FIXT.1.1").application_version == "FIX.5.0SP2"


@pytest.mark.parametrize(("settings", "message"), [
    ({"begin_string": "FIX.4.3"}, "begin_string must be one of FIX.4.2, FIX.4.4, FIXT.1.1"),
    ({"default_appl_ver_id": "FIX.6"}, "default_appl_ver_id must be one of"),
    ({"port": 70000}, "port must be in 1..65535"),
    ({"heartbeat_interval": 0}, "heartbeat_interval must be positive"),
    ({"reconnect_initial_delay": 5.0, "reconnect_max_delay": 1.0}, "reconnect delays"),
    ({"extra_settings": {"SenderCompID": "X"}}, "extra_settings may not set SenderCompID"),
    ({"sender_comp_id": " "}, "sender_comp_id must not be empty"),
    ({"store": "disk"}, "expected one of file, memory"),
    ({"portt": 1}, "unknown key"),
])
def test_invalid_settings_are_reported_with_their_path(settings: dict[str, Any],
                                                       message: str) -> None:
    with pytest.raises(ConfigError) as info:
        structure(**settings)
    assert message in str(info.value)
    assert "connectors.fix" in str(info.value)


def test_missing_required_settings() -> None:
    with pytest.raises(ConfigError) as info:
        structure_plugin_config(FixConfig, {"port": 1}, "connectors.fix")
    text = str(info.value)
    assert "connectors.fix.sender_comp_id: required setting is missing" in text
    assert "connectors.fix.target_comp_id: required setting is missing" in text


def test_a_secret_never_shows_in_an_error(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIX_PASSWORD", "hunter2")
    path = tmp_path / "stockfish.yaml"
    path.write_text(textwrap.dedent("""
        connectors:
          broker:
            plugin: fix
            port: 9876
            sender_comp_id: A
            target_comp_id: B
            password: ${FIX_PASSWORD}
            begin_string: FIX.9
    """))
    with pytest.raises(ConfigError) as info:
        load_config(path, registry())
    assert "hunter2" not in str(info.value)
    assert "begin_string" in str(info.value)
