"""The client side of a publisher's snapshot service (the Clone pattern of the ZeroMQ guide).

A book that lost a message is rebuilt from a snapshot: a DEALER socket sends
``[b"SNAPSHOT", symbol]`` to the publisher's ROUTER, which answers with one frame, a
depth snapshot message whose ``sequence`` is the last one it published for the symbol.
Depth updates that arrive meanwhile are kept by the processor and replayed on top of it.
No reply within ``snapshot_timeout``, a reply older than the loss or from another
publisher session: ask again, with a growing pause, until the book is valid (or the
subscription is gone).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import zmq
import zmq.asyncio

from stockfish_core.plugin_api import cancel_and_wait

from .schema import loads

if TYPE_CHECKING:
    from .config import CurveKeys
    from .marketdata import FeedProcessor, Stream

__all__ = ["REQUEST", "SnapshotClient"]

log = logging.getLogger("stockfish.zmq")

#: First frame of a snapshot request; the second is the symbol (UTF-8).
REQUEST = b"SNAPSHOT"


class SnapshotClient:
    """Snapshot requests of one stream to its publisher's snapshot service."""

    def __init__(self, processor: FeedProcessor, stream: Stream, endpoint: str,
                 ctx: zmq.asyncio.Context, curve: CurveKeys | None, timeout: float) -> None:
        self.processor = processor
        self.stream = stream
        self.endpoint = endpoint
        self.timeout = timeout
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.sndhwm = 1000
        if curve is not None:
            sock.curve_serverkey = curve.server_public
            sock.curve_publickey = curve.client_public
            sock.curve_secretkey = curve.client_secret
        sock.connect(endpoint)
        self.sock = sock
        self._waiters: dict[str, asyncio.Future[Any]] = {}
        self._active: dict[str, asyncio.Task[None]] = {}
        self._reader = asyncio.ensure_future(self._read())

    def request(self, symbol: str) -> None:
        """Start resynchronising ``symbol`` unless that is already under way."""
        task = self._active.get(symbol)
        if task is None or task.done():
            self._active[symbol] = asyncio.ensure_future(self._resync(symbol))

    async def _resync(self, symbol: str) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        while True:
            state = self.stream.books.get(symbol)
            if state is None or state.valid:
                return
            waiter: asyncio.Future[Any] = loop.create_future()
            self._waiters[symbol] = waiter
            self.processor.stats.snapshot_requests += 1
            await self.sock.send_multipart([REQUEST, symbol.encode()])
            try:
                reply = await asyncio.wait_for(waiter, self.timeout)
            except asyncio.TimeoutError:
                log.warning("%s: no snapshot of %s from %s within %.1fs; asking again",
                            self.processor.label, symbol, self.endpoint, self.timeout)
                attempt += 1
                continue
            finally:
                if self._waiters.get(symbol) is waiter:
                    del self._waiters[symbol]
            if self._use(reply):
                return
            attempt += 1
            await asyncio.sleep(min(self.timeout, 0.02 * 2 ** min(attempt, 10)))

    def _use(self, reply: Any) -> bool:
        if type(reply) is dict and reply.get("type") == "error":
            log.info("%s: snapshot service %s answered: %s", self.processor.label,
                        self.endpoint, str(reply.get("message", reply))[:200])
            return False
        return self.processor.depth.apply_snapshot_reply(self.stream, reply)

    async def _read(self) -> None:
        while True:
            frames = await self.sock.recv_multipart()
            try:
                reply = loads(frames[-1])
            except ValueError:
                log.warning("%s: unreadable snapshot reply from %s", self.processor.label,
                            self.endpoint)
                continue
            symbol = reply.get("symbol") if type(reply) is dict else None
            waiter = self._waiters.get(symbol) if type(symbol) is str else None
            if waiter is not None and not waiter.done():
                waiter.set_result(reply)
            elif type(reply) is dict and reply.get("type") == "depth":
                self._use(reply)  # a late answer can still serve

    async def close(self) -> None:
        await cancel_and_wait([self._reader, *self._active.values()])
        self.sock.close(linger=0)
