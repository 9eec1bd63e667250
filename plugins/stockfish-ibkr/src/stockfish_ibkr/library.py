"""Which TWS client library the connector runs on: ib_insync or its fork ib_async.

Both have the same API where the connector uses it (``IB``, the contract and order
classes, the events). The choice is ``library:`` in the connector's settings, or
``STOCKFISH_IBKR_LIBRARY``, or whichever is installed (ib_insync first).

Neither library is patched: ``util.patchAsyncio`` / ``util.startLoop`` (nest_asyncio) are
never called; the connector uses the libraries' async API on the manager's running loop.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

from .errors import IBKRError

__all__ = ["import_library", "load_library"]


def import_library(name: str) -> ModuleType:
    """Import ib_insync or ib_async, whatever the state of asyncio in this thread.

    Their ``eventkit`` asks asyncio for the thread's current event loop while it is being
    imported, and fails where none is set (after ``asyncio.run`` or a test runner closed
    one). On a running loop, that loop is made current; elsewhere, a new loop is set only
    if the thread has none.
    """
    if name not in sys.modules:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            asyncio.set_event_loop(running)
        else:
            try:
                asyncio.get_event_loop_policy().get_event_loop()
            except RuntimeError:
                asyncio.set_event_loop(asyncio.new_event_loop())
    return importlib.import_module(name)


def load_library(preference: Sequence[str]) -> ModuleType:
    """Import the first installed library of ``preference``."""
    for name in preference:
        if importlib.util.find_spec(name) is not None:
            return import_library(name)
    names = " or ".join(preference)
    extra = {"ib_insync": "ibinsync", "ib_async": "ibasync"}.get(
        preference[0] if len(preference) == 1 else "ib_insync", preference[0])
    raise IBKRError(f"{names} is not installed; install it with: "
                    f"pip install 'stockfish-ibkr[{extra}]'")
