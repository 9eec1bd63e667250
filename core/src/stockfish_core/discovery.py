"""Installed plugins, from their entry points and their distributions' metadata alone.

Nothing here imports a plugin, pluggy, attrs or asyncio. Loading a plugin (running its
code) is :class:`~stockfish_core.plugins.PluginRegistry`'s, through
:func:`discover` (``importlib.metadata``'s entry points, which it loads).

:func:`scan` is what ``stockfish plugins`` lists from: it reads the ``.dist-info`` and
``.egg-info`` folders on ``sys.path`` itself, as ``importlib.metadata`` would find them
(the first distribution of a name on the path wins), without importing
``importlib.metadata`` and the email, zipfile and csv packages it brings, which cost
more than the reading. It finds the same plugins as :func:`discover` (a test holds the
two together); a path entry that is not a folder (a zipped egg) is read through
``importlib.metadata`` instead.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib import metadata

__all__ = ["CORE_DISTRIBUTION", "ENTRY_POINT_GROUP", "PluginInfo", "discover", "scan"]

ENTRY_POINT_GROUP = "stockfish"
CORE_DISTRIBUTION = "stockfish-core"


class PluginInfo:
    """An installed plugin, known from its entry point (not necessarily loaded).

    Two are equal when their name, entry point value, distribution and version are.
    """

    __slots__ = ("distribution", "entry_point", "name", "summary", "value", "version")

    def __init__(self, name: str, value: str, distribution: str | None = None,
                 version: str | None = None, entry_point: metadata.EntryPoint | None = None,
                 summary: str | None = None) -> None:
        self.name = name
        self.value = value
        self.distribution = distribution
        self.version = version
        #: Where it was found (not compared, not shown).
        self.entry_point = entry_point
        #: The distribution's one-line summary (its metadata; nothing is imported).
        self.summary = summary

    def _key(self) -> tuple[str, str, str | None, str | None]:
        return (self.name, self.value, self.distribution, self.version)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PluginInfo):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, name):
            raise AttributeError(f"PluginInfo is immutable: cannot set {name!r}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return (f"PluginInfo(name={self.name!r}, value={self.value!r}, "
                f"distribution={self.distribution!r}, version={self.version!r})")

    @property
    def builtin(self) -> bool:
        return self.distribution == CORE_DISTRIBUTION


def _headers(dist: metadata.Distribution) -> tuple[str | None, str | None, str | None]:
    """Name, Version and Summary from the METADATA file's header block.

    ``dist.metadata`` would parse the whole file with the email package (and import it);
    the three fields are single-line headers at the top, read here directly.
    """
    return _parse_headers(dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "")


def _parse_headers(text: str) -> tuple[str | None, str | None, str | None]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            break  # the end of the headers: the description follows
        key, sep, value = line.partition(": ")
        if sep and key in ("Name", "Version", "Summary") and key not in found:
            found[key] = value.strip()
    return found.get("Name"), found.get("Version"), found.get("Summary")


def _entry_point_dist(ep: metadata.EntryPoint) -> tuple[str | None, str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None, None
    return _headers(dist)


def _add(found: dict[str, list[PluginInfo]], info: PluginInfo) -> None:
    same = found.setdefault(info.name, [])
    # One distribution seen twice on sys.path is one plugin, not a conflict.
    if not any(o.value == info.value and o.distribution == info.distribution for o in same):
        same.append(info)


def discover(entry_points: Iterable[metadata.EntryPoint] | None = None,
             ) -> dict[str, list[PluginInfo]]:
    """Installed plugins by name; more than one under a name is a conflict.

    ``entry_points`` replaces the scan of the ``stockfish`` group (tests pass their own).
    """
    if entry_points is None:
        from importlib import metadata

        entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    found: dict[str, list[PluginInfo]] = {}
    for ep in entry_points:
        dist, version, summary = _entry_point_dist(ep)
        _add(found, PluginInfo(ep.name, ep.value, dist, version, ep, summary))
    return found


def _normalize(name: str) -> str:
    """A distribution's name as importlib.metadata compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _group(text: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines of one section of an entry_points.txt."""
    found: list[tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[" and line[-1] == "]":
            inside = line[1:-1].strip() == group
            continue
        if inside:
            name, sep, value = line.partition("=")
            if sep:
                found.append((name.strip(), value.strip()))
    return found


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def scan(paths: Iterable[str] | None = None, group: str = ENTRY_POINT_GROUP,
         ) -> dict[str, list[PluginInfo]]:
    """Installed plugins by name, read from the distributions' folders on ``paths``
    (default ``sys.path``), as :func:`discover` finds them, without importing
    ``importlib.metadata``. The infos carry no entry point object: they list, not load.
    """
    found: dict[str, list[PluginInfo]] = {}
    seen: set[str] = set()
    for entry in (sys.path if paths is None else paths):
        folder = entry or "."
        if not os.path.isdir(folder):
            if os.path.exists(folder):  # a zipped egg or wheel: the library reads those
                for infos in discover(_entry_points_in(folder, group)).values():
                    for info in infos:
                        _add(found, info)
            continue
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                meta_file = "METADATA"
            elif name.endswith(".egg-info"):
                meta_file = "PKG-INFO"
            else:
                continue
            base = os.path.join(folder, name)
            project = _normalize(name.rsplit(".", 1)[0].split("-", 1)[0])
            if project in seen:
                continue  # an earlier path entry holds this distribution
            seen.add(project)
            text = _read(os.path.join(base, "entry_points.txt"))
            if not text or f"[{group}]" not in text:
                continue
            entries = _group(text, group)
            if not entries:
                continue
            meta = _read(os.path.join(base, meta_file)) or ""
            dist, version, summary = _parse_headers(meta)
            for ep_name, value in entries:
                _add(found, PluginInfo(ep_name, value, dist, version, None, summary))
    return found


def _entry_points_in(folder: str, group: str) -> list[metadata.EntryPoint]:
    from importlib import metadata

    return [ep for dist in metadata.distributions(path=[folder])
            for ep in dist.entry_points if ep.group == group]
