"""Installing only what you need: the core discovers exactly the installed plugins, loads
only the enabled ones, and names the distribution to install for a missing one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Isolated

pytestmark = pytest.mark.slow

InstallFn = Callable[..., Isolated]


def test_core_with_zmq_alone(isolated_install: InstallFn, tmp_path: Path) -> None:
    env = isolated_install("core", "plugins/stockfish-zmq")
    listing = env.stockfish("plugins", "--json")
    assert listing.returncode == 0, listing.stderr
    plugins = json.loads(listing.stdout)["plugins"]
    third_party = [p["name"] for p in plugins if not p["builtin"]]
    assert third_party == ["zmq"]
    assert all(p["builtin"] for p in plugins if p["name"] != "zmq")

    text = env.stockfish("plugins")
    assert "stockfish-zmq" in text.stdout
    assert "stockfish-fix" not in text.stdout and "stockfish-ibkr" not in text.stdout

    config = tmp_path / "fix.yaml"
    config.write_text("connectors:\n  fix:\n    host: 127.0.0.1\n    port: 9876\n")
    check = env.stockfish("config", "check", str(config))
    assert check.returncode == 1
    assert "connectors.fix.plugin: plugin 'fix' is enabled but not installed; " \
           "install it with: pip install stockfish-fix" in check.stderr
    assert "Traceback" not in check.stderr


def test_third_party_plugin_needs_no_change_to_the_core(
    isolated_install: InstallFn, tmp_path: Path
) -> None:
    env = isolated_install("core", "examples/stockfish-csvfeed")
    quotes = tmp_path / "q.csv"
    quotes.write_text("timestamp_ns,symbol,bid,ask,last,bid_size,ask_size,volume\n")
    enabled = tmp_path / "enabled.yaml"
    enabled.write_text(f"connectors:\n  replay:\n    plugin: csvfeed\n    path: {quotes}\n")
    disabled = tmp_path / "disabled.yaml"
    disabled.write_text(f"connectors:\n  replay:\n    plugin: csvfeed\n    enabled: false\n"
                        f"    path: {quotes}\n")

    probe = (
        "from stockfish_core import PluginRegistry, load_config\n"
        "registry = PluginRegistry()\n"
        "config = load_config(sys.argv[1], registry)\n"
        "print('installed', sorted(registry.installed()))\n"
        "print('loaded', sorted(registry.loaded))\n"
        "print('imported', 'stockfish_csvfeed' in sys.modules)\n"
    )
    on = env.python(probe, str(enabled))
    assert on.returncode == 0, on.stderr
    assert "'csvfeed'" in on.stdout.splitlines()[0]
    assert "loaded ['csvfeed']" in on.stdout
    assert "imported True" in on.stdout

    off = env.python(probe, str(disabled))
    assert off.returncode == 0, off.stderr
    assert "'csvfeed'" in off.stdout.splitlines()[0]  # discovered...
    assert "loaded []" in off.stdout
    assert "imported False" in off.stdout  # ...but never imported

    check = env.stockfish("config", "check", str(enabled))
    assert check.returncode == 0, check.stderr
    assert "replay: plugin csvfeed, enabled" in check.stdout
