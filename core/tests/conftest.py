"""Fixtures for core tests: plugin modules written to a temporary folder and offered
through fake entry points, so no test depends on what happens to be installed."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest

GOOD_PLUGIN = '''
from stockfish_core import API_VERSION, Capabilities, DataType, PluginSpec, hookimpl
import attrs

@attrs.frozen
class Settings:
    host: str
    port: int = 1234

@hookimpl
def stockfish_plugin_spec():
    return PluginSpec(API_VERSION, Settings, Capabilities(data_types={DataType.PRICE_TICK}))
'''


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("sfplug_"):
            del sys.modules[name]


@pytest.fixture
def make_plugin(plugin_dir: Path) -> Callable[..., metadata.EntryPoint]:
    """Write a plugin module; return an entry point for it under the given name."""

    def make(name: str, source: str = GOOD_PLUGIN) -> metadata.EntryPoint:
        module = f"sfplug_{name}_{uuid.uuid4().hex[:8]}"
        (plugin_dir / f"{module}.py").write_text(textwrap.dedent(source))
        return metadata.EntryPoint(name=name, value=module, group="stockfish")

    return make
