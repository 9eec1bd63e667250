"""Installed plugins, from their entry points and their distributions' metadata alone.

Nothing here imports a plugin, pluggy, attrs or asyncio: ``stockfish plugins`` lists
what is installed at little more than the cost of the bare entry-point scan. Loading a
plugin (running its code) is :class:`~stockfish_core.plugins.PluginRegistry`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

__all__ = ["CORE_DISTRIBUTION", "ENTRY_POINT_GROUP", "PluginInfo", "discover"]

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
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
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


def discover(entry_points: Iterable[metadata.EntryPoint] | None = None,
             ) -> dict[str, list[PluginInfo]]:
    """Installed plugins by name; more than one under a name is a conflict.

    ``entry_points`` replaces the scan of the ``stockfish`` group (tests pass their own).
    """
    eps = (list(entry_points) if entry_points is not None
           else list(metadata.entry_points(group=ENTRY_POINT_GROUP)))
    found: dict[str, list[PluginInfo]] = {}
    for ep in eps:
        dist, version, summary = _entry_point_dist(ep)
        info = PluginInfo(ep.name, ep.value, dist, version, ep, summary)
        same = found.setdefault(ep.name, [])
        # One distribution seen twice on sys.path is one plugin, not a conflict.
        if not any(o.value == info.value and o.distribution == info.distribution
                   for o in same):
            same.append(info)
    return found
