"""Every configuration key with its type, default and documentation, read from the
config classes themselves.

A field of a config class is documented by a ``#:`` comment on the line or lines
directly above it (the convention that Sphinx and mkdocstrings read as well)::

    @attrs.frozen
    class MyVenueConfig:
        #: Seconds to wait for the venue's reply to a request.
        request_timeout: float = 15.0

A class built without source code may give ``attrs.field(metadata={"doc": "..."})``
instead. The documentation site's configuration reference is generated from
:func:`config_keys`, and the project's tests fail for any field that
:func:`undocumented` finds, saying what to add where.
"""

from __future__ import annotations

import ast
import enum
import inspect
import textwrap
import types
import typing
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import attrs
import yaml

from .secret import Secret

__all__ = [
    "ConfigKey",
    "Undocumented",
    "config_keys",
    "core_config_keys",
    "describe_type",
    "describe_value",
    "field_docs",
    "undocumented",
]


@attrs.frozen
class ConfigKey:
    """One key of the YAML configuration."""

    #: Its path in a section, e.g. ``risk.max_order_quantity`` or ``alternate_hosts[].port``.
    path: str
    #: The value it takes, for a reader: ``float | None``, ``list[str]``, one of an enum...
    type_name: str
    #: The default as YAML would spell it; None for a required key.
    default: str | None
    #: The field's documentation (empty when it has none).
    doc: str
    #: The config class that declares it, and the field's name there.
    owner: type
    field: str

    @property
    def required(self) -> bool:
        """Whether the key has no default."""
        return self.default is None


@attrs.frozen
class Undocumented:
    """A config field without documentation, and how to document it."""

    owner: type
    field: str
    file: str
    line: int

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (f"{self.owner.__module__}.{self.owner.__qualname__}.{self.field} has no "
                f"documentation: add a line '#: <what it sets, its unit>' directly above "
                f"'{self.field}: ...' at {where}")


def _comment_docs(cls: type) -> dict[str, tuple[str, int]]:
    """Field name -> (text of the ``#:`` lines above it, line number) for one class."""
    try:
        lines, first = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return {}
    source = textwrap.dedent("".join(lines))
    tree = ast.parse(source)
    node = tree.body[0]
    if not isinstance(node, ast.ClassDef):
        return {}
    src_lines = source.splitlines()
    out: dict[str, tuple[str, int]] = {}
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        doc: list[str] = []
        index = stmt.lineno - 2
        while index >= 0 and src_lines[index].strip().startswith("#:"):
            doc.insert(0, src_lines[index].strip()[2:].strip())
            index -= 1
        out[stmt.target.id] = (" ".join(doc).strip(), first + stmt.lineno - 1)
    return out


def _docs_and_lines(cls: type) -> dict[str, tuple[str, int, type]]:
    found: dict[str, tuple[str, int, type]] = {}
    for klass in reversed(cls.__mro__):
        if attrs.has(klass):
            for name, (doc, line) in _comment_docs(klass).items():
                found[name] = (doc, line, klass)
    return found


def field_docs(cls: type) -> dict[str, str]:
    """The documentation of each field of an attrs class (empty text when none)."""
    comments = _docs_and_lines(cls)
    out = {}
    for field in attrs.fields(cls):
        meta = field.metadata.get("doc")
        out[field.name] = str(meta).strip() if meta else comments.get(field.name, ("", 0, cls))[0]
    return out


def _nested(tp: Any) -> Iterator[tuple[str, type]]:
    """The attrs classes inside a type, with the path step that reaches their keys."""
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if tp is Secret:
        return
    if isinstance(tp, type) and attrs.has(tp):
        yield ".", tp
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _nested(arg)
    elif origin in (list, tuple, frozenset, set) and args:
        for step, cls in _nested(args[0]):
            yield "[]" + step, cls
    elif origin in (dict, Mapping) and len(args) == 2:
        for step, cls in _nested(args[1]):
            yield ".<name>" + step, cls


def _classes(cls: type, seen: set[type] | None = None) -> Iterator[type]:
    seen = set() if seen is None else seen
    if cls in seen:
        return
    seen.add(cls)
    yield cls
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        for _, inner in _nested(hints.get(field.name, field.type)):
            yield from _classes(inner, seen)


def undocumented(cls: type) -> list[Undocumented]:
    """Fields of ``cls`` and of the config classes nested in it that have no documentation."""
    out = []
    for klass in _classes(cls):
        docs = field_docs(klass)
        where = _docs_and_lines(klass)
        for name, doc in docs.items():
            if doc:
                continue
            _, line, owner = where.get(name, ("", 0, klass))
            try:
                file = inspect.getsourcefile(owner) or owner.__module__
            except TypeError:
                file = owner.__module__
            out.append(Undocumented(owner, name, file, line))
    return out


def describe_type(tp: Any) -> str:
    """A type as a reader of the YAML thinks of it."""
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return " | ".join(repr(m.value) if not isinstance(m.value, str) else m.value for m in tp)
    if tp is Secret:
        return "secret"
    if tp is Decimal:
        return "decimal"
    if tp is Any:
        return "any"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        parts = [describe_type(a) for a in args if a is not type(None)]
        return " | ".join(parts) + (" | null" if type(None) in args else "")
    if origin is not None:
        inner = ", ".join(describe_type(a) for a in typing.get_args(tp))
        name = "mapping" if origin in (dict, Mapping) else getattr(origin, "__name__", str(origin))
        return f"{name}[{inner}]" if inner else name
    if isinstance(tp, type) and attrs.has(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def describe_value(value: Any) -> str:
    """A default value as it would be written in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Secret):
        return "(secret)"
    if isinstance(value, (dict, Mapping)) and not value:
        return "{}"
    if isinstance(value, (list, tuple)) and not value:
        return "[]"
    if attrs.has(type(value)):
        return "(see its keys)"
    if isinstance(value, str):
        # Quoted when YAML would read it as something else (1, true, null, "").
        plain = value == value.strip() and isinstance(yaml.safe_load(value or "''"), str)
        return value if plain and value else f'"{value}"'
    return str(value)


def _default(field: attrs.Attribute) -> str | None:  # type: ignore[type-arg]
    default: Any = field.default
    if default is attrs.NOTHING:
        return None
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            return "(computed)"
        default = default.factory()
    return describe_value(default)


def config_keys(cls: type, prefix: str = "", only: typing.Iterable[str] | None = None,
                ) -> list[ConfigKey]:
    """Every key of a config class, nested config classes included, in field order."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    wanted = set(only) if only is not None else None
    out: list[ConfigKey] = []
    for field in attrs.fields(cls):
        if wanted is not None and field.name not in wanted:
            continue
        tp = hints.get(field.name, field.type)
        path = prefix + field.name
        out.append(ConfigKey(path, describe_type(tp), _default(field), docs[field.name],
                             cls, field.name))
        for step, inner in _nested(tp):
            out.extend(config_keys(inner, path + step if step != "." else path + "."))
    return out


def core_config_keys() -> dict[str, list[ConfigKey]]:
    """The core's keys, by top-level section of the file."""
    from .config import _TOP_LEVEL, CORE_KEYS, Config, ConnectorConfig

    sections: dict[str, list[ConfigKey]] = {}
    hints = typing.get_type_hints(Config)
    for field in attrs.fields(Config):
        if field.name not in _TOP_LEVEL:
            continue
        if field.name == "connectors":
            # The plugin defaults to the connector's name when the section leaves it out.
            sections[field.name] = [
                attrs.evolve(key, default="(the connector name)") if key.field == "plugin"
                else key
                for key in config_keys(ConnectorConfig, "connectors.<name>.", only=CORE_KEYS)
            ]
            continue
        nested = list(_nested(hints[field.name]))
        keys: list[ConfigKey] = []
        for step, inner in nested:
            keys.extend(config_keys(inner, field.name + (step if step != "." else ".")))
        sections[field.name] = keys
    return sections
