"""The YAML configuration: one readable error per problem, with file and path."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from importlib import metadata
from pathlib import Path

import pytest

from stockfish_core import ConfigError, FailoverStrategy, PluginRegistry, Secret
from stockfish_core.config import load_config, parse_config
from stockfish_core.models import DataType

MakePlugin = Callable[..., metadata.EntryPoint]

SECRET_PLUGIN = """
import attrs
from stockfish_core import API_VERSION, PluginSpec, Secret, hookimpl

@attrs.frozen
class Settings:
    host: str
    port: int = 9876
    password: Secret | None = None
    mode: str = "paper"

@hookimpl
def stockfish_plugin_spec():
    return PluginSpec(API_VERSION, Settings)
"""


@pytest.fixture
def registry(make_plugin: MakePlugin) -> PluginRegistry:
    return PluginRegistry([make_plugin("venue", SECRET_PLUGIN)])


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stockfish.yaml"
    path.write_text(text)
    return path


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [f"{p.path}: {p.message}" for p in exc.value.problems]


def test_a_valid_file(tmp_path: Path, registry: PluginRegistry) -> None:
    path = write(tmp_path, """
connectors:
  venue:
    primary: true
    host: 127.0.0.1
    port: 4001
  backup:
    plugin: venue
    enabled: false
    host: example
manager:
  failover_strategy: BEST_AVAILABLE
  health_check_interval: 0.5
  risk: {max_order_quantity: 1000, max_order_notional: "250000.50"}
subscriptions:
  - {symbols: [SPY, QQQ], type: price, connectors: [venue]}
  - {symbols: [SPY], type: orderbook, depth: 20}
""")
    config = load_config(path, registry)
    venue = config.connectors["venue"]
    assert venue.primary and venue.enabled
    assert venue.config.host == "127.0.0.1" and venue.config.port == 4001
    assert config.connectors["backup"].config is None  # disabled: not validated
    assert list(config.enabled) == ["venue"]
    assert config.manager.failover_strategy is FailoverStrategy.BEST_AVAILABLE
    assert config.manager.risk.max_order_notional == Decimal("250000.50")
    assert config.subscriptions[0].type is DataType.PRICE_TICK
    assert config.subscriptions[1].subscriptions()[0].depth == 20
    assert config.source == str(path)


def test_malformed_yaml(tmp_path: Path, registry: PluginRegistry) -> None:
    path = write(tmp_path, "connectors:\n  venue: {host: [1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, registry)
    assert "malformed YAML: line 3" in problems(exc)[0]
    assert str(path) in str(exc.value)


def test_unknown_plugin_names_the_distribution(tmp_path: Path, registry: PluginRegistry) -> None:
    path = write(tmp_path, "connectors:\n  fix:\n    port: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, registry)
    assert problems(exc) == [
        "connectors.fix.plugin: plugin 'fix' is enabled but not installed; "
        "install it with: pip install stockfish-fix"
    ]


def test_unknown_key(tmp_path: Path, registry: PluginRegistry) -> None:
    path = write(tmp_path, "connectors:\n  venue:\n    host: h\n    prot: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, registry)
    (problem,) = problems(exc)
    assert problem.startswith("connectors.venue.prot: unknown key (known keys: host, mode,")


def test_wrong_type(tmp_path: Path, registry: PluginRegistry) -> None:
    path = write(tmp_path, "connectors:\n  venue:\n    host: h\n    port: abc\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, registry)
    assert problems(exc) == ["connectors.venue.port: expected an integer, got 'abc'"]
    assert "Traceback" not in str(exc.value)


def test_missing_required_field(tmp_path: Path, registry: PluginRegistry) -> None:
    path = write(tmp_path, "connectors:\n  venue:\n    port: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, registry)
    assert problems(exc) == ["connectors.venue.host: required setting is missing"]


def test_bad_enum_value(tmp_path: Path, registry: PluginRegistry) -> None:
    path = write(tmp_path, "manager:\n  failover_strategy: fastest\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, registry)
    assert problems(exc) == [
        "manager.failover_strategy: expected one of round_robin, primary_backup, "
        "best_available, got 'fastest'"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path, registry: PluginRegistry) -> None:
    path = write(tmp_path, """
connectors:
  venue: {host: h, port: "1"}
manager: {health_check_interval: fast, staleness: true}
subscriptions: [{symbols: SPY}]
extra: 1
""")
    with pytest.raises(ConfigError) as exc:
        load_config(path, registry)
    found = problems(exc)
    known = "connectors, manager, metrics, plugins, subscriptions"
    assert f"extra: unknown top-level key (known: {known})" in found
    assert "manager.health_check_interval: expected a number, got 'fast'" in found
    assert "manager.staleness: expected a number, got True" in found
    assert "subscriptions[0].symbols: expected a list, got 'SPY'" in found
    assert "connectors.venue.port: expected an integer, got '1'" in found
    assert str(exc.value).startswith(f"{path}: configuration has")


def test_subscription_names_a_known_connector(registry: PluginRegistry) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"connectors": {"venue": {"host": "h"}},
                      "subscriptions": [{"symbols": ["A"], "connectors": ["nowhere"]}]}, registry)
    assert problems(exc) == ["subscriptions[0].connectors: no connector named 'nowhere'"]


def test_a_name_yaml_reads_as_boolean(registry: PluginRegistry) -> None:
    import yaml

    with pytest.raises(ConfigError) as exc:
        parse_config(yaml.safe_load("connectors:\n  off: {}\n"), registry)
    assert problems(exc) == ["connectors.False: a connector name must be a string, got False "
                             "(YAML reads unquoted yes/no/on/off/true/false as booleans: "
                             "quote the name)"]


def test_core_keys_are_checked(registry: PluginRegistry) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"connectors": {"venue": {"primary": "yes", "host": "h"},
                                     "9bad": {}}}, registry)
    assert "connectors.venue.primary: expected true or false, got 'yes'" in problems(exc)
    assert any(p.startswith("connectors.9bad: a connector name starts with") for p in problems(exc))


def test_environment_interpolation(
    monkeypatch: pytest.MonkeyPatch, registry: PluginRegistry
) -> None:
    monkeypatch.setenv("SF_HOST", "10.1.2.3")
    monkeypatch.setenv("SF_PORT", "7000")
    config = parse_config({"connectors": {"venue": {
        "host": "${SF_HOST}", "port": "${SF_PORT}", "mode": "${SF_MODE:-live}-x"}}}, registry)
    settings = config.connectors["venue"].config
    assert settings.host == "10.1.2.3"
    assert settings.port == 7000  # a whole-value ${VAR} takes its YAML type
    assert settings.mode == "live-x"


def test_missing_environment_variable(registry: PluginRegistry) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"connectors": {"venue": {"host": "${SF_SURELY_UNSET_VAR}"}}}, registry)
    assert problems(exc) == [
        "connectors.venue.host: environment variable SF_SURELY_UNSET_VAR is not set"
    ]


def test_secrets_never_show(
    monkeypatch: pytest.MonkeyPatch, registry: PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SF_PASSWORD", "hunter2-very-secret")
    with caplog.at_level(logging.DEBUG):
        config = parse_config(
            {"connectors": {"venue": {"host": "h", "password": "${SF_PASSWORD}"}}}, registry
        )
        logging.getLogger("stockfish.test").info("config: %r", config)
    settings = config.connectors["venue"].config
    assert isinstance(settings.password, Secret)
    assert settings.password.get_secret_value() == "hunter2-very-secret"
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(settings.password)
    assert "hunter2" not in caplog.text
    with pytest.raises(ConfigError) as exc:
        parse_config({"connectors": {"venue": {"host": "h", "password": {"v": "hunter2"}}}},
                     registry)
    assert "hunter2" not in str(exc.value)
    assert "connectors.venue.password: expected a string (value not shown)" in problems(exc)


def test_plugin_without_config_class_takes_no_settings(make_plugin: MakePlugin) -> None:
    bare = make_plugin("bare", """
from stockfish_core import API_VERSION, PluginSpec, hookimpl
@hookimpl
def stockfish_plugin_spec():
    return PluginSpec(API_VERSION)
""")
    registry = PluginRegistry([bare])
    assert parse_config({"connectors": {"bare": None}}, registry).connectors["bare"].enabled
    with pytest.raises(ConfigError) as exc:
        parse_config({"connectors": {"bare": {"host": 1}}}, registry)
    assert problems(exc) == ["connectors.bare: plugin 'bare' takes no settings; unknown keys: host"]


def test_broken_plugin_is_a_config_problem(make_plugin: MakePlugin) -> None:
    registry = PluginRegistry([make_plugin("venue", "raise ImportError('no lib')")])
    with pytest.raises(ConfigError) as exc:
        parse_config({"connectors": {"venue": {}}}, registry)
    assert "import failed: ImportError: no lib" in problems(exc)[0]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "nope.yaml")


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="expected a mapping at the top"):
        parse_config(["a"], validate_plugins=False)
