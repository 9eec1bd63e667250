"""Pacing of outgoing requests, so the connector never causes IB's error 100 or 162.

:class:`RequestPacer` admits at most ``limit`` messages in any ``interval`` seconds, in
arrival order; a caller over the limit waits in the queue (``await pacer.acquire()``).
:class:`HistoricalPacer` adds IB's historical-data rules: identical requests within 15 s
are answered from a cache, at most a few per contract in 2 s and 60 in 10 minutes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from stockfish_core.plugin_api import RateLimitedLog

__all__ = ["HistoricalPacer", "RequestPacer"]

log = logging.getLogger("stockfish.ibkr")
#: One line per ten seconds about historical requests waiting for a pacing slot.
_waits = RateLimitedLog(log, interval=10.0)
T = TypeVar("T")


class RequestPacer:
    """A sliding-window limit with a FIFO queue of waiting senders.

    With ``spacing``, senders that had to wait leave at least ``spacing`` seconds apart
    instead of all at once when the window frees up. The receiver counts by its own clock,
    on arrival: two full windows sent back to back, one second apart, arrive closer
    together as soon as the first is delayed on its way (a busy TWS, a loaded machine),
    and two windows' worth then falls within one of its seconds. Spaced out at
    ``interval / limit``, any of the receiver's seconds holds at most ``limit`` plus what a
    delay of ``d`` seconds packs in (``d / spacing``): at 40 a second against IB's 50, a
    quarter of a second of delay stays within the limit."""

    def __init__(self, limit: int, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, *,
                 spacing: float = 0.0) -> None:
        if limit < 1 or interval <= 0 or spacing < 0:
            raise ValueError("limit >= 1, interval > 0 and spacing >= 0")
        self.limit = limit
        self.interval = interval
        self.spacing = spacing
        self.clock = clock
        self._sent: deque[float] = deque()
        self._last = -math.inf
        self._lock = asyncio.Lock()
        #: Requests admitted, and how many of them had to wait.
        self.admitted = 0
        self.delayed = 0
        self.max_waiting = 0
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    def _free(self, now: float) -> None:
        sent = self._sent
        while sent and now - sent[0] >= self.interval:
            sent.popleft()

    async def acquire(self) -> None:
        """Wait for a slot (first come, first served) and take it."""
        self._free(self.clock())
        if not self._waiting and len(self._sent) < self.limit:
            self._take()
            return
        self._waiting += 1
        self.max_waiting = max(self.max_waiting, self._waiting)
        self.delayed += 1
        try:
            async with self._lock:
                while True:
                    now = self.clock()
                    self._free(now)
                    if len(self._sent) >= self.limit:
                        delay = self._sent[0] + self.interval - now
                    else:
                        delay = self._last + self.spacing - now
                        if delay <= 0:
                            break
                    await asyncio.sleep(delay)
                self._take()
        finally:
            self._waiting -= 1

    def wait_time(self) -> float:
        """Seconds until a slot is free (0: one is free now); :meth:`take` takes it."""
        now = self.clock()
        self._free(now)
        if len(self._sent) >= self.limit:
            return self._sent[0] + self.interval - now
        return max(0.0, self._last + self.spacing - now)

    def take(self) -> None:
        """Take a slot now (after :meth:`wait_time` said one is free)."""
        self._take()

    def record(self, count: int) -> None:
        """Count ``count`` messages sent just now by someone else (the library's startup
        requests) against the window."""
        now = self.clock()
        self._sent.extend([now] * count)

    def _take(self) -> None:
        self._last = now = self.clock()
        self._sent.append(now)
        self.admitted += 1

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args)`` once a slot is free (``fn`` sends one message)."""
        await self.acquire()
        return fn(*args, **kwargs)


class HistoricalPacer:
    """IB's historical-data pacing rules, enforced before a request is sent.

    ``window_seconds`` (IB: 600) and ``burst_seconds`` (IB: 2, plus a margin: TWS counts
    by arrival, and a request delayed on its way arrives closer to the next) are IB's; a
    test against a simulator whose windows are shortened shortens them alike.

    ``messages`` is the connection's message pacer: a request takes its slot in the same
    moment as its historical slots and leaves at once (a request that took its historical
    slots and then queued for a message slot would arrive later than counted, next to the
    ones after it)."""

    def __init__(self, per_10_minutes: int = 50, per_contract_2s: int = 5,
                 cache_seconds: float = 15.0,
                 clock: Callable[[], float] = time.monotonic, *,
                 window_seconds: float = 600.0, burst_seconds: float = 2.5,
                 messages: RequestPacer | None = None) -> None:
        self.window = RequestPacer(per_10_minutes, window_seconds, clock)
        self.messages = messages
        self.burst_seconds = burst_seconds
        self.per_contract_2s = per_contract_2s
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._per_contract: dict[Hashable, RequestPacer] = {}
        self._cache: dict[Hashable, tuple[float, Any]] = {}
        self._inflight: dict[Hashable, asyncio.Future[Any]] = {}
        #: Requests answered without a new one; waits for a pacing slot.
        self.cache_hits = 0
        self.delayed = 0

    async def request(self, key: Hashable, contract_key: Hashable,
                      fetch: Callable[[], Awaitable[T]]) -> T:
        """Run ``fetch`` (which sends one request at once) within the rules; an identical
        ``key`` within the cache time (or one still in flight) gets the same result
        without a new request."""
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self.cache_seconds:
            self.cache_hits += 1
            return cached[1]  # type: ignore[no-any-return]
        pending = self._inflight.get(key)
        if pending is not None:
            self.cache_hits += 1
            return await asyncio.shield(pending)  # type: ignore[no-any-return]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            contract_pacer = self._per_contract.get(contract_key)
            if contract_pacer is None:
                contract_pacer = RequestPacer(self.per_contract_2s, self.burst_seconds,
                                              self.clock)
                self._per_contract[contract_key] = contract_pacer
            # Every slot is taken in the moment the request leaves: a slot taken while
            # waiting for another would let the waiters of one contract leave together.
            pacers = [contract_pacer, self.window]
            if self.messages is not None:
                pacers.append(self.messages)
            async with contract_pacer._lock:  # first come, first served per contract
                waited = False
                while True:
                    delay = max(p.wait_time() for p in pacers)
                    if delay <= 0:
                        break
                    if delay >= 1.0:
                        _waits.log(logging.INFO, "historical",
                                   "historical requests wait for IB's pacing (%d in %.0f s, "
                                   "%d for one contract in %.1f s): %.1f s",
                                   self.window.limit, self.window.interval,
                                   self.per_contract_2s, self.burst_seconds, delay)
                    waited = True
                    await asyncio.sleep(delay)
                self.delayed += waited
                for pacer in pacers:
                    pacer.take()
            result = await fetch()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: other waiters re-raise it
            raise
        finally:
            self._inflight.pop(key, None)
        self._cache[key] = (self.clock(), result)
        future.set_result(result)
        self._prune()
        return result

    def _prune(self) -> None:
        now = self.clock()
        for key in [k for k, (t, _) in self._cache.items() if now - t >= self.cache_seconds]:
            del self._cache[key]
