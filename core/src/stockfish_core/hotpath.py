"""What a batch path shares: the cyclic garbage collector paused over one batch."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["without_gc"]


def without_gc(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` with the cyclic garbage collector paused, and restored as found.

    For a batch of freshly built objects that hold no cycles (decoded JSON, market
    updates read back): reference counting frees them, while a collection every few
    hundred allocations would only walk them and every object alive, and promote the
    batch in flight to the older generations. A caller that already paused it (a
    batch within a batch) runs ``fn`` as it is."""
    if not gc.isenabled():
        return fn(*args)
    gc.disable()
    try:
        return fn(*args)
    finally:
        gc.enable()
