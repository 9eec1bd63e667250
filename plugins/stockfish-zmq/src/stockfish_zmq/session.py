"""One connected ZeroMQ feed: sockets, receiver, connection monitor, subscriptions.

``connector.state`` holds a :class:`FeedSession`. It opens one SUB socket per publisher
endpoint (each is one sequence space), reads them with a receiver, watches each
connection with a ZeroMQ socket monitor, and reports status from what it sees:

- CONNECTED as soon as the sockets are set up, "waiting for data" while no publisher is
  up yet (ZeroMQ connects by itself when one starts; the feed goes stale after
  ``staleness`` like any silent feed), and while at least one publisher is connected;
- CONNECTING while every publisher refused the handshake (a CURVE key mismatch);
- RECONNECTING when every publisher went away: ZeroMQ reconnects by itself, so the
  manager leaves the session (and the messages already queued in it) alone. When a
  publisher is back, CONNECTED is reported again, the manager restores subscriptions,
  and the sequence tracking recognises the publisher's restart (see
  :mod:`stockfish_core.sequencing`).

A failed handshake (a wrong CURVE key, CURVE on one side only) is reported as an error
with code ``handshake_failed``; nothing from such a publisher is ever received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import attrs
import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from stockfish_core.plugin_api import (
    Subscription,
    cancel_and_wait,
    now_ns,
    without_gc,
)

from .config import CurveKeys, ZmqConfig, load_normalizer
from .marketdata import FeedProcessor, FrameBatch, Stream
from .receiver import Receiver, make_receiver
from .schema import BARE_JSON_TOPIC, DATA_TYPE_KIND
from .snapshot import SnapshotClient
from .stats import FeedStats, RateLimitedLog
from .worker import WorkerLink

if TYPE_CHECKING:
    from stockfish_core.plugin_api import Connector

__all__ = ["MONITORED", "FeedSession", "sub_socket"]

log = logging.getLogger("stockfish.zmq")

MONITORED = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_MONITOR_STOPPED
)
#: After a disconnection ZeroMQ announces its reconnect attempt at once; without one
#: (a protocol error, e.g. a message over max_message_size) the session reconnects.
_RETRY_GRACE = 0.5
_HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    zmq.EVENT_HANDSHAKE_FAILED_AUTH,
)


def _detached_config(config: Any) -> ZmqConfig:
    if isinstance(config, ZmqConfig):
        return attrs.evolve(config, subscribe_all=True)
    return ZmqConfig(endpoints=["ipc://unused"], subscribe_all=True)


def sub_socket(ctx: zmq.Context[Any], cfg: ZmqConfig,
               curve: CurveKeys | None) -> zmq.Socket[bytes]:
    """A SUB socket with the connector's settings (not connected yet)."""
    sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
    sock.linger = 0
    sock.rcvhwm = cfg.rcvhwm
    # A SUB socket sends only its subscriptions. Made before a publisher is up, they
    # wait in the connection's pipe, and past a high-water mark they would be dropped
    # (and a feed of more symbols than that would silently lose the rest).
    sock.sndhwm = 0
    sock.maxmsgsize = cfg.max_message_size
    sock.reconnect_ivl = int(cfg.reconnect_interval * 1000)
    sock.reconnect_ivl_max = int(cfg.reconnect_interval_max * 1000)
    if cfg.heartbeat_interval is not None:
        timeout = cfg.heartbeat_timeout or 3 * cfg.heartbeat_interval
        sock.heartbeat_ivl = int(cfg.heartbeat_interval * 1000)
        sock.heartbeat_timeout = int(timeout * 1000)
        sock.heartbeat_ttl = int(timeout * 1000)
    if curve is not None:
        sock.curve_serverkey = curve.server_public
        sock.curve_publickey = curve.client_public
        sock.curve_secretkey = curve.client_secret
    return sock


class FeedSession:
    """The connector state of a ZeroMQ feed connector."""

    def __init__(self, connector: Connector, stats: FeedStats | None = None, *,
                 detached: bool = False,
                 resume: dict[str, dict[Any, tuple[int, Any]]] | None = None) -> None:
        self.connector = connector
        self.config: ZmqConfig = (
            _detached_config(connector.config) if detached else connector.config
        )
        self.stats = stats if stats is not None else FeedStats()
        self.label = self.config.feed_name or connector.name
        normalizers = {kind: load_normalizer(ref) for kind, ref in self.config.normalizers.items()}
        self.processor = FeedProcessor(connector, self.config, self.stats,
                                       normalizers=normalizers,
                                       request_snapshot=self._request_snapshot)
        #: Normalize one batch (what ``stockfish_normalize`` calls).
        self.normalize = self.processor.process
        self.ctx: zmq.Context[Any] | None = None
        self.sockets: dict[str, zmq.Socket[bytes]] = {}
        self.receiver: Receiver | None = None
        #: The worker process's link (``worker: true``), else None.
        self.worker: WorkerLink | None = None
        #: Per publisher, the sequence state a new worker starts from.
        self._resume = resume or {}
        self.snapshots: dict[str, SnapshotClient] = {}
        #: Publisher endpoint -> whether its connection is up (handshake done).
        self.up: dict[str, bool] = {}
        self.ever_connected = False
        self.closed = False
        self._actx: zmq.asyncio.Context | None = None
        self._monitors: list[zmq.asyncio.Socket] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stale: set[str] = set()
        #: Publisher endpoints whose last handshake failed.
        self._refused: set[str] = set()
        self._retry_checks: dict[str, asyncio.TimerHandle] = {}
        self._notices = RateLimitedLog(log, interval=30.0, burst=1)

    @property
    def streams(self) -> dict[str, Stream]:
        return self.processor.streams

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        connector, cfg = self.connector, self.config
        loop = asyncio.get_running_loop()
        connector.loop = connector.loop or loop
        curve = cfg.curve.resolve() if cfg.curve is not None else None
        self.ctx = ctx = zmq.Context()
        self._actx = zmq.asyncio.Context.shadow(ctx.underlying)
        connector.report_connecting(
            f"connecting to {', '.join(cfg.endpoints)}")
        if cfg.worker:
            for endpoint in cfg.endpoints:
                self.processor.add_stream(endpoint, None)
                self.up[endpoint] = False
            self.worker = WorkerLink(self, curve, self._resume)
            self.receiver = self.worker
            self.worker.start()
            self._started(cfg, curve)
            return
        pairs: list[tuple[zmq.Socket[bytes], Stream]] = []
        for index, endpoint in enumerate(cfg.endpoints):
            stream = self.processor.add_stream(endpoint, cfg.snapshot_for(endpoint))
            sock = sub_socket(ctx, cfg, curve)
            address = f"inproc://stockfish-zmq-monitor-{id(self):x}-{index}"
            sock.monitor(address, MONITORED)
            monitor = self._actx.socket(zmq.PAIR)
            monitor.connect(address)
            self._monitors.append(monitor)
            self._tasks.append(asyncio.ensure_future(self._watch(endpoint, monitor)))
            sock.connect(endpoint)
            if cfg.subscribe_all:
                sock.setsockopt(zmq.SUBSCRIBE, b"")
            elif cfg.bare_json:
                # A single-frame JSON message has no topic: it starts with "{". Without
                # this subscription a topic filter would hide such a feed entirely; the
                # processor keeps the subscribed symbols (exact matches) of it.
                sock.setsockopt(zmq.SUBSCRIBE, BARE_JSON_TOPIC)
            self.sockets[endpoint] = sock
            self.up[endpoint] = False
            pairs.append((sock, stream))
            if stream.snapshot_endpoint is not None:
                self.snapshots[endpoint] = SnapshotClient(
                    self.processor, stream, stream.snapshot_endpoint, self._actx, curve,
                    cfg.snapshot_timeout)
        self.receiver = make_receiver(cfg.receive_mode, ctx, loop, pairs, self._feed,
                                      cfg.batch_size, connector.name)
        self.receiver.start()
        self._started(cfg, curve)

    def _started(self, cfg: ZmqConfig, curve: CurveKeys | None) -> None:
        # The sockets are set up: ZeroMQ connects (and reconnects) by itself whenever a
        # publisher is there, so there is nothing to wait for. A feed whose publishers are
        # not up yet is connected and waiting for data; it goes stale (``staleness``)
        # like any silent feed, and the manager does not tear it down.
        self._update_status()
        if cfg.staleness is not None:
            self._tasks.append(asyncio.ensure_future(self._watch_staleness(cfg.staleness)))
        log.info("%s: subscribed to %s (receive mode %s, curve %s)", self.label,
                 ", ".join(cfg.endpoints), type(self.receiver).__name__,
                 "on" if curve else "off")

    def _feed(self, batch: FrameBatch) -> None:
        """One batch through normalize and the manager's delivery, with the cyclic
        garbage collector paused: the batch's updates are freed by reference counting
        when it is delivered, before any collection had to walk them (two tracked
        objects a message would otherwise start a young collection every 350 messages
        and promote the batch in flight to the older generations)."""
        if self.closed:
            return
        without_gc(self.connector.feed, batch)

    async def stop(self) -> None:
        """Close everything; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if self.receiver is not None:
            await self.receiver.stop()
        for client in self.snapshots.values():
            await client.close()
        for sock in self.sockets.values():
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
        for check in self._retry_checks.values():
            check.cancel()
        await cancel_and_wait(self._tasks)
        for monitor in self._monitors:
            monitor.close(linger=0)
        for sock in self.sockets.values():
            sock.close(linger=0)
        self.processor.close()
        if self.ctx is not None:
            self.ctx.destroy(linger=0)
        self.connector.report_closed("disconnected")

    # -- subscriptions ----------------------------------------------------------------
    def subscribe(self, subscription: Subscription) -> None:
        topic, kind = self._check(subscription)
        if self.worker is not None:
            self.worker.interest(topic, kind, subscription.depth, True)
        if self.processor.add_interest(topic, kind, subscription.depth):
            self._set_topic(topic, True)

    def unsubscribe(self, subscription: Subscription) -> None:
        topic, kind = self._check(subscription)
        if self.worker is not None:
            self.worker.interest(topic, kind, None, False)
        if self.processor.remove_interest(topic, kind):
            self._set_topic(topic, False)

    def _check(self, subscription: Subscription) -> tuple[str, str]:
        if self.closed or self.receiver is None:
            raise RuntimeError(f"zmq connector {self.connector.name!r} is not connected")
        kind = DATA_TYPE_KIND.get(subscription.data_type)
        if kind is None:
            raise ValueError(f"zmq connector cannot serve {subscription.data_type}")
        only = self.config.feed_type
        if only is not None and kind != only:
            raise ValueError(f"zmq connector {self.connector.name!r} carries only {only} "
                             f"messages (feed_type); cannot subscribe {subscription}")
        if not subscription.symbol:
            raise ValueError("a subscription needs a symbol (the topic it subscribes to)")
        return subscription.symbol, kind

    def _set_topic(self, topic: str, subscribe: bool) -> None:
        if self.config.subscribe_all or self.receiver is None:
            return
        data = topic.encode()
        if self.worker is not None:
            self.worker.set_topic(None, data, subscribe)
            return
        for sock in self.sockets.values():
            self.receiver.set_topic(sock, data, subscribe)

    def _request_snapshot(self, stream: Stream, symbol: str) -> None:
        client = self.snapshots.get(stream.name)
        if client is not None and not self.closed:
            client.request(symbol)

    # -- connection monitoring --------------------------------------------------------
    async def _watch(self, endpoint: str, monitor: zmq.asyncio.Socket) -> None:
        while True:
            frames = await monitor.recv_multipart()
            event = parse_monitor_message(frames)["event"]
            if event == zmq.EVENT_MONITOR_STOPPED:
                return
            self.on_monitor_event(endpoint, event)

    def on_monitor_event(self, endpoint: str, event: int) -> None:
        """A ZeroMQ monitor event of a publisher's connection (in this process, or
        reported by the worker process)."""
        if self.closed:
            return
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.up[endpoint] = True
            self._refused.discard(endpoint)
            self.ever_connected = True
            log.info("%s: connected to publisher %s", self.label, endpoint)
        elif event in _HANDSHAKE_FAILED:
            self._refused.add(endpoint)
            self._handshake_failed(endpoint, event)
        elif event == zmq.EVENT_DISCONNECTED and self.up.get(endpoint):
            self.up[endpoint] = False
            self.stats.disconnects += 1
            message = (f"{self.label}: publisher {endpoint} went away; reconnecting")
            log.warning("%s", message)
            self.connector.report_error(message, code="disconnected")
            self._retry_checks[endpoint] = asyncio.get_event_loop().call_later(
                _RETRY_GRACE, self._force_reconnect, endpoint)
        elif event == zmq.EVENT_CONNECT_RETRIED:
            check = self._retry_checks.pop(endpoint, None)
            if check is not None:
                check.cancel()
        self._update_status()

    def _force_reconnect(self, endpoint: str) -> None:
        self._retry_checks.pop(endpoint, None)
        if self.receiver is not None and not self.closed and not self.up.get(endpoint):
            log.warning("%s: ZeroMQ gave up on %s (a protocol error, such as a message over "
                        "max_message_size); connecting again", self.label, endpoint)
            if self.worker is not None:
                self.worker.reconnect(None, endpoint)
            else:
                self.receiver.reconnect(self.sockets[endpoint], endpoint)

    def worker_lost(self, reason: str) -> None:
        """The worker process ended by itself: a lost connection (the core reconnects,
        and the new worker starts from the sequence state the lost one last sent)."""
        if self.closed:
            return
        self.stats.worker_restarts += 1
        for endpoint in self.up:
            self.up[endpoint] = False
        self.connector.report_lost(reason)

    @property
    def resume_state(self) -> dict[str, dict[Any, tuple[int, Any]]]:
        """Per publisher, the sequence state a worker started after this session's
        starts from (empty without a worker)."""
        return self.worker.resume if self.worker is not None else {}

    def _handshake_failed(self, endpoint: str, event: int) -> None:
        self.stats.handshake_failures += 1
        if self.config.curve is not None:
            hint = ("check curve.server_key against the publisher's public key, and that the "
                    "publisher uses CURVE and accepts this client's key")
        else:
            hint = "the publisher may require CURVE (configure the curve section)"
        message = (f"{self.label}: handshake with publisher {endpoint} failed "
                   f"({zmq.Event(event).name}); nothing is received from it: {hint}")
        if self._notices.log(logging.ERROR, "handshake:" + endpoint, "%s", message):
            self.connector.report_error(message, code="handshake_failed")

    def _update_status(self) -> None:
        if self.closed:
            return
        try:
            self._report_status()
        finally:
            if self.worker is not None:
                self.worker.forward_interruptions()

    def _report_status(self) -> None:
        connected = sum(self.up.values())
        total = len(self.up)
        if connected:
            self.connector.report_connected(
                f"{connected} of {total} publishers connected")
        elif self.ever_connected:
            # A loss that ZeroMQ repairs by itself: RECONNECTING tells the manager to wait
            # for CONNECTED rather than tear the session down.
            self.connector.report_reconnecting(
                "every publisher went away; ZeroMQ is reconnecting")
        elif self._refused and self._refused >= set(self.up):
            # Every publisher refused the handshake: not a feed that waits for data.
            self.connector.report_connecting(
                "the handshake failed with every publisher "
                "(see the handshake_failed error)")
        else:
            self.connector.report_connected(
                "waiting for data: no publisher is up yet "
                f"({', '.join(self.up)}); ZeroMQ connects when one is")

    async def _watch_staleness(self, staleness: float) -> None:
        limit_ns = int(staleness * 1e9)
        started = now_ns()
        while True:
            await asyncio.sleep(staleness / 2)
            now = now_ns()
            for name, stream in self.streams.items():
                last = stream.last_recv_ns or started
                if now - last > limit_ns:
                    if name not in self._stale:
                        self._stale.add(name)
                        message = (f"{self.label}: no message from {name} for "
                                   f"{(now - last) / 1e9:.1f}s (stale feed)")
                        log.warning("%s", message)
                        self.connector.report_error(message, code="stale")
                elif name in self._stale:
                    self._stale.discard(name)
                    log.info("%s: %s is sending again", self.label, name)

    def describe(self) -> dict[str, Any]:
        """A snapshot of the session for status displays."""
        return {
            "endpoints": dict(self.up),
            "stats": self.stats.as_dict(),
            "stale": sorted(self._stale),
            "time": time.time(),
        }
