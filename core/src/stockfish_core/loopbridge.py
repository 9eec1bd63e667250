"""The blocking API's bridge to the manager's event loop: run on the loop (in a daemon
thread of its own when the caller has none), call into it from any thread, never block
when already on it, and let every awaitable method be awaited from another event loop
(``_bridge``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from .errors import StockfishError

T = TypeVar("T")


class LoopBridge:
    """Owns the manager loop and the tasks spawned on it."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ loop plumbing
    def _adopt_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise StockfishError("the manager is already running on another event loop")
        self._loop = loop
        self._loop_thread_id = threading.get_ident()

    def _ensure_thread(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._loop_thread_id = threading.get_ident()
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="stockfish-manager", daemon=True)
        self._loop = loop
        self._thread.start()
        ready.wait()
        return loop

    def _on_loop(self) -> bool:
        return self._loop is not None and threading.get_ident() == self._loop_thread_id

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the manager loop and wait for it (not from the loop)."""
        if self._on_loop():
            coro.close()
            raise StockfishError("this blocking call cannot run on the manager loop; "
                                 "await its async form instead")
        loop = self._ensure_thread()
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no result within {timeout}s") from None

    def _run_or_schedule(self, coro: Coroutine[Any, Any, T], default: T) -> T:
        """Blocking from other threads; scheduled (returning ``default``) on the loop."""
        if self._on_loop():
            self._spawn(coro)
            return default
        return self._run(coro)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain function on the manager loop (directly when already there)."""
        if self._loop is None or self._on_loop():
            return fn(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(call)
        return future.result(timeout=30)

    def _foreign_loop(self) -> bool:
        """Whether the caller runs an event loop other than the manager's (a notebook
        awaiting while the manager runs on its thread)."""
        loop = self._loop
        if loop is None or self._on_loop():
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def _bridge(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """An awaitable for the caller's own loop: ``coro`` itself on the manager loop,
        else ``coro`` run on the manager loop and its result handed back to the caller's
        loop (cancelling the await cancels it there)."""
        if not self._foreign_loop():
            return coro
        assert self._loop is not None
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
