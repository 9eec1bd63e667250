"""Every field of every config class (the core's and each plugin's) is documented by the
``#:`` comment above it: a key added without one fails here, saying what to add where."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from typing import Any

import attrs
import pytest

from stockfish_core import config as core_config
from stockfish_core.configdoc import config_keys, core_config_keys, undocumented
from stockfish_core.plugins import PluginRegistry

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ["sim", "zmq", "fix", "ibkr"]
CSVFEED = ROOT / "examples" / "stockfish-csvfeed" / "src" / "stockfish_csvfeed.py"


def _plugin_config_class(name: str) -> type:
    registry = PluginRegistry()
    if name not in registry.installed():
        pytest.skip(f"plugin {name} is not installed here")
    registry.load([name], strict=True)
    spec = registry.get(name).spec
    assert spec is not None and spec.config_class is not None
    return spec.config_class


def _load_file(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


CORE_CLASSES = [getattr(core_config, n) for n in core_config.__all__
                if attrs.has(getattr(core_config, n)) and n != "Secret"]


def _assert_documented(cls: type) -> None:
    missing = undocumented(cls)
    assert not missing, "config keys without documentation:\n" + "\n".join(map(str, missing))


@pytest.mark.parametrize("cls", CORE_CLASSES, ids=lambda c: c.__name__)
def test_every_core_config_field_is_documented(cls: type) -> None:
    _assert_documented(cls)


@pytest.mark.parametrize("plugin", PLUGINS)
def test_every_plugin_config_field_is_documented(plugin: str) -> None:
    _assert_documented(_plugin_config_class(plugin))


def test_the_example_plugin_config_is_documented() -> None:
    module = _load_file(CSVFEED, "_docs_check_stockfish_csvfeed")
    _assert_documented(module.CsvFeedConfig)


def test_a_field_added_without_documentation_fails_saying_what_to_add(tmp_path: Path) -> None:
    source = tmp_path / "venue_config_example.py"
    source.write_text(textwrap.dedent('''
        from __future__ import annotations
        import attrs

        @attrs.frozen
        class Limits:
            #: Orders per second.
            rate: int = 5
            burst: int = 10

        @attrs.frozen
        class VenueConfig:
            #: Where the venue listens,
            #: host and port.
            address: str
            timeout: float = 1.0
            extra: int = attrs.field(default=0, metadata={"doc": "Documented by metadata."})
            #: Nested limits.
            limits: Limits | None = None
            #: One per account.
            accounts: dict[str, Limits] = attrs.Factory(dict)
    '''))
    module = _load_file(source, "venue_config_example")
    missing = undocumented(module.VenueConfig)
    assert sorted((m.owner.__name__, m.field) for m in missing) == [
        ("Limits", "burst"), ("VenueConfig", "timeout")]
    message = {m.field: str(m) for m in missing}["timeout"]
    assert "VenueConfig.timeout has no documentation" in message
    assert "'#: " in message and f"{source}:16" in message
    keys = {k.path: k for k in config_keys(module.VenueConfig)}
    assert keys["address"].doc == "Where the venue listens, host and port."
    assert keys["address"].required
    assert keys["extra"].doc == "Documented by metadata."
    assert keys["limits.rate"].default == "5"
    assert keys["accounts.<name>.burst"].doc == ""
    assert keys["timeout"].type_name == "float"


def test_the_core_sections_are_the_files_top_level_keys() -> None:
    sections = core_config_keys()
    assert set(sections) == core_config._TOP_LEVEL
    paths = {k.path for keys in sections.values() for k in keys}
    for key in core_config.CORE_KEYS:
        assert f"connectors.<name>.{key}" in paths
    assert "manager.risk.max_order_quantity" in paths
    assert "subscriptions[].symbols" in paths
    assert "connectors.<name>.name" not in paths  # not a key of the file
