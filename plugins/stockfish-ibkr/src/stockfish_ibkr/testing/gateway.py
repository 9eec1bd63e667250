"""A TWS / IB Gateway simulator that ib_insync and ib_async connect to unchanged.

::

    async with GatewaySimulator(port=0) as gw:      # 127.0.0.1, a free port
        ib = IB()
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1)

The server speaks the TWS socket protocol at server version 176. Behind it a
:class:`~stockfish_ibkr.testing.broker.SimBroker` moves the markets and matches orders;
it survives :meth:`GatewaySimulator.stop` and :meth:`GatewaySimulator.start`, so orders,
executions and order ids persist across a gateway restart and resting orders fill while
no client is connected. Tests steer the rest: connectivity loss (1100/1101/1102), data
farm notices (2103-2106), a handshake that never answers (connect timeouts), and the
pacing limit (error 100 above 50 messages per second).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

from stockfish_core.sim.market import MarketStep
from stockfish_core.testing import wait_until

from .broker import SimBroker
from .feeds import MarketDataRequests
from .instruments import Instrument
from .session import Session
from .state import SimExecution, SimOrder
from .wire import SERVER_VERSION, FrameBuffer, HandshakeError, encode, parse_versions

__all__ = ["GatewaySimulator"]

log = logging.getLogger("stockfish.ibkr.gateway")



class GatewaySimulator:
    """A simulated TWS listening on ``host:port`` (127.0.0.1 and a free port by default)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        broker: SimBroker | None = None,
        pacing_limit: int = 50,
        realtime_bar_seconds: float = 5.0,
        **broker_options: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.broker = broker if broker is not None else SimBroker(**broker_options)
        #: Messages per second a client may send before error 100.
        self.pacing_limit = pacing_limit
        #: Arrival-time jitter forgiven when counting messages per second.
        self.pacing_jitter = 0.02
        #: Wall-clock seconds between real-time bars (each bar is stamped 5 s later).
        self.realtime_bar_seconds = realtime_bar_seconds
        self.hist_identical_window = 15.0
        self.hist_burst_window = 2.0
        self.hist_burst_max = 5
        self.hist_window = 600.0
        self.hist_max = 60
        #: Accept connections but never answer the handshake (connect-timeout tests).
        self.stall_handshake = False
        #: Benchmarks: every new market-data subscription gets this many market steps at
        #: once (after its snapshot), ending with a last size of BURST_END_SIZE. Bursts are
        #: built when the subscription arrives and written together ``burst_delay``
        #: seconds after the last one, so a client measures its own speed, not ours.
        self.burst = 0
        self.burst_delay = 0.5
        #: Benchmarks: serve the stream request (``feeds.stream_request``), with which a
        #: client asks for N ticks over its market-data subscriptions, each one written
        #: on its own once the client has handled the one before (credit-based flow
        #: control: one tick per read, as fast as the client keeps up, nothing
        #: coalesced). Off, the request is unknown, as it is to TWS.
        self.stream = False
        self._bursts: list[tuple[MarketDataRequests, bytes]] = []
        self._burst_timer: asyncio.TimerHandle | None = None
        self.link_up = True
        self.market_farm_ok = True
        self.hmds_farm_ok = True
        self.sessions: dict[int, Session] = {}
        # What happened, for tests to assert on.
        self.pacing_violations = 0
        self.historical_pacing_violations = 0
        self.historical_requests = 0
        self.max_rate_seen = 0
        self.message_counts: Counter[int] = Counter()
        self.errors_sent: list[tuple[int | None, int, int]] = []
        self.connections = 0
        self._changed: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[Session] = set()
        self._bars_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "listening" if self.is_serving else "stopped"
        return f"<GatewaySimulator {self.host}:{self.port} {state}, {len(self.sessions)} clients>"

    # -- lifecycle -------------------------------------------------------------------
    @property
    def is_serving(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen (again, on the same port after a stop) and run the market."""
        if self._server is not None:
            return
        if self not in self.broker.listeners:
            self.broker.listeners.append(self)
        self.broker.start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Protocol(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._bars_task = loop.create_task(self._realtime_bars())
        log.info("gateway simulator listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and drop every client; the back end keeps running."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self._conns):
            session.close()
        await server.wait_closed()
        task, self._bars_task = self._bars_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        log.info("gateway simulator on port %s stopped", self.port)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def close(self) -> None:
        """Stop the gateway and its market."""
        await self.stop()
        await self.broker.stop()
        if self in self.broker.listeners:
            self.broker.listeners.remove(self)

    async def __aenter__(self) -> GatewaySimulator:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # -- connections -----------------------------------------------------------------
    def _connection_made(self, session: Session) -> None:
        self._conns.add(session)
        self.connections += 1
        self.poke()

    def _connection_lost(self, session: Session) -> None:
        self._conns.discard(session)
        if session.client_id is not None and self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
        session.release()
        self.poke()

    def _handshake(self, session: Session, payload: bytes) -> bool:
        """Answer the client's version range; False to go silent (stalled handshake)."""
        low, high, _options = parse_versions(payload)
        if self.stall_handshake:
            return False
        if not low <= SERVER_VERSION <= high:
            raise HandshakeError(f"client versions v{low}..{high} exclude {SERVER_VERSION}")
        stamp = time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime())
        session.transport.write(encode([SERVER_VERSION, stamp]))
        return True

    def farm_notices(self) -> list[tuple[int, str]]:
        """The notices a client gets after connecting, reflecting the current state."""
        if not self.link_up:
            return [(1100, "Connectivity between IB and Trader Workstation has been lost.")]
        return [
            (2104, "Market data farm connection is OK:usfarm") if self.market_farm_ok
            else (2103, "Market data farm connection is broken:usfarm"),
            (2106, "HMDS data farm connection is OK:ushmds") if self.hmds_farm_ok
            else (2105, "HMDS data farm connection is broken:ushmds"),
            (2158, "Sec-def data farm connection is OK:secdefnj"),
        ]

    # -- broker events -----------------------------------------------------------------
    def on_market(self, instrument: Instrument, step: MarketStep) -> None:
        if not (self.link_up and self.market_farm_ok):
            return
        for session in list(self.sessions.values()):
            session.on_market(instrument, step)

    def on_order(self, order: SimOrder, execution: SimExecution | None,
                 error: tuple[int, str] | None) -> None:
        if not self.link_up:
            return
        for session in list(self.sessions.values()):
            if session.client_id in (order.client_id, 0):
                session.on_order(order, execution, error)
        if execution is not None:
            for account, inst, qty, cost in self.broker.position_rows():
                if account == order.account and inst.con_id == order.instrument.con_id:
                    for session in list(self.sessions.values()):
                        session.on_position(account, inst, qty, cost)
                        session.on_portfolio(account, inst, qty, cost)

    async def _realtime_bars(self) -> None:
        epoch = int(time.time())
        epoch -= epoch % 5
        while True:
            await asyncio.sleep(self.realtime_bar_seconds)
            epoch += 5
            if not (self.link_up and self.market_farm_ok):
                continue
            for session in list(self.sessions.values()):
                session.emit_realtime_bars(epoch)

    def hold_burst(self, session: MarketDataRequests, messages: list[list[Any]]) -> None:
        self._bursts.append((session, b"".join(encode(m) for m in messages)))
        if self._burst_timer is not None:
            self._burst_timer.cancel()
        loop = asyncio.get_running_loop()
        self._burst_timer = loop.call_later(self.burst_delay, self._release_bursts)

    def _release_bursts(self) -> None:
        self._burst_timer = None
        bursts, self._bursts = self._bursts, []
        for session, data in bursts:
            if not session.transport.is_closing():
                session.transport.write(data)

    # -- what tests steer ----------------------------------------------------------------
    def poke(self) -> None:
        """Wake :meth:`wait_for` (called after every message the gateway handles)."""
        if self._changed is not None:
            self._changed.set()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0,
                       what: str = "a condition") -> Any:
        """Wait until ``predicate()`` holds, waking whenever a client message is handled
        or a connection opens or closes."""
        if self._changed is None:
            self._changed = asyncio.Event()
        return await wait_until(predicate, self._changed, timeout, what)

    def _notice_all(self, code: int, message: str) -> None:
        for session in list(self.sessions.values()):
            session.error(-1, code, message)

    def connectivity_lost(self) -> None:
        """TWS lost its link to IB (1100): no data, no order events until restored."""
        self.link_up = False
        self._notice_all(1100, "Connectivity between IB and Trader Workstation has been lost.")

    def connectivity_restored(self, *, data_lost: bool) -> None:
        """1101 (market-data subscriptions dropped: clients must resubscribe) or 1102."""
        self.link_up = True
        if data_lost:
            for session in list(self.sessions.values()):
                session.release()
            self._notice_all(1101, "Connectivity between IB and Trader Workstation has been "
                                   "restored - data lost.")
        else:
            self._notice_all(1102, "Connectivity between IB and Trader Workstation has been "
                                   "restored - data maintained.")

    def set_market_farm(self, ok: bool) -> None:
        self.market_farm_ok = ok
        if ok:
            self._notice_all(2104, "Market data farm connection is OK:usfarm")
        else:
            self._notice_all(2103, "Market data farm connection is broken:usfarm")

    def set_hmds_farm(self, ok: bool) -> None:
        self.hmds_farm_ok = ok
        if ok:
            self._notice_all(2106, "HMDS data farm connection is OK:ushmds")
        else:
            self._notice_all(2105, "HMDS data farm connection is broken:ushmds")

    def drop_client(self, client_id: int) -> bool:
        """Close one client's connection (as a network failure would)."""
        session = self.sessions.get(client_id)
        if session is None:
            return False
        session.close()
        return True

    def instrument(self, key: str) -> Instrument:
        """An instrument by key: ``AAPL``, ``EUR.USD``, ``ESZ5``, ``ES 20251219``."""
        return self.broker.instruments.by_key(key)


class _Protocol(asyncio.Protocol):
    """One client connection: frames and timestamps messages as they arrive."""

    def __init__(self, gateway: GatewaySimulator) -> None:
        self.gateway = gateway
        self.frames = FrameBuffer()
        self.session: Session | None = None
        self.stage = "handshake"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.session = Session(self.gateway, transport)
        self.gateway._connection_made(self.session)

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None or self.stage == "silent":
            return
        arrived = time.monotonic()
        try:
            for item in self.frames.feed(data):
                if isinstance(item, bytes):
                    self.stage = "start" if self.gateway._handshake(session, item) else "silent"
                    if self.stage == "silent":
                        return
                elif self.stage == "start":
                    if not item or item[0] != "71":
                        raise HandshakeError(f"expected startApi (71), got {item[:1]}")
                    if not session.start_api(item):
                        session.close()
                        self.stage = "silent"
                        return
                    self.stage = "running"
                elif item:
                    session.handle(item, arrived)
            self.gateway.poke()
        except HandshakeError as exc:
            log.warning("gateway simulator: dropping a connection: %s", exc)
            session.close()
            self.stage = "silent"
        except Exception:
            log.exception("gateway simulator: session of client %s failed", session.client_id)
            session.close()
            self.stage = "silent"

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.gateway._connection_lost(self.session)
