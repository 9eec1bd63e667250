"""Reading SUB sockets in batches, on the event loop or in a receiving thread.

Both modes drain a socket with ``NOBLOCK`` until it is empty or ``batch_size`` messages
were read, and hand the whole batch (a :class:`~stockfish_zmq.marketdata.FrameBatch`) to
``feed`` on the event loop: one call, one normalize, per batch, never per message.

- :class:`LoopReceiver` watches each socket's ``zmq.FD`` with ``loop.add_reader``. That
  descriptor is edge-triggered: it signals "something changed", so a wake-up drains until
  ``EAGAIN``; a full batch reschedules the drain with ``call_soon`` so other callbacks run
  in between; any operation on the socket (a subscribe) is followed by a drain.
- :class:`ThreadReceiver` polls all sockets in one thread and passes batches with
  ``call_soon_threadsafe``. At most ``max_inflight`` batches wait on the loop; past that
  the thread stops reading and ZeroMQ's high-water mark applies, so memory stays bounded.
  It works with any event loop (a Windows proactor loop has no ``add_reader``).

Frames: one frame per message, ``TOPIC {json}`` or the bare ``{json}`` (the processor
finds the JSON), or two frames ``[topic, json]`` (the second is kept); frames after the
second are ignored. A first frame that ends with ``}`` is a whole message: its multipart
flag is not read (any frame sent with it is read as a message of its own).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

import zmq

from stockfish_core.plugin_api import now_ns

from .marketdata import FrameBatch, Stream

__all__ = ["LoopReceiver", "Receiver", "ThreadReceiver", "make_receiver", "reconnect"]

log = logging.getLogger("stockfish.zmq")

Feed = Callable[[FrameBatch], None]
_NOBLOCK = zmq.NOBLOCK
_RCVMORE = zmq.RCVMORE


def drain(sock: zmq.Socket[bytes], stream: Stream, batch_size: int) -> tuple[FrameBatch, bool]:
    """Read up to ``batch_size`` messages; return them and whether the socket may have more.

    The multipart flag is read only for a frame that is not a whole message by itself:
    one that does not end with ``}`` (the topic of a ``[topic, json]`` message). A whole
    single-frame message (``TOPIC {json}`` or ``{json}``) ends with its JSON object's
    ``}``, so the common case pays one ``recv`` per message, as a bare pyzmq loop does;
    ``getsockopt(RCVMORE)`` costs pyzmq more than the ``recv`` itself.
    """
    batch = FrameBatch(stream, 0)
    append = batch.append
    recv = sock.recv
    get = sock.get
    try:
        for _ in range(batch_size):
            frame = recv(_NOBLOCK)
            if frame[-1:] != b"}" and get(_RCVMORE):
                frame = recv(_NOBLOCK)
                while get(_RCVMORE):
                    recv(_NOBLOCK)
            append(frame)
    except zmq.Again:
        batch.recv_ts_ns = now_ns()  # when the last message was read: never before a send
        return batch, False
    batch.recv_ts_ns = now_ns()
    return batch, True


def reconnect(sock: zmq.Socket[bytes], endpoint: str) -> None:
    """Start a fresh connection to ``endpoint`` (ZeroMQ does not retry after a protocol
    error such as an oversized message); subscriptions are sent again by the socket."""
    try:
        sock.disconnect(endpoint)
    except zmq.ZMQError:
        pass  # the failed connection is already gone
    sock.connect(endpoint)


class Receiver(Protocol):
    def start(self) -> None: ...

    def set_topic(self, sock: zmq.Socket[bytes], topic: bytes, subscribe: bool) -> None: ...

    def reconnect(self, sock: zmq.Socket[bytes], endpoint: str) -> None: ...

    async def stop(self) -> None: ...


class LoopReceiver:
    """Reads every socket on the event loop, from ``add_reader`` callbacks."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 sockets: list[tuple[zmq.Socket[bytes], Stream]], feed: Feed,
                 batch_size: int) -> None:
        self.loop = loop
        self.feed = feed
        self.batch_size = batch_size
        self._readers = [_SocketReader(self, sock, stream) for sock, stream in sockets]
        self._by_socket = {id(r.sock): r for r in self._readers}

    def start(self) -> None:
        for reader in self._readers:
            reader.start()

    def set_topic(self, sock: zmq.Socket[bytes], topic: bytes, subscribe: bool) -> None:
        sock.setsockopt(zmq.SUBSCRIBE if subscribe else zmq.UNSUBSCRIBE, topic)
        # The socket may have consumed the descriptor's edge: drain once to be sure.
        self._by_socket[id(sock)].schedule()

    def reconnect(self, sock: zmq.Socket[bytes], endpoint: str) -> None:
        reconnect(sock, endpoint)
        self._by_socket[id(sock)].schedule()

    async def stop(self) -> None:
        for reader in self._readers:
            reader.stop()


class _SocketReader:
    __slots__ = ("fd", "handle", "owner", "sock", "stream")

    def __init__(self, owner: LoopReceiver, sock: zmq.Socket[bytes], stream: Stream) -> None:
        self.owner = owner
        self.sock = sock
        self.stream = stream
        self.fd: int | None = None
        self.handle: asyncio.Handle | None = None

    def start(self) -> None:
        fd = self.sock.getsockopt(zmq.FD)
        assert isinstance(fd, int)
        self.fd = fd
        self.owner.loop.add_reader(fd, self.on_readable)
        self.schedule()

    def schedule(self) -> None:
        if self.handle is None and self.fd is not None:
            self.handle = self.owner.loop.call_soon(self.on_readable)

    def stop(self) -> None:
        if self.fd is not None:
            self.owner.loop.remove_reader(self.fd)
            self.fd = None
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def on_readable(self) -> None:
        self.handle = None
        if self.fd is None:
            return
        try:
            batch, more = drain(self.sock, self.stream, self.owner.batch_size)
        except zmq.ZMQError as exc:
            log.error("zmq: reading %s failed: %s; reader stopped", self.stream.name, exc)
            self.stop()
            return
        if more:
            self.schedule()
        if batch:
            try:
                self.owner.feed(batch)
            except Exception:
                log.exception("zmq: delivering a batch from %s failed", self.stream.name)


class ThreadReceiver:
    """Reads every socket in one thread; batches go to the loop with call_soon_threadsafe."""

    def __init__(self, ctx: zmq.Context[Any], loop: asyncio.AbstractEventLoop,
                 sockets: list[tuple[zmq.Socket[bytes], Stream]], feed: Feed, batch_size: int,
                 *, max_inflight: int = 4, name: str = "zmq") -> None:
        self.ctx = ctx
        self.loop = loop
        self.sockets = sockets
        self.feed = feed
        self.batch_size = batch_size
        self._slots = threading.Semaphore(max_inflight)
        self._commands: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._address = f"inproc://stockfish-zmq-receiver-{id(self):x}"
        self._wake = ctx.socket(zmq.PAIR)
        self._wake.bind(self._address)
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stockfish-zmq-{name}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5.0)  # the thread's end of the wake-up pipe is connected

    def _command(self, command: Callable[[], None] | None) -> None:
        self._commands.put(command)
        try:
            self._wake.send(b"", zmq.NOBLOCK)
        except zmq.Again:
            pass  # wake-ups already queued: the thread will find the command

    def set_topic(self, sock: zmq.Socket[bytes], topic: bytes, subscribe: bool) -> None:
        option = zmq.SUBSCRIBE if subscribe else zmq.UNSUBSCRIBE
        self._command(lambda: sock.setsockopt(option, topic))

    def reconnect(self, sock: zmq.Socket[bytes], endpoint: str) -> None:
        self._command(lambda: reconnect(sock, endpoint))

    async def stop(self) -> None:
        if not self._thread.is_alive():
            self._wake.close(linger=0)
            return
        self._stopping.set()
        self._command(None)
        await asyncio.to_thread(self._thread.join, 5.0)
        self._wake.close(linger=0)

    def _run(self) -> None:
        wake = self.ctx.socket(zmq.PAIR)
        wake.connect(self._address)
        self._ready.set()
        poller = zmq.Poller()
        poller.register(wake, zmq.POLLIN)
        for sock, _ in self.sockets:
            poller.register(sock, zmq.POLLIN)
        try:
            while not self._stopping.is_set():
                ready = dict(poller.poll())
                if wake in ready and not self._run_commands(wake):
                    break
                for sock, stream in self.sockets:
                    if sock in ready and not self._read(sock, stream):
                        return
        except zmq.ZMQError as exc:
            if not self._stopping.is_set():
                log.error("zmq: receiving thread stopped: %s", exc)
        finally:
            wake.close(linger=0)

    def _run_commands(self, wake: zmq.Socket[bytes]) -> bool:
        try:
            while True:
                wake.recv(zmq.NOBLOCK)
        except zmq.Again:
            pass
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return True
            if command is None:
                return False
            try:
                command()
            except zmq.ZMQError as exc:
                log.error("zmq: socket option change failed: %s", exc)

    def _read(self, sock: zmq.Socket[bytes], stream: Stream) -> bool:
        batch, _ = drain(sock, stream, self.batch_size)
        if not batch:
            return True
        while not self._slots.acquire(timeout=0.2):
            if self._stopping.is_set():
                return False
        try:
            self.loop.call_soon_threadsafe(self._deliver, batch)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def _deliver(self, batch: FrameBatch) -> None:
        try:
            self.feed(batch)
        except Exception:
            log.exception("zmq: delivering a batch from %s failed", batch.stream.name)
        finally:
            self._slots.release()


def make_receiver(mode: str, ctx: zmq.Context[Any], loop: asyncio.AbstractEventLoop,
                  sockets: list[tuple[zmq.Socket[bytes], Stream]], feed: Feed,
                  batch_size: int, name: str) -> Receiver:
    """The receiver for ``mode`` ("auto" picks "loop" when the loop supports readers)."""
    if mode == "auto":
        mode = "loop" if _supports_readers(loop) else "thread"
    if mode == "loop":
        return LoopReceiver(loop, sockets, feed, batch_size)
    return ThreadReceiver(ctx, loop, sockets, feed, batch_size, name=name)


def _supports_readers(loop: asyncio.AbstractEventLoop) -> bool:
    proactor = getattr(asyncio, "ProactorEventLoop", None)
    return not (proactor is not None and isinstance(loop, proactor))
