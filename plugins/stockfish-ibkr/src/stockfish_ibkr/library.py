"""Which TWS client library the connector runs on: ib_insync or its fork ib_async.

Both have the same API where the connector uses it (``IB``, the contract and order
classes, the events). The choice is ``library:`` in the connector's settings, or
``STOCKFISH_IBKR_LIBRARY``, or whichever is installed (ib_insync first).

Neither library is patched: ``util.patchAsyncio`` / ``util.startLoop`` (nest_asyncio) are
never called; the connector uses the libraries' async API on the manager's running loop.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from types import ModuleType

from .errors import IBKRError

__all__ = ["load_library"]


def load_library(preference: Sequence[str]) -> ModuleType:
    """Import the first installed library of ``preference``."""
    for name in preference:
        if importlib.util.find_spec(name) is not None:
            return importlib.import_module(name)
    names = " or ".join(preference)
    extra = preference[0] if len(preference) == 1 else "ib_insync"
    raise IBKRError(f"{names} is not installed; install it with: "
                    f"pip install 'stockfish-ibkr[{extra}]'")
