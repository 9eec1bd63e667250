"""MkDocs hooks: the pages generated from the code at build time, so they cannot drift.

- ``reference/``: one page per public module (a module with ``__all__``) of each
  package; a name a module re-exports links to the page that documents it.
- ``configuration.md``: the marker ``<!-- config-reference -->`` becomes the table of
  every key of the core and of each connector plugin, from the config classes
  (:mod:`stockfish_core.configdoc`).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from griffe_rest import markdown  # a sibling file, not a package

ROOT = Path(__file__).resolve().parents[2]


#: The distributions whose plugins the configuration reference documents: the core and
#: every folder under plugins/ (not the examples).
DISTRIBUTION_FOLDERS = [ROOT / "core", *sorted((ROOT / "plugins").glob("*/"))]


#: Packages of the API reference: import name -> its source folder (the core's first).
PACKAGES = {
    init.parent.name: init.parent
    for folder in DISTRIBUTION_FOLDERS
    for init in sorted((folder / "src").glob("*/__init__.py"))
}


def repository_distributions() -> list[str]:
    names = []
    for folder in DISTRIBUTION_FOLDERS:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            found = re.search(r'^name\s*=\s*"([^"]+)"', pyproject.read_text(), re.MULTILINE)
            if found:
                names.append(found.group(1))
    return names


def connector_plugins() -> dict[str, str]:
    """Plugin name -> distribution, for every installed plugin of this repository's
    distributions: the built-in ones first, then by name."""
    from stockfish_core.plugins import PluginRegistry

    ours = set(repository_distributions())
    installed = PluginRegistry().installed()
    found = {name: info.distribution for name, info in installed.items()
             if info.distribution in ours}
    order = sorted(found, key=lambda n: (found[n] != "stockfish-core", n))
    return {name: str(found[name]) for name in order}

CONFIG_MARKER = "<!-- config-reference -->"


# -- the API reference ------------------------------------------------------------------
class Module:
    """What a module's source says about its public names (read, never imported)."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self.is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        self.all: list[str] | None = None
        self.defined: set[str] = set()
        self.imported: dict[str, tuple[str, str]] = {}
        self.doc = ast.get_docstring(tree) or ""
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = self._resolve(node.module, node.level)
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (source, alias.name)
        for node in tree.body:
            targets: list[ast.expr] = []
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                self.defined.add(node.name)
            elif isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    self.defined.add(target.id)
                    if target.id == "__all__" and node.value is not None:  # type: ignore[attr-defined]
                        self.all = list(ast.literal_eval(node.value))  # type: ignore[attr-defined]

    def _resolve(self, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        parts = self.name.split(".")
        base = parts if self.is_package else parts[:-1]
        base = base[: len(base) - (level - 1)]
        return ".".join([*base, module] if module else base)

    @property
    def title(self) -> str:
        return self.name

    @property
    def page(self) -> str:
        parts = self.name.split(".")
        return "reference/" + "/".join(parts) + ("/index.md" if self.is_package else ".md")


def discover() -> dict[str, Module]:
    """Every module of the documented packages, by dotted name."""
    modules: dict[str, Module] = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [package, *rel.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if any(p.startswith("_") for p in parts[1:]):
                continue
            name = ".".join(parts)
            modules[name] = Module(name, path)
    return modules


def public_modules(modules: dict[str, Module]) -> list[Module]:
    """The modules the reference has a page for: those with ``__all__``, and packages."""
    return [m for m in modules.values() if m.all is not None or m.is_package]


def home_of(modules: dict[str, Module], documented: set[str], module: str,
            name: str) -> str | None:
    """The documented module whose page renders ``module.name`` (following re-exports)."""
    seen = set()
    while (module, name) not in seen:
        seen.add((module, name))
        mod = modules.get(module)
        if mod is None:
            return None
        if name in mod.defined and module in documented and name in (mod.all or []):
            return module
        if name in mod.imported:
            module, name = mod.imported[name]
            continue
        return None
    return None


def module_page(mod: Module, modules: dict[str, Module], documented: set[str]) -> str:
    lines = [f"# `{mod.name}`", ""]
    own: list[str] = []
    elsewhere: list[tuple[str, str]] = []
    for name in mod.all or []:
        home = home_of(modules, documented, mod.name, name)
        if home is None or home == mod.name:
            own.append(name)
        else:
            source = mod.imported[name]
            target = f"{home}.{source[1]}"
            elsewhere.append((name, target))
    subpackages = sorted(m.name for m in public_modules(modules)
                         if m.name.rpartition(".")[0] == mod.name)
    options = ["    options:", "      show_root_heading: false", "      show_submodules: false"]
    if own:
        options.append("      members:")
        options.extend(f"        - {name}" for name in own)
    else:
        options.append("      members: false")
    lines += [f"::: {mod.name}", *options, ""]
    if elsewhere:
        lines += ["## Exported here, documented with their module", "",
                  "| name | documented at |", "| --- | --- |"]
        lines += [f"| `{name}` | [`{target}`][{target}] |" for name, target in elsewhere]
        lines.append("")
    if subpackages:
        lines += ["## Modules", ""]
        lines += [f"- [`{sub}`][{sub}]" for sub in subpackages]
        lines.append("")
    return "\n".join(lines)


def reference_pages() -> dict[str, str]:
    """Page path -> Markdown of the whole API reference."""
    modules = discover()
    public = public_modules(modules)
    documented = {m.name for m in public}
    pages = {m.page: module_page(m, modules, documented) for m in public}
    index = ["# API reference", "",
             "Generated from the docstrings. Every name a module exports (its `__all__`) is "
             "documented on that module's page, or linked from it to the module that defines "
             "it.", ""]
    for package in PACKAGES:
        index += [f"## The {package} package", ""]
        for m in public:
            if m.name == package or m.name.startswith(package + "."):
                summary = m.doc.strip().splitlines()[0] if m.doc.strip() else ""
                index.append(f"- [`{m.name}`][{m.name}]: {summary}")
        index.append("")
    pages["reference/index.md"] = "\n".join(index)
    return pages


def reference_nav(pages: dict[str, str]) -> list[Any]:
    nav: list[Any] = [{"Overview": "reference/index.md"}]
    for package in PACKAGES:
        prefix = f"reference/{package}/"
        titles = {p[len("reference/"):-3].replace("/index", "").replace("/", "."): p
                  for p in pages if p.startswith(prefix)}
        items = [{title: titles[title]} for title in sorted(titles)]
        nav.append({package: items})
    return nav


# -- the configuration reference ---------------------------------------------------------
def _cell(text: str, code: bool = False) -> str:
    """Text for a table cell: pipes and ``<`` escaped outside code spans (``<connector>``
    would otherwise be read as an HTML tag)."""
    text = text.replace("\n", " ")
    if code:
        return text  # a pipe inside a code span does not end the cell
    parts = re.split(r"(`+[^`]*`+)", text)
    return "".join(
        p if p.startswith("`")
        else p.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        for p in parts
    )


def _table(keys: list[Any], strip: str = "") -> list[str]:
    lines = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for key in keys:
        path = key.path[len(strip):] if strip and key.path.startswith(strip) else key.path
        default = "**required**" if key.default is None else f"`{_cell(key.default, True)}`"
        lines.append(f"| `{path}` | `{_cell(key.type_name, True)}` | {default} "
                     f"| {_cell(markdown(key.doc))} |")
    return lines


def config_reference() -> str:
    from stockfish_core.configdoc import config_keys, core_config_keys
    from stockfish_core.plugins import PluginRegistry

    out: list[str] = []
    sections = core_config_keys()
    for section, keys in sections.items():
        title = "connectors.<name>" if section == "connectors" else section
        out += [f"### `{title}`", ""]
        if section == "connectors":
            out += ["The core's keys of every connector section; all its other keys belong to "
                    "its plugin (below).", ""]
        if section == "subscriptions":
            out += ["A list; each entry has these keys.", ""]
        out += _table(keys, "subscriptions[]." if section == "subscriptions" else "")
        out.append("")
    registry = PluginRegistry()
    for plugin, distribution in connector_plugins().items():
        registry.load([plugin], strict=True)
        spec = registry.get(plugin).spec
        cls = spec.config_class if spec is not None else None
        out += [f"### Plugin `{plugin}`", "",
                f"From the distribution `{distribution}`; validated by "
                f"[`{cls.__module__}.{cls.__qualname__}`][{cls.__module__}.{cls.__qualname__}]"
                if cls is not None else f"From the distribution `{distribution}`; no settings.",
                ""]
        if cls is not None:
            out += _table(config_keys(cls))
            out.append("")
    return "\n".join(out)


# -- MkDocs hooks ------------------------------------------------------------------------
_PAGES: dict[str, str] = {}


def on_config(config: Any) -> Any:
    _PAGES.clear()
    _PAGES.update(reference_pages())
    nav = config["nav"]
    for i, entry in enumerate(nav):
        if isinstance(entry, dict) and "API reference" in entry:
            nav[i] = {"API reference": reference_nav(_PAGES)}
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for path, content in _PAGES.items():
        files.append(File.generated(config, path, content=content))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if CONFIG_MARKER in markdown:
        return markdown.replace(CONFIG_MARKER, config_reference())
    return markdown
