"""The stockfish command: plugins listing and config check, on fake entry points."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest

from stockfish_core import cli, discovery

MakePlugin = Callable[..., metadata.EntryPoint]


@pytest.fixture
def installed(make_plugin: MakePlugin, monkeypatch: pytest.MonkeyPatch) -> list:
    eps = [make_plugin("alpha"), make_plugin("broken", "import no_such_module_anywhere\n")]
    real = metadata.entry_points

    def entry_points(**params: str) -> object:
        # Listing reads entry points (stockfish_core.discovery), loading goes through a
        # PluginRegistry: both see these alone.
        return eps if params.get("group") == "stockfish" else real(**params)

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    # What the listing reads from the distributions' folders: these alone as well.
    monkeypatch.setattr(discovery, "scan", lambda: discovery.discover(eps))
    monkeypatch.delenv("STOCKFISH_CONFIG", raising=False)
    return eps


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def test_plugins_lists_installed_without_importing_them(installed: list) -> None:
    import sys

    code, out = run("plugins")
    assert code == 0  # nothing was imported, so nothing failed
    assert "alpha" in out and "broken" in out and "not loaded" in out
    assert "hooks:" not in out and "failed" not in out
    assert "--verbose" in out
    assert installed[0].value not in sys.modules and installed[1].value not in sys.modules
    code, out = run("plugins", "--json")
    rows = {r["name"]: r for r in json.loads(out)["plugins"]}
    assert rows["alpha"]["status"] == "not loaded" and rows["alpha"]["hooks"] == []
    assert rows["alpha"]["enabled"] is None


def test_plugins_verbose_lists_installed_with_hooks_and_failures(installed: list) -> None:
    code, out = run("plugins", "--verbose")
    assert code == 1  # one plugin is broken
    assert "alpha" in out and "loaded" in out
    assert "hooks: plugin_spec" in out
    assert "data: price_tick; orders: data only" in out
    assert "broken" in out and "failed" in out
    assert "No module named 'no_such_module_anywhere'" in out


def test_plugins_with_config_loads_only_enabled(installed: list, tmp_path: Path) -> None:
    import sys

    config = tmp_path / "c.yaml"
    config.write_text("connectors:\n  alpha: {host: h}\n")
    code, out = run("plugins", "--config", str(config), "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["plugins"]}
    assert rows["alpha"]["enabled"] is True and rows["alpha"]["status"] == "loaded"
    assert rows["broken"]["enabled"] is False and rows["broken"]["status"] == "not loaded"
    assert installed[1].value not in sys.modules


def test_plugins_reports_enabled_but_missing(installed: list, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("connectors:\n  fix: {}\n")
    code, out = run("plugins", "-c", str(config))
    assert code == 1
    assert "not installed" in out and "pip install stockfish-fix" in out


def test_config_check_ok(installed: list, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("connectors:\n  alpha: {host: h, primary: true}\n  spare: {plugin: x, "
                      "enabled: false}\n")
    code, out = run("config", "check", str(config))
    assert code == 0
    assert "OK, 1 enabled connector(s)" in out
    assert "alpha: plugin alpha, enabled, primary" in out
    assert "spare: plugin x, disabled" in out


def test_config_check_fails_readably(
    installed: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("connectors:\n  fix: {port: 1}\n  alpha: {port: x}\n")
    code, _ = run("config", "check", str(config))
    err = capsys.readouterr().err
    assert code == 1
    assert f"{config}: configuration has 3 problems" in err
    assert "connectors.fix.plugin: plugin 'fix' is enabled but not installed; " \
           "install it with: pip install stockfish-fix" in err
    assert "connectors.alpha.port: expected an integer, got 'x'" in err
    assert "connectors.alpha.host: required setting is missing" in err
    assert "Traceback" not in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run()[0] == 2
    assert "plugins" in capsys.readouterr().out


def test_journal_help_states_the_journal_default_without_importing_it() -> None:
    from stockfish_core.journal import DEFAULT_RETENTION_DAYS

    assert f"{DEFAULT_RETENTION_DAYS:g}" == cli._RETENTION_DAYS_TEXT
