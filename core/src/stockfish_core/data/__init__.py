"""Data on disk: the recorder, the readers, the ``replay`` connector and the history cache.

Everything here but :class:`RecordingConfig` needs pyarrow (and pandas for DataFrames):
``pip install 'stockfish-core[data]'``. ::

    from stockfish_core import data

    table = data.read("rec", symbols=["SPY"], types=["price_tick"],
                      start="2026-12-07T14:30", end="2026-12-07T14:35")
    df = data.read("rec", types="trade", pandas=True)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .settings import HistoryRequest, RecordingConfig

if TYPE_CHECKING:
    from .reader import files, read, read_updates
    from .recorder import Recorder

__all__ = ["HistoryRequest", "Recorder", "RecordingConfig", "files", "read", "read_updates"]

_LAZY = {"read": "reader", "read_updates": "reader", "files": "reader",
         "Recorder": "recorder"}

INSTALL_HINT = "install the data extra: pip install 'stockfish-core[data]'"


def require_pyarrow() -> None:
    """Raise a clear ImportError when pyarrow is missing."""
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"recording and reading data need pyarrow; {INSTALL_HINT}") from exc


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    require_pyarrow()
    return getattr(import_module(f".{module}", __name__), name)
