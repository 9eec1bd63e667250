"""The blocking API's bridge to the manager's event loop: run on the loop (in a daemon
thread of its own when the caller has none), call into it from any thread, never block
when already on it, and let every awaitable method be awaited from another event loop
(:meth:`LoopBridge.bridge`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from .errors import StockfishError

T = TypeVar("T")


class LoopBridge:
    """Owns the manager loop, its thread (when it has one) and the tasks spawned on it."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self._loop_thread_id: int | None = None

    def adopt_loop(self) -> None:
        """Run on the caller's running loop (``await manager.start()``)."""
        loop = asyncio.get_running_loop()
        if self.loop is not None and self.loop is not loop:
            raise StockfishError("the manager is already running on another event loop")
        self.loop = loop
        self._loop_thread_id = threading.get_ident()

    def ensure_thread(self) -> asyncio.AbstractEventLoop:
        """The manager loop; a new one in a daemon thread if there is none yet."""
        if self.loop is not None:
            return self.loop
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._loop_thread_id = threading.get_ident()
            ready.set()
            loop.run_forever()

        self.thread = threading.Thread(target=run, name="stockfish-manager", daemon=True)
        self.loop = loop
        self.thread.start()
        ready.wait()
        return loop

    def stop_thread(self) -> None:
        """Stop and close the loop of the manager's own thread (none: nothing to do)."""
        if self.thread is None or self.loop is None:
            return
        loop, thread = self.loop, self.thread
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self.loop = None
        self.thread = None
        self._loop_thread_id = None

    def on_loop(self) -> bool:
        return self.loop is not None and threading.get_ident() == self._loop_thread_id

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the manager loop and wait for it (not from the loop)."""
        if self.on_loop():
            coro.close()
            raise StockfishError("this blocking call cannot run on the manager loop; "
                                 "await its async form instead")
        loop = self.ensure_thread()
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no result within {timeout}s") from None

    def run_or_schedule(self, coro: Coroutine[Any, Any, T], default: T) -> T:
        """Blocking from other threads; scheduled (returning ``default``) on the loop."""
        if self.on_loop():
            self.spawn(coro)
            return default
        return self.run(coro)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain function on the manager loop (directly when already there)."""
        if self.loop is None or self.on_loop():
            return fn(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(call)
        return future.result(timeout=30)

    def foreign_loop(self) -> bool:
        """Whether the caller runs an event loop other than the manager's (a notebook
        awaiting while the manager runs on its thread)."""
        loop = self.loop
        if loop is None or self.on_loop():
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def bridge(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """An awaitable for the caller's own loop: ``coro`` itself on the manager loop,
        else ``coro`` run on the manager loop and its result handed back to the caller's
        loop (cancelling the await cancels it there)."""
        if not self.foreign_loop():
            return coro
        assert self.loop is not None
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task of the manager's on its loop (cancelled and awaited at stop)."""
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task
