"""The documentation site is held to the code.

- every field of every config class (the core's and each plugin's) is documented: the
  configuration reference is generated from those docs, so a key added without one fails
  here, with the line to add;
- the strict build of the site (mkdocs.yml) renders every public name that
  stockfish_core and each plugin export (their modules' ``__all__``) in the API reference,
  and every configuration key in the configuration reference;
- the README's relative links lead to files that exist.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import attrs
import pytest

from stockfish_core import config as core_config
from stockfish_core.configdoc import config_keys, core_config_keys, undocumented
from stockfish_core.plugins import PluginRegistry

ROOT = Path(__file__).resolve().parents[1]
#: The packages of the core and of every distribution under plugins/.
PACKAGES = sorted(init.parent.name for init in [
    *ROOT.glob("core/src/*/__init__.py"), *ROOT.glob("plugins/*/src/*/__init__.py")])
#: Their connector plugins (the entry points their pyproject.toml files declare).
PLUGINS = sorted(
    match.group(1)
    for pyproject in [ROOT / "core" / "pyproject.toml", *ROOT.glob("plugins/*/pyproject.toml")]
    for section in re.findall(r"^\[project\.entry-points\.stockfish\]\n((?:[^\[\n].*\n?)*)",
                              pyproject.read_text(), re.MULTILINE)
    for match in re.finditer(r"^(\w[\w-]*)\s*=", section, re.MULTILINE)
)
CSVFEED = ROOT / "examples" / "stockfish-csvfeed" / "src" / "stockfish_csvfeed.py"


def test_the_checks_cover_the_core_and_every_connector() -> None:
    assert {"stockfish_core", "stockfish_zmq", "stockfish_fix", "stockfish_ibkr"} <= set(PACKAGES)
    assert {"sim", "zmq", "fix", "ibkr"} <= set(PLUGINS)


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


# -- the built site ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def _inventory(site: Path) -> set[str]:
    data = (site / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = data.index(b"\n", header_end) + 1
    lines = zlib.decompress(data[header_end:]).decode().splitlines()
    return {line.split(" ", 1)[0] for line in lines}


def _public_modules(package: str) -> list[Any]:
    try:
        root = importlib.import_module(package)
    except ImportError:
        return []
    modules = [root]
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]):
            continue
        modules.append(importlib.import_module(info.name))
    return [m for m in modules if hasattr(m, "__all__")]


def _exports() -> list[tuple[str, str, set[str]]]:
    """(module, name, the reference identifiers under which it may be documented)."""
    out = []
    for package in PACKAGES:
        for module in _public_modules(package):
            for name in module.__all__:
                obj = getattr(module, name)
                where = {f"{module.__name__}.{name}"}
                if (inspect.isclass(obj) or inspect.isfunction(obj)) and hasattr(obj, "__module__"):
                    where.add(f"{obj.__module__}.{obj.__qualname__}")
                out.append((module.__name__, name, where))
    return out


def test_every_exported_name_is_in_the_api_reference(site: Path) -> None:
    inventory = _inventory(site)
    exports = _exports()
    assert len(exports) > 300  # the core alone exports more than 200 names
    assert {"stockfish_core.ExchangeManager", "stockfish_zmq.config.ZmqConfig"} <= {
        f"{m}.{n}" for m, n, _ in exports}
    missing = [f"{module}.{name}" for module, name, where in exports
               if not where & inventory]
    assert not missing, "exported but not in the API reference: " + ", ".join(missing)


def test_every_configuration_key_is_in_the_configuration_reference(site: Path) -> None:
    page = (site / "configuration" / "index.html").read_text()
    text = re.sub(r"<[^>]+>", "", page).replace("&lt;", "<").replace("&gt;", ">")
    for plugin in PLUGINS:
        cls = _plugin_config_class(plugin)
        for field in attrs.fields(cls):
            assert field.name in text, f"{plugin}: {field.name} missing from the page"
    for keys in core_config_keys().values():
        for key in keys:
            assert key.path.removeprefix("subscriptions[].") in text, key.path
    assert "Seconds between health checks" in text  # the field's own documentation


def test_readme_links_lead_to_files() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    relative = [link for link in links if "://" not in link]
    assert relative, "the README links into the documentation"
    for link in relative:
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"
