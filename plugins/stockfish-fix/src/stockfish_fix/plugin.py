"""The stockfish-fix plugin: hook implementations registered under the entry point `fix`."""

from __future__ import annotations

from stockfish_core import API_VERSION, PluginSpec, hookimpl


@hookimpl
def stockfish_plugin_spec() -> PluginSpec:
    return PluginSpec(api_version=API_VERSION, description=__doc__ or "")
