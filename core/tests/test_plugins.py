"""Plugin discovery and loading: only what is enabled is imported, failures are isolated."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from importlib import metadata

import pytest

from stockfish_core import PluginRegistry, hookimpl
from stockfish_core.errors import (
    PluginApiMismatch,
    PluginConflict,
    PluginLoadError,
    PluginNotInstalled,
)
from stockfish_core.plugins import api_compatible

MakePlugin = Callable[..., metadata.EntryPoint]


def test_only_requested_plugins_are_imported(make_plugin: MakePlugin) -> None:
    a, b = make_plugin("alpha"), make_plugin("beta")
    registry = PluginRegistry([a, b])
    assert set(registry.installed()) == {"alpha", "beta"}
    assert a.value not in sys.modules and b.value not in sys.modules
    assert registry.load(["alpha"]) == []
    assert a.value in sys.modules
    assert b.value not in sys.modules
    assert registry.get("alpha").spec is not None


def test_missing_plugin_names_the_distribution(make_plugin: MakePlugin) -> None:
    registry = PluginRegistry([make_plugin("alpha")])
    with pytest.raises(PluginNotInstalled, match="pip install stockfish-fix"):
        registry.load(["fix"])


def test_two_distributions_claiming_one_name_is_an_error(make_plugin: MakePlugin) -> None:
    registry = PluginRegistry([make_plugin("dup"), make_plugin("dup")])
    assert "dup" in registry.conflicts()
    with pytest.raises(PluginConflict, match="claimed by more than one"):
        registry.load(["dup"])


def test_registering_a_taken_name_is_an_error(make_plugin: MakePlugin) -> None:
    registry = PluginRegistry([make_plugin("alpha")])
    registry.load(["alpha"])

    class Other:
        @hookimpl
        def stockfish_plugin_spec(self) -> None:
            return None

    with pytest.raises(PluginConflict, match="already registered"):
        registry.register(Other(), "alpha")


BROKEN_IMPORT = "raise RuntimeError('boom at import')\n"
MISSPELLED_HOOK = """
from stockfish_core import hookimpl
@hookimpl
def stockfish_conect(connector):
    pass
"""
BAD_SIGNATURE = """
from stockfish_core import hookimpl
@hookimpl
def stockfish_connect(connector, surprise):
    pass
"""
OLD_API = """
from stockfish_core import PluginSpec, hookimpl
@hookimpl
def stockfish_plugin_spec():
    return PluginSpec(api_version="0.9")
"""
WRONG_SPEC = """
from stockfish_core import hookimpl
@hookimpl
def stockfish_plugin_spec():
    return {"api_version": "1.0"}
"""


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (BROKEN_IMPORT, "import failed: RuntimeError: boom at import"),
        (MISSPELLED_HOOK, "unknown hook"),
        (BAD_SIGNATURE, "invalid hook implementation"),
        (OLD_API, "written for plugin API 0.9"),
        (WRONG_SPEC, "returned dict, not PluginSpec"),
    ],
)
def test_broken_plugin_is_isolated(
    make_plugin: MakePlugin, source: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = make_plugin("good"), make_plugin("bad", source)
    registry = PluginRegistry([good, bad])
    with caplog.at_level(logging.ERROR, "stockfish.plugins"):
        failures = registry.load(["bad", "good"])
    assert [f.name for f in failures] == ["bad"]
    assert reason in failures[0].reason
    assert "good" in registry.loaded
    assert "bad" not in registry.loaded
    assert not registry.pm.has_plugin("bad")  # unregistered, hooks not callable
    assert any("bad" in r.getMessage() and "isolated" in r.getMessage() for r in caplog.records)
    with pytest.raises(PluginLoadError, match="bad"):
        registry.get("bad")


def test_strict_mode_makes_a_broken_plugin_fatal(make_plugin: MakePlugin) -> None:
    registry = PluginRegistry([make_plugin("bad", OLD_API)])
    with pytest.raises(PluginApiMismatch, match=r"offers API 1\.0"):
        registry.load(["bad"], strict=True)


@pytest.mark.parametrize(
    ("required", "offered", "ok"),
    [("1.0", "1.0", True), ("1.0", "1.3", True), ("1.4", "1.3", False), ("2.0", "1.9", False),
     ("0.9", "1.0", False), ("one", "1.0", False)],
)
def test_api_compatibility(required: str, offered: str, ok: bool) -> None:
    assert api_compatible(required, offered) is ok


def test_hooks_are_called_on_the_owning_plugin_only(make_plugin: MakePlugin) -> None:
    source = """
from stockfish_core import API_VERSION, PluginSpec, hookimpl
CALLS = []
@hookimpl
def stockfish_plugin_spec():
    return PluginSpec(API_VERSION)
@hookimpl
def stockfish_subscribe(connector, subscription):
    CALLS.append((connector, subscription))
    return "{name}"
"""
    a = make_plugin("a", source.replace("{name}", "a"))
    b = make_plugin("b", source.replace("{name}", "b"))
    registry = PluginRegistry([a, b])
    registry.load(["a", "b"])
    assert registry.get("a").hooks.call("stockfish_subscribe", connector=1, subscription=2) == "a"
    assert registry.get("b").hooks.call("stockfish_subscribe", connector=1, subscription=2) == "b"
    assert len(sys.modules[a.value].CALLS) == 1
    assert len(sys.modules[b.value].CALLS) == 1


def test_normalizer_is_the_plugin_function_unless_wrapped(make_plugin: MakePlugin) -> None:
    source = """
from stockfish_core import API_VERSION, PluginSpec, hookimpl
@hookimpl
def stockfish_plugin_spec():
    return PluginSpec(API_VERSION)
@hookimpl
def stockfish_normalize(messages):
    return [m * 2 for m in messages]
"""
    registry = PluginRegistry([make_plugin("n", source)])
    registry.load(["n"])
    normalize = registry.get("n").hooks.normalizer()
    assert normalize is not None
    assert normalize(None, [1, 2]) == [2, 4]

    seen = []

    class Tracer:  # a non-venue plugin wrapping every normalize call
        @hookimpl(wrapper=True)
        def stockfish_normalize(self, connector, messages):  # type: ignore[no-untyped-def]
            seen.append(len(messages))
            return (yield)

    registry.register(Tracer(), "tracer")
    wrapped = registry.get("n").hooks.normalizer()
    assert wrapped is not None
    assert wrapped(None, [3]) == [6]
    assert seen == [1]


def test_trace_switch_logs_hook_calls(
    make_plugin: MakePlugin, caplog: pytest.LogCaptureFixture
) -> None:
    registry = PluginRegistry([make_plugin("t")], trace=True)
    with caplog.at_level(logging.DEBUG, "stockfish.hooks"):
        registry.load(["t"])
    assert any("stockfish_plugin_spec" in r.getMessage() for r in caplog.records)


def test_entry_point_seen_twice_is_one_plugin(make_plugin: MakePlugin) -> None:
    ep = make_plugin("same")
    registry = PluginRegistry([ep, ep])
    assert registry.conflicts() == {}
    assert registry.load(["same"]) == []
