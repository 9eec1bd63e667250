"""Ending asyncio tasks for good: the manager's, the connectors' and the simulators';
and the tasks a plugin spawns for a connector, whose death is reported, never silent."""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connector import Connector

__all__ = ["cancel_and_wait", "cancel_spawned", "spawn", "spawned"]

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


# -- a plugin's supervised tasks ---------------------------------------------------------
#: The tasks each connector's plugin spawned and that are still running.
_spawned: weakref.WeakKeyDictionary[Any, set[asyncio.Task[Any]]] = weakref.WeakKeyDictionary()


def spawn(connector: Connector, coro: Coroutine[Any, Any, Any], *,
          name: str) -> asyncio.Task[Any]:
    """Run ``coro`` (a plugin's reader or heartbeat loop) as a task of ``connector``.

    Its death is never silent: an exception that ends it is logged with its traceback
    and reported as a lost connection (``DISCONNECTED``, the reason naming the task and
    the exception), so the core reconnects and reconciles. Cancelling it (see
    :func:`cancel_spawned`, which a disconnect hook calls) and returning normally are
    not losses."""
    loop = connector.loop or asyncio.get_running_loop()
    task = loop.create_task(coro, name=f"{connector.name}:{name}")
    tasks = _spawned.setdefault(connector, set())
    tasks.add(task)
    task.add_done_callback(functools.partial(_ended, weakref.ref(connector), name))
    return task


def _ended(ref: weakref.ReferenceType[Connector], name: str, task: asyncio.Task[Any]) -> None:
    connector = ref()
    if connector is None:
        return
    _spawned.get(connector, set()).discard(task)
    if task.cancelled() or task.exception() is None:
        return
    exc = task.exception()
    reason = f"task {name} died: {type(exc).__name__}: {exc}" if str(exc) \
        else f"task {name} died: {type(exc).__name__}"
    connector.log.error("%s: %s", connector.name, reason, exc_info=exc)
    connector.report_lost(reason)


def spawned(connector: Connector) -> set[asyncio.Task[Any]]:
    """The tasks of ``connector`` started with :func:`spawn` and still running."""
    return set(_spawned.get(connector, ()))


async def cancel_spawned(connector: Connector) -> None:
    """Cancel every task :func:`spawn` started for ``connector`` and wait for them (the
    disconnect hook's part; the task calling it is left alone)."""
    current = asyncio.current_task()
    await cancel_and_wait(t for t in spawned(connector) if t is not current)
