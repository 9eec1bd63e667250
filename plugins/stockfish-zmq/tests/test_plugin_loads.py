"""The plugin registers and validates through the core's loader."""

from __future__ import annotations

import stockfish_zmq.plugin
from stockfish_core import API_VERSION, PluginRegistry


def test_plugin_registers_and_declares_the_api() -> None:
    registry = PluginRegistry(entry_points=())
    loaded = registry.register(stockfish_zmq.plugin, "zmq")
    assert loaded.spec is not None
    assert loaded.spec.api_version == API_VERSION
    assert "stockfish_plugin_spec" in loaded.hook_names
