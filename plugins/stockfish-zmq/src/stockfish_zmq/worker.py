"""A feed read in a child process (``worker: true``): receive, decode, sequence, normalize.

The child runs the same code as a connector in process (the SUB sockets, the drain, the
:class:`~stockfish_zmq.marketdata.FeedProcessor` with the core's sequencer) and sends the
manager one frame per batch over a ZeroMQ PAIR socket on ``ipc://`` (an abstract
socket on Linux, a file in a temporary folder elsewhere). A frame is one
pickle: price ticks as plain tuples (the manager builds the ``MarketUpdate`` from them
in one expression), any other update as itself with its place in the batch, and the
facts of the batch: data errors to report, the increments of the sequence and feed
counters, what changed in the sequence state of the publishers (so that a new worker
after a lost one counts the gap); log lines come up as frames of their own.

The manager side (:class:`WorkerLink`) is the session's receiver: subscriptions,
reconnects and stop are commands down the same socket. The child's connection monitor
events come up as facts, and the session reports status from them as it does in
process. A child that dies is a lost connection (``report_lost``): the core reconnects
the connector, which starts a new child. A child whose manager is gone stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import zmq
from zmq.utils.monitor import parse_monitor_message

from stockfish_core.plugin_api import DataType, MarketUpdate, PriceTick, now_ns

from .config import CurveKeys, ZmqConfig, load_normalizer
from .stats import FeedStats

if TYPE_CHECKING:
    from .session import FeedSession

__all__ = ["WorkerLink", "worker_main"]

log = logging.getLogger("stockfish.zmq")

_SEQUENCE_COUNTERS = ("gaps", "lost", "duplicates", "out_of_order", "reordered", "restarts")
_FEED_COUNTERS = ("received", "batches", "delivered", "filtered", "data_errors",
                  "book_invalidations", "snapshot_requests", "resyncs", "depth_dropped")
#: How long a stop waits for the child to end by itself before it is killed.
_STOP_TIMEOUT = 2.0
#: How often the child checks that its manager is still there.
_PARENT_CHECK = 0.5

# Frames from the child: (tag, ...)
_BATCH = "b"
_EVENT = "e"
_LOG = "l"
_READY = "r"


# -- the child ------------------------------------------------------------------------
class _Counters:
    """The sequence counters of the child (the core's sequencer counts here)."""

    __slots__ = _SEQUENCE_COUNTERS

    def __init__(self) -> None:
        for name in _SEQUENCE_COUNTERS:
            setattr(self, name, 0)


class _ChildConnector:
    """What the processor and the core's sequencer use of a connector, in the child:
    the facts they report are collected and sent up with the next batch."""

    def __init__(self, name: str, config: ZmqConfig) -> None:
        self.name = name
        self.config = config
        self.stats = _Counters()
        self.sequencers: list[Any] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.errors: list[tuple[str, str | None, str | None, bool]] = []
        self.late: list[MarketUpdate] = []

    def report_error(self, message: str, *, symbol: str | None = None,
                     code: str | int | None = None, data: bool = False) -> None:
        self.errors.append((message, symbol, None if code is None else str(code), data))

    def deliver(self, updates: list[MarketUpdate]) -> None:
        self.late.extend(updates)


class _Forward(logging.Handler):
    """Log records of the child, sent to the manager's logging."""

    def __init__(self, send: Callable[[Any], None]) -> None:
        super().__init__()
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.send((_LOG, record.levelno, record.name, record.getMessage()))


def worker_main(address: str, name: str, config: ZmqConfig, curve: CurveKeys | None,
                resume: dict[str, dict[Any, tuple[int, Any]]], parent: int) -> None:
    """The child process: read the publishers, send batches to ``address`` until told
    to stop or the manager (``parent``) is gone."""
    from .marketdata import FeedProcessor, FrameBatch, Stream
    from .receiver import drain, reconnect
    from .session import MONITORED, sub_socket

    ctx = zmq.Context()
    chan = ctx.socket(zmq.PAIR)
    chan.linger = 0
    chan.sndtimeo = int(_PARENT_CHECK * 1000)
    chan.connect(address)

    def send(obj: Any) -> None:
        frame = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        while True:
            try:
                chan.send(frame, copy=False)
                return
            except zmq.Again:
                if os.getppid() != parent:
                    raise SystemExit(0) from None

    root = logging.getLogger("stockfish")
    root.handlers[:] = [_Forward(send)]
    root.propagate = False
    root.setLevel(logging.INFO)

    facts = _ChildConnector(name, config)
    normalizers = {kind: load_normalizer(ref) for kind, ref in config.normalizers.items()}
    processor = FeedProcessor(facts, config, FeedStats(),  # type: ignore[arg-type]
                              normalizers=normalizers)
    poller = zmq.Poller()
    poller.register(chan, zmq.POLLIN)
    sockets: dict[str, zmq.Socket[bytes]] = {}
    readers: list[tuple[zmq.Socket[bytes], Stream]] = []
    monitors: dict[zmq.Socket[bytes], str] = {}
    for index, endpoint in enumerate(config.endpoints):
        stream = processor.add_stream(endpoint, None)
        state = resume.get(endpoint)
        if state:
            # The publisher's sequence state when the previous worker was lost: what
            # follows is compared with it (a gap is counted, a fall back is a restart).
            sequencer = stream.sequencer
            sequencer.epoch += 1
            seen = sequencer.clock()
            for key, (next_seq, session) in state.items():
                tracker = sequencer.tracker(key)
                tracker.next_seq = next_seq
                tracker.session = session
                tracker.seen = seen
        sock = sub_socket(ctx, config, curve)
        monitor_address = f"inproc://stockfish-zmq-worker-monitor-{index}"
        sock.monitor(monitor_address, MONITORED)
        monitor = ctx.socket(zmq.PAIR)
        monitor.connect(monitor_address)
        monitors[monitor] = endpoint
        poller.register(monitor, zmq.POLLIN)
        sock.connect(endpoint)
        if config.subscribe_all:
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        elif config.bare_json:
            from .schema import BARE_JSON_TOPIC
            sock.setsockopt(zmq.SUBSCRIBE, BARE_JSON_TOPIC)
        sockets[endpoint] = sock
        readers.append((sock, stream))
        poller.register(sock, zmq.POLLIN)
    send((_READY, os.getpid()))

    feed_stats = processor.stats
    last_feed = dict.fromkeys(_FEED_COUNTERS, 0)
    last_codes: dict[str, int] = {}
    last_seq = dict.fromkeys(_SEQUENCE_COUNTERS, 0)
    # The sequence state the manager has (it gave the resumed part).
    sent_state: dict[str, dict[Any, tuple[int, Any]]] = {
        s.name: dict(resume.get(s.name, {})) for _, s in readers}
    price_tick = DataType.PRICE_TICK

    def ship(updates: list[MarketUpdate], stream: str | None, recv_ts: int) -> None:
        ticks: list[tuple[Any, ...]] = []
        others: list[tuple[int, MarketUpdate]] = []
        for u in updates:
            if u.data_type is price_tick:
                p = u.payload
                ticks.append((p.symbol, p.bid, p.ask, p.last, p.bid_size, p.ask_size,
                              p.last_size, p.volume, p.timestamp_ns, u.sequence_number,
                              u.venue_ts_ns, u.recv_ts_ns, u.stream))
            else:
                others.append((len(ticks) + len(others), u))  # its place in the batch
        feed: dict[str, int] = {}
        for key in _FEED_COUNTERS:
            value = getattr(feed_stats, key)
            if value != last_feed[key]:
                feed[key] = value - last_feed[key]
                last_feed[key] = value
        codes = {code: n - last_codes.get(code, 0)
                 for code, n in feed_stats.errors_by_code.items() if n != last_codes.get(code)}
        last_codes.update(feed_stats.errors_by_code)
        counters = facts.stats
        seq: dict[str, int] = {}
        for key in _SEQUENCE_COUNTERS:
            value = getattr(counters, key)
            if value != last_seq[key]:
                seq[key] = value - last_seq[key]
                last_seq[key] = value
        # Only what changed since the last frame: the manager's loop merges a few entries
        # a batch, not every symbol's (the worker compares; it has the CPU to spare).
        state: dict[str, dict[Any, tuple[int, Any]]] = {}
        for _, s in readers:
            sent = sent_state[s.name]
            changed = {k: v for k, t in s.sequencer.trackers.items()
                       if t.next_seq is not None
                       and sent.get(k) != (v := (t.next_seq, t.session))}
            if changed:
                sent.update(changed)
                state[s.name] = changed
        send((_BATCH, ticks, others, facts.errors, feed, codes, seq, state, stream, recv_ts))
        facts.errors = []

    def commands() -> bool:
        while True:
            try:
                command = pickle.loads(chan.recv(zmq.NOBLOCK))
            except zmq.Again:
                return True
            op = command[0]
            if op == "stop":
                return False
            if op == "interest":
                _, topic, kind, depth, add = command
                if add:
                    processor.add_interest(topic, kind, depth)
                else:
                    processor.remove_interest(topic, kind)
            elif op == "topic":
                _, topic, subscribe = command
                option = zmq.SUBSCRIBE if subscribe else zmq.UNSUBSCRIBE
                for sock in sockets.values():
                    sock.setsockopt(option, topic)
            elif op == "interrupted":
                for _, stream in readers:
                    if stream.name == command[1]:
                        stream.sequencer.interrupted()
            elif op == "reconnect":
                reconnect(sockets[command[1]], command[1])

    batch_size = config.batch_size
    try:
        while True:
            deadlines = [d for s in processor._all_streams()
                         if (d := s.sequencer.next_deadline()) is not None]
            timeout = _PARENT_CHECK
            if deadlines:
                timeout = min(timeout, max(0.0, min(deadlines) - time.monotonic()))
            ready = dict(poller.poll(int(timeout * 1000) + 1))
            if os.getppid() != parent:
                return
            if chan in ready and not commands():
                return
            for monitor, endpoint in monitors.items():
                if monitor in ready:
                    with contextlib.suppress(zmq.Again):
                        while True:
                            event = parse_monitor_message(monitor.recv_multipart(zmq.NOBLOCK))
                            send((_EVENT, endpoint, event["event"]))
            for sock, stream in readers:
                if sock not in ready:
                    continue
                more = True
                while more:
                    batch: FrameBatch
                    batch, more = drain(sock, stream, batch_size)
                    if batch:
                        updates = processor.process(batch)
                        if facts.late:
                            updates = facts.late + updates
                            facts.late = []
                        ship(updates, stream.name, batch.recv_ts_ns)
            if deadlines and not ready:
                out: list[MarketUpdate] = []
                processor._expire_into(out)
                if out or facts.errors:
                    processor.stats.delivered += len(out)
                    ship(out, None, now_ns())
    finally:
        for sock in sockets.values():
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
        ctx.destroy(linger=0)


# -- the manager's side -----------------------------------------------------------------
class WorkerLink:
    """The manager's end of one worker: starts, feeds, commands and stops the child."""

    def __init__(self, session: FeedSession, curve: CurveKeys | None,
                 resume: dict[str, dict[Any, tuple[int, Any]]]) -> None:
        self.session = session
        self.connector = session.connector
        self.loop = asyncio.get_running_loop()
        #: Per publisher, the sequence state of what was delivered (a new worker after
        #: a lost one starts from it); its own copy, updated by every batch.
        self.resume: dict[str, dict[Any, tuple[int, Any]]] = {
            name: dict(state) for name, state in resume.items()}
        self._dir: str | None = None
        if sys.platform.startswith("linux"):
            # An abstract socket: no file is left behind when the manager is killed.
            self.address = f"ipc://@stockfish-zmq-{os.getpid()}-{secrets.token_hex(8)}"
        else:
            self._dir = tempfile.mkdtemp(prefix="stockfish-zmq-")
            self.address = f"ipc://{self._dir}/worker"
        self.chan: zmq.Socket[bytes] = session.ctx.socket(zmq.PAIR)  # type: ignore[union-attr]
        self.chan.linger = 0
        self.chan.sndhwm = 0  # commands are few; never dropped
        self.chan.bind(self.address)
        config = attrs.evolve(session.config, curve=None)  # the keys go resolved
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(
            target=worker_main, name=f"stockfish-zmq-{self.connector.name}",
            args=(self.address, self.connector.name, config, curve, resume, os.getpid()),
            daemon=True)
        self._fd: int | None = None
        self._sentinel: int | None = None
        self._stopping = False
        self._handle: asyncio.Handle | None = None
        #: The child's process id once it is connected to the channel.
        self.pid: int | None = None
        self._queued: list[tuple[Any, ...]] = []
        self._epochs: dict[str, int] = {}

    def start(self) -> None:
        self.process.start()
        fd = self.chan.getsockopt(zmq.FD)
        assert isinstance(fd, int)
        self._fd = fd
        self.loop.add_reader(fd, self._on_readable)
        self._sentinel = self.process.sentinel
        self.loop.add_reader(self._sentinel, self._on_exit)
        self._schedule()

    # -- commands (the session's receiver interface) ---------------------------------
    def _command(self, *command: Any) -> None:
        if self.pid is None:  # the child is not connected yet: sent when it is
            self._queued.append(command)
            return
        with contextlib.suppress(zmq.ZMQError):
            self.chan.send(pickle.dumps(command), zmq.NOBLOCK)
        self._schedule()  # a send may consume the descriptor's edge

    def interest(self, topic: str, kind: str, depth: int | None, add: bool) -> None:
        self._command("interest", topic, kind, depth, add)

    def set_topic(self, sock: Any, topic: bytes, subscribe: bool) -> None:
        self._command("topic", topic, subscribe)

    def reconnect(self, sock: Any, endpoint: str) -> None:
        self._command("reconnect", endpoint)

    def forward_interruptions(self) -> None:
        """The core tells its sequencers of a lost connection (``interrupted``); the
        worker's sequencers, which do the counting, are told the same."""
        for name, stream in self.session.streams.items():
            epoch = stream.sequencer.epoch
            if epoch != self._epochs.get(name, 0):
                self._epochs[name] = epoch
                self._command("interrupted", name)

    async def stop(self) -> None:
        self._stopping = True
        self._unwatch()
        if self.process.is_alive():
            self._command("stop")
            await asyncio.to_thread(self.process.join, _STOP_TIMEOUT)
            if self.process.is_alive():
                self.process.kill()
                await asyncio.to_thread(self.process.join, _STOP_TIMEOUT)
        self.chan.close(linger=0)
        if self._dir is not None:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self._dir, "worker"))
            with contextlib.suppress(OSError):
                os.rmdir(self._dir)

    def _unwatch(self) -> None:
        if self._fd is not None:
            self.loop.remove_reader(self._fd)
            self._fd = None
        if self._sentinel is not None:
            self.loop.remove_reader(self._sentinel)
            self._sentinel = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    # -- the child's frames ----------------------------------------------------------
    def _schedule(self) -> None:
        if self._handle is None and self._fd is not None:
            self._handle = self.loop.call_soon(self._on_readable)

    def _on_readable(self) -> None:
        self._handle = None
        if self._fd is None:
            return
        recv = self.chan.recv
        for _ in range(64):  # then let other callbacks run
            try:
                frame = recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self._handle_frame(pickle.loads(frame))
            except Exception:
                log.exception("zmq: a batch from the worker of %s could not be delivered",
                              self.connector.name)
        self._schedule()

    def _handle_frame(self, message: tuple[Any, ...]) -> None:
        tag = message[0]
        if tag == _BATCH:
            self._batch(*message[1:])
        elif tag == _EVENT:
            self.session.on_monitor_event(message[1], message[2])
        elif tag == _LOG:
            logging.getLogger(message[2]).log(message[1], "%s", message[3])
        elif tag == _READY:
            self.pid = message[1]
            queued, self._queued = self._queued, []
            for command in queued:
                self._command(*command)

    def _batch(self, ticks: list[tuple[Any, ...]], others: list[tuple[int, MarketUpdate]],
               errors: list[tuple[str, str | None, str | None, bool]], feed: dict[str, int],
               codes: dict[str, int], seq: dict[str, int],
               state: dict[str, dict[Any, tuple[int, Any]]], stream_name: str | None,
               recv_ts: int) -> None:
        session = self.session
        connector = self.connector
        resume = self.resume
        for stream_key, changed in state.items():
            known = resume.get(stream_key)
            if known is None:
                resume[stream_key] = changed
            else:
                known.update(changed)
        stats = session.stats
        for key, value in feed.items():
            setattr(stats, key, getattr(stats, key) + value)
        by_code = stats.errors_by_code
        for code, value in codes.items():
            by_code[code] = by_code.get(code, 0) + value
        counters = connector.stats
        for key, value in seq.items():
            setattr(counters, key, getattr(counters, key) + value)
        stream = session.streams.get(stream_name) if stream_name is not None else None
        if stream is not None:
            stream.last_recv_ns = recv_ts
        for message, symbol, error_code, data in errors:
            connector.report_error(message, symbol=symbol, code=error_code, data=data)
        if session.closed:
            return
        name = connector.name
        price_tick = DataType.PRICE_TICK
        updates = [MarketUpdate(price_tick, PriceTick(s, b, a, la, bs, az, ls, v, ts),
                                name, sq, vts, rts, st)
                   for s, b, a, la, bs, az, ls, v, ts, sq, vts, rts, st in ticks]
        for index, update in others:  # ascending final positions: order kept
            updates.insert(index, update)
        if updates:
            connector.deliver(updates)

    def _on_exit(self) -> None:
        # What the child sent before it ended is delivered first (with the sequence
        # state it goes with).
        with contextlib.suppress(zmq.ZMQError):
            while self._fd is not None:
                frame = self.chan.recv(zmq.NOBLOCK)
                try:
                    self._handle_frame(pickle.loads(frame))
                except Exception:
                    log.exception("zmq: a batch from the worker of %s could not be "
                                  "delivered", self.connector.name)
        self._unwatch()
        if self._stopping or self.session.closed:
            return
        self.process.join(0)
        code = self.process.exitcode
        reason = f"the worker process of {self.connector.name} ended (exit code {code})"
        log.error("%s; the connector reconnects", reason)
        self.session.worker_lost(reason)
