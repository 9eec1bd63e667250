"""Configuration hardening (issue 22): environment values kept exactly, hostile YAML
refused with a clear error, ranges and paths checked before a run, plugins that exit at
import isolated, and secrets held only as Secret."""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import pytest

from stockfish_core import ConfigError, PluginRegistry, Secret
from stockfish_core.cli import main as cli_main
from stockfish_core.config import load_config, parse_config, structure_plugin_config
from stockfish_core.errors import ConfigProblem

MakePlugin = Callable[..., metadata.EntryPoint]

PLUGIN = """
import attrs
from stockfish_core import API_VERSION, PluginSpec, Secret, hookimpl

@attrs.frozen
class Settings:
    host: str = "h"
    port: int = 9876
    password: Secret | None = None
    mode: str = "paper"
    ratio: float = 1.0
    flag: bool = False
    names: list[str] = attrs.Factory(list)

@hookimpl
def stockfish_plugin_spec():
    return PluginSpec(API_VERSION, Settings)
"""


@pytest.fixture
def registry(make_plugin: MakePlugin) -> PluginRegistry:
    return PluginRegistry([make_plugin("venue", PLUGIN)])


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [f"{p.path}: {p.message}" for p in exc.value.problems]


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "stockfish.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


# -- ${VAR} values are strings, exactly -------------------------------------------------
@pytest.mark.parametrize("value", ["0123", "1.50", "yes", "12:30:00", "~", "null", "[a]",
                                   "{a: 1}", "0x1F", "1e3", " padded ", ""])
def test_an_environment_value_is_substituted_exactly(
    monkeypatch: pytest.MonkeyPatch, registry: PluginRegistry, value: str
) -> None:
    monkeypatch.setenv("SF_PASSWORD", value)
    monkeypatch.setenv("SF_MODE", value)
    config = parse_config({"connectors": {"venue": {
        "password": "${SF_PASSWORD}", "mode": "${SF_MODE}"}}}, registry)
    settings = config.connectors["venue"].config
    assert settings.password.get_secret_value() == value
    assert settings.mode == value
    assert type(settings.mode) is str


def test_an_environment_value_is_structured_by_the_config_class(
    monkeypatch: pytest.MonkeyPatch, registry: PluginRegistry
) -> None:
    monkeypatch.setenv("SF_PORT", "7497")
    monkeypatch.setenv("SF_RATIO", "1.50")
    monkeypatch.setenv("SF_FLAG", "true")
    monkeypatch.setenv("SF_NAMES", "a, b,c")
    config = parse_config({"connectors": {"venue": {
        "port": "${SF_PORT}", "ratio": "${SF_RATIO}", "flag": "${SF_FLAG}",
        "names": "${SF_NAMES}"}}}, registry)
    settings = config.connectors["venue"].config
    assert (settings.port, settings.ratio, settings.flag) == (7497, 1.5, True)
    assert settings.names == ["a", "b", "c"]
    monkeypatch.setenv("SF_PORT", "seventy")
    with pytest.raises(ConfigError) as exc:
        parse_config({"connectors": {"venue": {"port": "${SF_PORT}"}}}, registry)
    assert problems(exc) == ["connectors.venue.port: expected an integer, got 'seventy' "
                             "(from the environment variable SF_PORT)"]


def test_a_yaml_string_is_still_not_a_number(registry: PluginRegistry) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"connectors": {"venue": {"port": "7497"}}}, registry)
    assert problems(exc) == ["connectors.venue.port: expected an integer, got '7497'"]


# -- hostile YAML -----------------------------------------------------------------------
def _load_error(tmp_path: Path, text: str | bytes) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text), validate_plugins=False)
    assert all(p.file for p in exc.value.problems)
    return problems(exc)


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    (msg,) = _load_error(tmp_path, b"manager:\n  journal: caf\xe9\n")
    assert msg.startswith(": not UTF-8 text")
    assert "line 2" in msg


@pytest.mark.parametrize("text", ["true: 1\n", "1: x\n", "null: 2\n", "manager: {1: 2}\n",
                                  "subscriptions: [{1: 2}]\n",
                                  "[1, 2]: 3\n", "? [1, 2]\n: 3\n"])
def test_keys_that_are_not_strings(tmp_path: Path, text: str) -> None:
    msgs = _load_error(tmp_path, text)
    assert msgs and all(m for m in msgs)


def test_a_recursive_alias(tmp_path: Path) -> None:
    (msg,) = _load_error(tmp_path, "manager: &a\n  risk: *a\n")
    assert "recursive" in msg


def test_deep_nesting(tmp_path: Path) -> None:
    (msg,) = _load_error(tmp_path, "manager: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested more than" in msg
    (msg,) = _load_error(tmp_path, "a: " + "{b: " * 3000 + "1" + "}" * 3000 + "\n")
    assert "nested more than" in msg


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    text = "manager:\n  risk:\n" + "\n".join("    " + line for line in lines) + "\n"
    assert len(text) < 1000
    started = time.process_time()
    (msg,) = _load_error(tmp_path, text)
    assert "aliases expand to more than" in msg
    assert time.process_time() - started < 2.0  # unbounded expansion took 72 s


def test_shared_anchors_within_the_bound_still_load(tmp_path: Path) -> None:
    text = "connectors:\n  a: &c {plugin: sim, primary: true}\n  b: *c\n"
    config = load_config(write(tmp_path, text), validate_plugins=False)
    assert set(config.connectors) == {"a", "b"}


# -- ranges and paths -------------------------------------------------------------------
@pytest.mark.parametrize(("section", "key", "value"), [
    ("manager", "connect_timeout", -1),
    ("manager", "connect_timeout", 0),
    ("manager", "reconnect_initial_delay", -0.5),
    ("manager", "reconnect_max_delay", -3),
    ("manager", "health_check_interval", 0),
    ("manager", "staleness", 0),
    ("manager", "bar_cache_size", 0),
    ("metrics", "port", 99999),
    ("metrics", "port", 0),
])
def test_numeric_settings_are_checked(section: str, key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({section: {key: value}}, validate_plugins=False)
    (msg,) = problems(exc)
    assert msg.startswith(f"{section}.{key}: "), msg


def test_reconnect_delays_are_ordered() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"manager": {"reconnect_initial_delay": 10, "reconnect_max_delay": 1}},
                     validate_plugins=False)
    assert problems(exc) == ["manager.reconnect_max_delay: must not be less than "
                             "reconnect_initial_delay (10.0), got 1.0"]


@pytest.mark.parametrize("key", ["max_order_quantity", "max_order_notional",
                                 "price_collar_pct", "max_orders_per_second"])
def test_risk_limits_are_positive(key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"manager": {"risk": {key: -1}}}, validate_plugins=False)
    (msg,) = problems(exc)
    assert msg.startswith(f"manager.risk.{key}: must be positive")


def test_a_journal_where_no_directory_can_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("")
    for journal, expected in ((blocker / "deeper" / "orders.db", "is not a directory"),
                              (tmp_path, "is a directory, not a journal file")):
        with pytest.raises(ConfigError) as exc:
            parse_config({"manager": {"journal": str(journal)}}, validate_plugins=False)
        (msg,) = problems(exc)
        assert msg.startswith("manager.journal: ") and expected in msg, msg
    # A missing directory that can be made is made by the journal: accepted.
    for good in (str(tmp_path / "new" / "orders.db"), ":memory:"):
        assert parse_config({"manager": {"journal": good}},
                            validate_plugins=False).manager.journal == good


def test_config_check_refuses_what_would_break_a_run(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "manager:\n  connect_timeout: -1\n  health_check_interval: 0\n"
                           "metrics: {port: 99999}\nconnectors: {sim: {primary: true}}\n")
    assert cli_main(["config", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "manager.connect_timeout: must be positive, got -1.0" in err
    assert "manager.health_check_interval: must be positive, got 0.0" in err
    assert "metrics.port: must be between 1 and 65535, got 99999" in err


# -- a plugin that exits at import --------------------------------------------------------
EXITS = "raise SystemExit(3)"


def test_a_plugin_raising_system_exit_is_isolated(make_plugin: MakePlugin) -> None:
    registry = PluginRegistry([make_plugin("bad", EXITS), make_plugin("venue", PLUGIN)])
    failures = registry.load(["bad", "venue"])
    assert [f.name for f in failures] == ["bad"]
    assert "import failed: SystemExit: 3" in failures[0].reason
    assert "venue" in registry.loaded
    with pytest.raises(ConfigError) as exc:
        parse_config({"connectors": {"bad": {}}}, PluginRegistry([make_plugin("bad", EXITS)]))
    assert "import failed: SystemExit: 3" in problems(exc)[0]


def test_keyboard_interrupt_at_import_is_not_swallowed(make_plugin: MakePlugin) -> None:
    registry = PluginRegistry([make_plugin("bad", "raise KeyboardInterrupt")])
    with pytest.raises(KeyboardInterrupt):
        registry.load(["bad"])


def test_stockfish_plugins_reports_a_plugin_that_exits(
    make_plugin: MakePlugin, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ep = make_plugin("bad", EXITS)
    monkeypatch.setattr(metadata, "entry_points", lambda **_: [ep])
    assert cli_main(["plugins", "--verbose"]) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "SystemExit: 3" in out


# -- secrets only as Secret ---------------------------------------------------------------
def test_connector_settings_hold_no_plain_secret(
    monkeypatch: pytest.MonkeyPatch, registry: PluginRegistry
) -> None:
    from stockfish_core import ExchangeManager

    monkeypatch.setenv("SF_PASSWORD", "hunter2-very-secret")
    config = parse_config({"connectors": {"venue": {"password": "${SF_PASSWORD}"}}}, registry)
    conn = config.connectors["venue"]
    assert isinstance(conn.settings["password"], Secret)
    assert "hunter2" not in repr(dict(conn.settings))
    manager = ExchangeManager.from_config(config, registry)
    connector = manager.get_connector("venue")
    assert "hunter2" not in repr(dict(connector.settings))
    assert connector.config.password.get_secret_value() == "hunter2-very-secret"
    added = manager.add_connector("venue2", "venue", password="hunter2-very-secret")
    assert isinstance(added.settings["password"], Secret)
    assert added.config.password.get_secret_value() == "hunter2-very-secret"


# -- aliases and environment fallbacks (the mechanism; the plugins' tables elsewhere) ---
def _versioned() -> type:
    from stockfish_core.config import ConfigCompat, KeyAlias

    @attrs.frozen
    class Versioned:
        __stockfish_compat__ = ConfigCompat(
            aliases={"version": KeyAlias("begin_string", {"FIX44": "FIX.4.4"})},
            env={"port": ("SF_TEST_PORT", "SF_TEST_PORT_OLD"), "names": ("SF_TEST_NAMES",)},
        )
        begin_string: str = "FIX.4.2"
        port: int = 1
        names: list[str] = attrs.Factory(list)

    return Versioned


def test_an_alias_is_accepted_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SF_TEST_PORT", raising=False)
    monkeypatch.delenv("SF_TEST_PORT_OLD", raising=False)
    notes: list[ConfigProblem] = []
    cfg = structure_plugin_config(_versioned(), {"version": "FIX44"}, "connectors.fix", notes)
    assert cfg.begin_string == "FIX.4.4"
    assert [str(n) for n in notes] == [
        "connectors.fix.version: deprecated name of begin_string; write begin_string: FIX.4.4"]
    with pytest.raises(ConfigError) as exc:
        structure_plugin_config(_versioned(), {"version": "FIX44", "begin_string": "FIX.4.4"},
                                "connectors.fix")
    assert problems(exc) == ["connectors.fix.version: give begin_string or its earlier name "
                             "version, not both"]


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_TEST_PORT_OLD", "4002")
    monkeypatch.setenv("SF_TEST_NAMES", "x,y")
    notes: list[ConfigProblem] = []
    cfg = structure_plugin_config(_versioned(), {}, "connectors.v", notes)
    assert (cfg.port, cfg.names) == (4002, ["x", "y"])
    assert "connectors.v.port: from the environment variable SF_TEST_PORT_OLD" in map(str, notes)
    monkeypatch.setenv("SF_TEST_PORT", "4001")
    assert structure_plugin_config(_versioned(), {}, "v").port == 4001
    assert structure_plugin_config(_versioned(), {"port": 9}, "v").port == 9  # the YAML wins
    monkeypatch.setenv("SF_TEST_PORT", "x")
    with pytest.raises(ConfigError) as exc:
        structure_plugin_config(_versioned(), {}, "v")
    assert problems(exc) == ["v.port: expected an integer, got 'x' (from the environment "
                             "variable SF_TEST_PORT)"]

