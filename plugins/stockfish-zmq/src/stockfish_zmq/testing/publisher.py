"""A ZeroMQ publisher of the connector's wire format, for tests, demos and benchmarks.

In process::

    pub = Publisher(snapshot_endpoint="tcp://127.0.0.1:*", session="s1")
    pub.start()                                # binds; pub.endpoint is the real address
    pub.wait_subscribed(b"BTCUSD", timeout=5)  # a subscriber is connected and subscribed
    pub.publish("ticker", "BTCUSD", {"bid": 1.0, "ask": 1.1})
    pub.stream(SyntheticMarket(["BTCUSD"]), rate=1000)
    pub.stop()

As a command: ``stockfish-zmq-sim --help`` (or ``python -m stockfish_zmq.testing``).

Messages go out as one frame ``TOPIC {json}`` by default (``wire_format``: also
``frames``, two frames ``[TOPIC, json]``, and ``json``, the bare JSON of the seeds).
One thread owns the sockets: an XPUB (a PUB that also sees subscriptions, so callers can
wait for subscribers instead of sleeping), and optionally a ROUTER snapshot service
answering ``[b"SNAPSHOT", symbol]`` with the current book of the symbol and the
sequence it is at. Sequence numbers count per symbol from 1 in each ``session``.
:class:`Faults` makes it misbehave on purpose: drop, duplicate, reorder, garbage.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
import zmq

from stockfish_core.plugin_api import BookError, L2Book

from ..schema import dumps, format_iso, topic_of
from ..snapshot import REQUEST

__all__ = ["GARBAGE", "WIRE_FORMATS", "Faults", "Publisher", "make_message"]

#: How a message goes on the wire (see the README, "Wire format"):
#: ``prefix`` one frame ``TOPIC {json}`` (the default: one frame, and a SUB prefix filter
#: still matches the topic); ``frames`` two frames ``[TOPIC, json]``; ``json`` one frame
#: holding only the JSON (the seeds' format; subscribers receive it through ``{``).
WIRE_FORMATS = ("prefix", "frames", "json")

#: Bad messages the fault injector sends (topic frame added by the publisher): each is
#: one kind of bad input the connector must count and survive.
GARBAGE: list[bytes] = [
    b"{not json",
    b"[1, 2, 3]",
    b'"just a string"',
    b'{"type": "ticker", "symbol": "%s", "data": {"bid": "100.5", "ask": 101}}',
    b'{"type": "ticker", "symbol": "%s"}',
    b'{"type": "rumour", "symbol": "%s", "data": {}}',
    b'{"type": "ticker", "symbol": "%s", "data": {"bid": NaN, "ask": 1.0}}',
    b'{"type": "trade", "symbol": "%s", "data": {"price": 10.0, "size": -5}}',
    b'{"type": "ticker", "symbol": "%s", "data": {"bid": 101.0, "ask": 100.0}}',
    b'{"type": "ticker", "symbol": 42, "data": {"bid": 1.0}}',
    b"\xff\xfe\x00garbage",
]


@attrs.define
class Faults:
    """Deterministic misbehaviour, every Nth published message (0: never)."""

    drop_every: int = 0
    duplicate_every: int = 0
    reorder_every: int = 0
    garbage_every: int = 0

    @property
    def any(self) -> bool:
        return bool(self.drop_every or self.duplicate_every or self.reorder_every
                    or self.garbage_every)


def make_message(kind: str, symbol: str | None, data: dict[str, Any], *,
                 sequence: int | None, session: str | None,
                 ts_ns: int | None = None) -> dict[str, Any]:
    """A message in the wire format (the README's schema)."""
    if ts_ns is None:
        ts_ns = time.time_ns()
    msg: dict[str, Any] = {"type": kind}
    if symbol is not None:
        msg["symbol"] = symbol
    if sequence is not None:
        msg["sequence"] = sequence
    if session is not None:
        msg["session"] = session
    msg["ts_ns"] = ts_ns
    msg["timestamp"] = format_iso(ts_ns)
    msg["data"] = data
    return msg


class Publisher:
    """A publisher on its own thread; every method is safe to call from any thread."""

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:*",
        *,
        snapshot_endpoint: str | None = None,
        session: str | None = None,
        curve_secret_key: bytes | None = None,
        allowed_client_keys: Iterable[bytes] | None = None,
        faults: Faults | None = None,
        sndhwm: int = 100_000,
        book_levels: int = 1000,
        wire_format: str = "prefix",
    ) -> None:
        if wire_format not in WIRE_FORMATS:
            raise ValueError(f"wire_format must be one of {', '.join(WIRE_FORMATS)}, "
                             f"got {wire_format!r}")
        self.wire_format = wire_format
        self.requested_endpoint = endpoint
        self.requested_snapshot = snapshot_endpoint
        self.session = session if session is not None else os.urandom(4).hex()
        self.curve_secret_key = curve_secret_key
        self.allowed_client_keys = (None if allowed_client_keys is None
                                    else set(allowed_client_keys))
        self.faults = faults or Faults()
        self.sndhwm = sndhwm
        self.book_levels = book_levels
        self.endpoint = ""
        self.snapshot_endpoint: str | None = None
        self.sent = 0
        self.snapshot_requests = 0
        self.books: dict[str, L2Book] = {}
        self.subscriptions: Counter[bytes] = Counter()
        self._seq: dict[str, int] = {}
        #: Last sequence handed to the socket (or dropped on purpose), per topic.
        self._emitted: dict[str, int] = {}
        self._seq_lock = threading.Lock()
        self._changed = threading.Condition()
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stream: Iterator[dict[str, Any]] | None = None
        self._streams_started = 0
        self._streams_done = 0
        self._rate = 0.0
        self._left: int | None = None
        self._stream_started = 0.0
        self._stream_sent = 0
        self._fault_count = 0
        self._held: tuple[bytes, bytes] | None = None
        self._stopping = threading.Event()
        self._ctx: zmq.Context[Any] | None = None
        self._auth: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> Publisher:
        """Bind the sockets (raising on a bad address) and start the thread."""
        self._ctx = ctx = zmq.Context()
        if self.allowed_client_keys is not None:
            from zmq.auth.thread import ThreadAuthenticator

            self._auth = ThreadAuthenticator(ctx)
            self._auth.start()
            self._auth.configure_curve_callback("*", _KeySet(self.allowed_client_keys))
        self._pub = self._socket(zmq.XPUB)
        self._pub.sndhwm = self.sndhwm
        self._pub.setsockopt(zmq.XPUB_VERBOSE, 1)
        self._pub.bind(self.requested_endpoint)
        self.endpoint = _last_endpoint(self._pub)
        self._router: zmq.Socket[bytes] | None = None
        if self.requested_snapshot is not None:
            self._router = self._socket(zmq.ROUTER)
            self._router.bind(self.requested_snapshot)
            self.snapshot_endpoint = _last_endpoint(self._router)
        self._wake_address = f"inproc://stockfish-zmq-publisher-{id(self):x}"
        self._wake = ctx.socket(zmq.PAIR)
        self._wake.bind(self._wake_address)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True,
                                        name="stockfish-zmq-publisher")
        self._thread.start()
        ready.wait(5.0)
        return self

    def _socket(self, kind: int) -> zmq.Socket[bytes]:
        assert self._ctx is not None
        sock: zmq.Socket[bytes] = self._ctx.socket(kind)
        sock.linger = 0
        if self.curve_secret_key is not None:
            sock.curve_server = True
            sock.curve_secretkey = self.curve_secret_key
            sock.curve_publickey = zmq.curve_public(self.curve_secret_key)
        return sock

    def stop(self, linger: float = 0.0) -> None:
        """Stop the thread and close; ``linger`` seconds let queued messages leave."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wakeup()
        self._thread.join(10.0)
        self._thread = None
        self._pub.close(linger=int(linger * 1000))
        if self._router is not None:
            self._router.close(linger=0)
        self._wake.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
        assert self._ctx is not None
        self._ctx.term()

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- publishing (any thread) ------------------------------------------------------
    def next_sequence(self, symbol: str) -> int:
        with self._seq_lock:
            seq = self._seq.get(symbol, 0) + 1
            self._seq[symbol] = seq
            return seq

    def publish(self, kind: str, symbol: str | None, data: dict[str, Any], *,
                sequence: int | None = None, session: str | bool | None = True,
                ts_ns: int | None = None, drop: bool = False) -> dict[str, Any]:
        """Queue one message; return it. ``sequence=None`` takes the symbol's next number;
        ``session=True`` is the publisher's session, ``False`` or ``None`` sends none;
        ``drop=True`` counts it (sequence, book) but does not send it: a lost message."""
        key = symbol if symbol is not None else kind
        if sequence is None:
            sequence = self.next_sequence(key)
        else:
            with self._seq_lock:
                self._seq[key] = max(self._seq.get(key, 0), sequence)
        sess = self.session if session is True else (session or None)
        msg = make_message(kind, symbol, data, sequence=sequence, session=sess, ts_ns=ts_ns)
        self._call(lambda: self._emit(msg, send=not drop))
        return msg

    def set_faults(self, faults: Faults) -> None:
        """Change the fault injection from the next message on."""
        self._call(lambda: setattr(self, "faults", faults))

    def send_raw(self, topic: bytes, body: bytes) -> None:
        """Queue two raw frames as they are (to send what no correct publisher would)."""
        self._call(lambda: self._send_frames(topic, body))

    def send_encoded(self, frames: list[tuple[bytes, bytes]]) -> None:
        """Queue pre-encoded ``(topic, body)`` pairs, sent back to back (benchmarks)."""

        def run() -> None:
            send = self._pub.send
            if self.wire_format == "frames":
                for topic, body in frames:
                    send(topic, zmq.SNDMORE)
                    send(body)
            elif self.wire_format == "prefix":
                for topic, body in frames:
                    send(topic + b" " + body)
            else:
                for _, body in frames:
                    send(body)
            self.sent += len(frames)

        self._call(run)

    def stream(self, source: Iterable[tuple[str, str, dict[str, Any]]] | Iterable[dict[str, Any]],
               *, rate: float = 1000.0, count: int | None = None) -> None:
        """Publish from ``source`` on the publisher thread: ``(kind, symbol, data)`` tuples
        (a :class:`~stockfish_zmq.testing.synthetic.SyntheticMarket`) or whole messages (replay).
        ``rate`` is messages per second (0: as fast as possible); stops after ``count``."""
        messages = self._messages(iter(source))
        with self._changed:
            self._streams_started += 1

        def begin() -> None:
            if self._stream is not None:
                self._end_stream()  # a new stream replaces the running one
            self._stream = messages
            self._rate = rate
            self._left = count
            self._stream_started = time.perf_counter()
            self._stream_sent = 0

        self._call(begin)

    def stop_stream(self) -> None:
        self._call(self._end_stream)

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything queued before this call was handed to ZeroMQ."""
        done = threading.Event()
        self._call(done.set)
        if not done.wait(timeout):
            raise TimeoutError(f"publisher did not flush within {timeout}s")

    def wait_stream_done(self, timeout: float) -> None:
        """Block until every stream started so far has ended; raise TimeoutError."""
        with self._changed:
            if not self._changed.wait_for(
                    lambda: self._streams_done >= self._streams_started, timeout):
                raise TimeoutError(f"stream not finished within {timeout}s")

    # -- subscribers ------------------------------------------------------------------
    def subscribed(self, topic: bytes = b"") -> int:
        """Subscribers whose subscription matches ``topic`` (a prefix of it)."""
        with self._changed:
            return sum(n for t, n in self.subscriptions.items() if topic.startswith(t) and n > 0)

    def wait_subscribed(self, topic: bytes = b"", timeout: float = 10.0, count: int = 1) -> None:
        """Block until ``count`` subscribers would receive ``topic``; raise TimeoutError."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._matching(topic) >= count, timeout):
                raise TimeoutError(f"no subscriber for {topic!r} within {timeout}s")

    def wait_any_subscription(self, timeout: float = 10.0) -> None:
        """Block until any subscription at all has arrived; raise TimeoutError."""
        with self._changed:
            if not self._changed.wait_for(
                    lambda: any(n > 0 for n in self.subscriptions.values()), timeout):
                raise TimeoutError(f"no subscriber within {timeout}s")

    def wait_subscription_count(self, topic: bytes, count: int, timeout: float = 10.0) -> None:
        """Block until exactly ``count`` subscriptions match ``topic`` (e.g. 0 after an
        unsubscribe); raise TimeoutError."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._matching(topic) == count, timeout):
                raise TimeoutError(f"{self._matching(topic)} subscriptions for {topic!r}, "
                                   f"not {count}, after {timeout}s")

    async def wait_subscribed_async(self, topic: bytes = b"", timeout: float = 10.0,
                                    count: int = 1) -> None:
        await asyncio.to_thread(self.wait_subscribed, topic, timeout, count)

    def _matching(self, topic: bytes) -> int:
        return sum(n for t, n in self.subscriptions.items() if topic.startswith(t) and n > 0)

    # -- the thread -------------------------------------------------------------------
    def _call(self, fn: Callable[[], None]) -> None:
        if self._thread is None:
            raise RuntimeError("publisher is not started")
        self._commands.put(fn)
        self._wakeup()

    def _wakeup(self) -> None:
        try:
            self._wake.send(b"", zmq.NOBLOCK)
        except zmq.Again:
            pass

    def _run(self, ready: threading.Event) -> None:
        assert self._ctx is not None
        wake = self._ctx.socket(zmq.PAIR)
        wake.connect(self._wake_address)
        ready.set()
        poller = zmq.Poller()
        poller.register(wake, zmq.POLLIN)
        poller.register(self._pub, zmq.POLLIN)
        if self._router is not None:
            poller.register(self._router, zmq.POLLIN)
        try:
            while not self._stopping.is_set():
                events = dict(poller.poll(self._poll_timeout()))
                if wake in events:
                    _drain(wake)
                    self._run_commands()
                if self._pub in events:
                    self._read_subscriptions()
                if self._router is not None and self._router in events:
                    self._serve_snapshots()
                if self._stream is not None:
                    self._pump()
        finally:
            wake.close(linger=0)

    def _poll_timeout(self) -> int:
        if self._stream is None:
            return 1000
        if self._rate <= 0:
            return 0
        due = self._stream_started + self._stream_sent / self._rate
        wait = due - time.perf_counter()
        # Never spin: sleep at least a millisecond and send what fell due meanwhile.
        return 0 if wait <= 0 else max(1, math.ceil(wait * 1000))

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command()

    def _pump(self) -> None:
        assert self._stream is not None
        if self._rate > 0:
            due = int((time.perf_counter() - self._stream_started) * self._rate) + 1
            todo = min(due - self._stream_sent, 10_000)
        else:
            todo = 10_000
        if self._left is not None:
            todo = min(todo, self._left)
        emitted = 0
        for msg in itertools.islice(self._stream, max(0, todo)):
            self._emit(msg)
            emitted += 1
        self._stream_sent += emitted
        if self._left is not None:
            self._left -= emitted
        if self._left == 0 or emitted < todo:  # the count is reached, or the source is dry
            self._end_stream()

    def _end_stream(self) -> None:
        with self._changed:
            if self._stream is not None:
                self._stream = None
                self._streams_done += 1
            self._changed.notify_all()

    def _messages(self, source: Iterator[Any]) -> Iterator[dict[str, Any]]:
        for item in source:
            if isinstance(item, dict):
                msg = item
                key = topic_of(msg)
                if "sequence" not in msg:
                    msg["sequence"] = self.next_sequence(key)
                else:
                    seq = msg["sequence"]
                    with self._seq_lock:
                        if isinstance(seq, int):
                            self._seq[key] = max(self._seq.get(key, 0), seq)
                yield msg
            else:
                kind, symbol, data = item
                yield make_message(kind, symbol, data, sequence=self.next_sequence(symbol),
                                   session=self.session)

    def _emit(self, msg: dict[str, Any], send: bool = True) -> None:
        key = topic_of(msg)
        seq = msg.get("sequence")
        if isinstance(seq, int):
            self._emitted[key] = seq
        if msg.get("type") == "depth" and isinstance(msg.get("symbol"), str):
            self._update_book(msg)
        if not send:
            return
        topic = key.encode()
        body = dumps(msg)
        faults = self.faults
        if not faults.any:
            self._send(topic, body)
            return
        self._fault_count += 1
        n = self._fault_count
        if faults.drop_every and n % faults.drop_every == 0:
            return
        if self._held is not None:
            self._send(topic, body)
            self._send(*self._held)
            self._held = None
        elif faults.reorder_every and n % faults.reorder_every == 0:
            self._held = (topic, body)
        else:
            self._send(topic, body)
        if faults.duplicate_every and n % faults.duplicate_every == 0:
            self._send(topic, body)
        if faults.garbage_every and n % faults.garbage_every == 0:
            bad = GARBAGE[(n // faults.garbage_every) % len(GARBAGE)]
            self._send(topic, bad.replace(b"%s", topic) if b"%s" in bad else bad)

    def _send(self, topic: bytes, body: bytes) -> None:
        wire = self.wire_format
        if wire == "prefix":
            self._pub.send(topic + b" " + body)
        elif wire == "frames":
            self._pub.send(topic, zmq.SNDMORE)
            self._pub.send(body)
        else:
            self._pub.send(body)
        self.sent += 1

    def _send_frames(self, topic: bytes, body: bytes) -> None:
        self._pub.send(topic, zmq.SNDMORE)
        self._pub.send(body)
        self.sent += 1

    def _update_book(self, msg: dict[str, Any]) -> None:
        symbol = msg["symbol"]
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = L2Book(symbol, self.book_levels)
        data = msg.get("data")
        if isinstance(data, dict):
            try:
                book.apply(data, msg.get("sequence"))
            except BookError:
                pass  # a replayed bad update: the book is as good as the file

    def _read_subscriptions(self) -> None:
        with self._changed:
            while True:
                try:
                    frame = self._pub.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if frame[:1] == b"\x01":
                    self.subscriptions[frame[1:]] += 1
                elif frame[:1] == b"\x00":
                    self.subscriptions[frame[1:]] -= 1
            self._changed.notify_all()

    def _serve_snapshots(self) -> None:
        assert self._router is not None
        while True:
            try:
                frames = self._router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.snapshot_requests += 1
            identity, rest = frames[0], frames[1:]
            envelope = [identity]
            if rest and rest[0] == b"":  # a REQ client: keep its empty delimiter
                envelope.append(b"")
                rest = rest[1:]
            self._router.send_multipart([*envelope, self._snapshot_reply(rest)])

    def _snapshot_reply(self, request: list[bytes]) -> bytes:
        if len(request) != 2 or request[0] != REQUEST:
            return dumps({"type": "error", "message": "expected [SNAPSHOT, symbol]"})
        symbol = request[1].decode("utf-8", "replace")
        book = self.books.get(symbol)
        if book is None:
            return dumps({"type": "error", "symbol": symbol,
                          "message": f"no book for {symbol!r}"})
        sequence = self._emitted.get(symbol, 0)
        return dumps(make_message("depth", symbol, book.to_wire(), sequence=sequence,
                                  session=self.session))


class _KeySet:
    """A ZAP credentials provider accepting a fixed set of client public keys."""

    def __init__(self, keys: set[bytes]) -> None:
        self.keys = keys

    def callback(self, domain: str, key: bytes) -> bool:
        return zmq.utils.z85.encode(key) in self.keys or key in self.keys


def _last_endpoint(sock: zmq.Socket[bytes]) -> str:
    value = sock.getsockopt(zmq.LAST_ENDPOINT)
    return value.decode() if isinstance(value, bytes) else str(value)


def _drain(sock: zmq.Socket[bytes]) -> None:
    try:
        while True:
            sock.recv(zmq.NOBLOCK)
    except zmq.Again:
        pass


if __name__ == "__main__":  # pragma: no cover - the command line
    from stockfish_zmq.testing.cli import main

    raise SystemExit(main())
