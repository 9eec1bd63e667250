"""Finding the FIX data dictionaries (FIX42.xml, FIX44.xml, FIXT11.xml, FIX50SP2.xml...).

The quickfix distribution installs them under ``<prefix>/share/quickfix``. They are
looked up, first found wins, in: an explicit path from the connector's config, the
directory named by ``STOCKFISH_FIX_SPEC_DIR``, the files the installed quickfix
distribution records, the prefix relative to the quickfix module, ``sys.prefix`` and
``sys.base_prefix``, and the usual system directories. Nothing is imported to find them.
"""

from __future__ import annotations

import functools
import os
import sys
from importlib import metadata, util
from pathlib import Path

__all__ = [
    "APPL_VER_IDS",
    "BEGIN_STRINGS",
    "SPEC_DIR_ENV",
    "DictionaryNotFound",
    "dictionary_file",
    "find_dictionary",
    "search_dirs",
]

SPEC_DIR_ENV = "STOCKFISH_FIX_SPEC_DIR"

#: Session protocols the connector speaks (FIXT.1.1 carries FIX 5.0 application messages).
BEGIN_STRINGS = ("FIX.4.2", "FIX.4.4", "FIXT.1.1")

#: Application versions over FIXT.1.1, and their ApplVerID (1128) values.
APPL_VER_IDS = {
    "FIX.4.2": "4",
    "FIX.4.4": "6",
    "FIX.5.0": "7",
    "FIX.5.0SP1": "8",
    "FIX.5.0SP2": "9",
}


class DictionaryNotFound(FileNotFoundError):
    """No data dictionary file for a FIX version where one was looked for."""


def dictionary_file(version: str) -> str:
    """The file name of the data dictionary for a BeginString or an application version.

    ``FIX.4.4`` -> ``FIX44.xml``, ``FIX.5.0SP2`` -> ``FIX50SP2.xml``,
    ``FIXT.1.1`` -> ``FIXT11.xml``.
    """
    return version.replace(".", "") + ".xml"


def _from_distribution(name: str) -> list[Path]:
    try:
        dist = metadata.distribution("quickfix")
    except metadata.PackageNotFoundError:
        return []
    found = []
    for entry in dist.files or ():
        if entry.name == name and entry.parent.name == "quickfix":
            found.append(Path(str(dist.locate_file(entry))).resolve().parent)
    return found


def _near_module() -> list[Path]:
    spec = util.find_spec("quickfix")
    if spec is None or spec.origin is None:
        return []
    # <prefix>/lib/pythonX.Y/site-packages/quickfix.py -> <prefix>/share/quickfix
    site = Path(spec.origin).resolve().parent
    return [parent / "share" / "quickfix" for parent in site.parents[:3]]


def search_dirs(probe: str = "FIX44.xml") -> list[Path]:
    """The directories searched for data dictionaries, in order (duplicates removed)."""
    candidates: list[Path] = []
    env = os.environ.get(SPEC_DIR_ENV)
    if env:
        candidates.append(Path(env))
    candidates += _from_distribution(probe)
    candidates += _near_module()
    for prefix in (sys.prefix, sys.base_prefix, "/usr/local", "/usr"):
        candidates.append(Path(prefix) / "share" / "quickfix")
    return list(dict.fromkeys(candidates))


@functools.lru_cache(maxsize=32)
def _find(name: str, env: str | None) -> Path:
    dirs = search_dirs()
    for directory in dirs:
        path = directory / name
        if path.is_file():
            return path
    where = ", ".join(str(d) for d in dirs)
    raise DictionaryNotFound(
        f"FIX data dictionary {name} not found (looked in: {where}); reinstall quickfix, "
        f"set {SPEC_DIR_ENV} to the directory holding it, or give the path in the "
        "connector's data_dictionary / transport_data_dictionary setting"
    )


def find_dictionary(version: str, override: str | None = None) -> Path:
    """The data dictionary file for ``version`` (a BeginString or ApplVerID name).

    ``override`` is a file (used as is) or a directory (searched for the standard name).
    """
    name = dictionary_file(version)
    if override:
        path = Path(override).expanduser()
        if path.is_dir():
            path = path / name
        if not path.is_file():
            raise DictionaryNotFound(f"FIX data dictionary {path} does not exist")
        return path.resolve()
    return _find(name, os.environ.get(SPEC_DIR_ENV))
