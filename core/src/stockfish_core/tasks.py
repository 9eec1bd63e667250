"""Ending asyncio tasks for good: the manager's, the connectors' and the simulators'."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["cancel_and_wait"]

log = logging.getLogger("stockfish.tasks")


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], *, rounds: int = 20,
                          wait: float = 0.5) -> set[asyncio.Future[Any]]:
    """Cancel ``tasks`` and wait until they have ended; returns those still running after
    ``rounds`` cancels, ``wait`` seconds apart (normally none).

    One cancel is not always enough before Python 3.12: ``asyncio.wait_for`` returns its
    result, and drops the cancel, when the two arrive together. A task still running after
    ``wait`` seconds is therefore cancelled again. A task that ended with an exception
    instead is logged; a cancel of the caller itself is not swallowed."""
    every = set(tasks)
    pending = {t for t in every if not t.done()}
    for _ in range(rounds):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=wait)
    for task in every - pending:
        if not task.cancelled() and task.exception() is not None:
            log.warning("%r ended with an error while being stopped", task,
                        exc_info=task.exception())
    return pending
