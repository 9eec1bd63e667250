"""One connector's FIX session: the QuickFIX initiator's life, and what comes back.

:class:`FixSession` lives in ``connector.state`` from the first connect on, and survives a
disconnect so that orders still in flight are known when the session is back. Each
connection attempt builds a QuickFIX ``SocketInitiator`` from the generated settings and
waits for the Logon reply; :meth:`FixSession.close` logs out, stops the initiator and
drops every QuickFIX object (a ``Session`` pointer is never kept: it dies with its
initiator).

Status: CONNECTING while the first attempt runs; CONNECTED with the Logon; ERROR with the
counterparty's reason when it refuses the Logon; RECONNECTING (``reconnect: session``) or
DISCONNECTED (``reconnect: manager``) when a session is lost. A TestRequest sent to a
silent counterparty is reported as CONNECTED with that reason, until it answers.

After a reconnect (by the manager, or by the session itself with ``reconnect: session``)
the core subscribes again and asks for the state of its open orders: the session keeps no
subscription across a lost session and reconciles nothing itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from typing import Any

import quickfix

from stockfish_core.plugin_api import (
    Connector,
    OrderRejected,
    StockfishError,
    Subscription,
    VenueUnavailable,
    cancel_and_wait,
)

from . import application as app
from .config import FixConfig, ReconnectMode, StoreKind
from .marketdata import MarketData, MdSubscription
from .messages import field, flat, msg_type, new_message
from .orders import (
    BUSINESS_REJECT_REASONS,
    SESSION_REJECT_REASONS,
    ExecutionHandler,
    describe,
)
from .positions import VenueStateRequests
from .requests import MD_ENTRY_TYPES, market_data_request, status_request
from .settings import QuickFixSettings, initiator_settings
from .storage import StorageError, private_directories, private_files
from .tracking import OrderTracker, TrackedOrder

__all__ = ["FixSession", "FixSessionError", "LogonRejected", "LogonTimeout"]

log = logging.getLogger("stockfish.fix")

MD_REJECT_REASONS = {
    "0": "unknown symbol", "1": "duplicate MDReqID", "2": "insufficient bandwidth",
    "3": "insufficient permissions", "4": "unsupported SubscriptionRequestType",
    "5": "unsupported MarketDepth", "6": "unsupported MDUpdateType",
    "8": "unsupported MDEntryType",
}


class FixSessionError(StockfishError):
    """The FIX session could not be established."""


class LogonRejected(FixSessionError):
    """The counterparty answered our Logon with a Logout."""


class LogonTimeout(FixSessionError, TimeoutError):
    """No Logon reply in time (nobody listening, wrong address, or a silent peer)."""


#: Seconds a graceful stop waits for the counterparty's Logout: QuickFIX's timer tick (1s)
#: plus its LogoutTimeout (2s).
LOGOUT_WAIT = 3.0
#: At most this many ClOrdIDs are remembered as asked about (OrderStatusRequest) between
#: logons: beyond it, those of orders acknowledged, final or no longer followed go first,
#: then the oldest. Forgetting one costs at most a second status request, never an order.
ASKED_LIMIT = 4_096


def _run_initiator(initiator: Any, name: str) -> threading.Thread:
    """Run the initiator's network loop (``block()``) on a Python thread of ours.

    ``initiator.start()`` would run it on a thread QuickFIX creates, which Python does not
    know: every callback from there would then create a Python thread state and drop it
    again (with the 16 KiB frame stack it maps and unmaps), twice per order round trip.
    A Python thread keeps its one thread state.

    The target is the binding's C function, not the ``Initiator.block`` wrapper: quickfix
    keeps (leaks) the traceback of a DoNotSend raised in toApp, and through it the Python
    frames under the callback. The wrapper's frame would hold the initiator, and with it
    the session, which could then never be registered again in this process."""
    thread = threading.Thread(target=quickfix._quickfix.Initiator_block, args=(initiator,),
                              name=f"stockfish-fix-{name}", daemon=True)
    thread.start()
    return thread


async def _stop_off_loop(initiator: Any, thread: threading.Thread | None, name: str,
                         logout: threading.Event | None = None) -> None:
    """``initiator.stop(True)``, then the end of its network loop's thread, waited for on a
    thread of its own (the network loop's callbacks need the manager's loop), holding no
    reference to the initiator once done.

    With ``logout`` (set when the counterparty's Logout arrives), the thread waits for it
    first, up to LOGOUT_WAIT: stopping earlier would leave that Logout unread. QuickFIX's
    thread waits in the application's fromAdmin until the stop has begun (see
    ``FixApplication.stopped``): it then ends the session and stops at once, rather than
    at its next timer tick."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def stop() -> None:
        try:
            if logout is not None and not logout.wait(LOGOUT_WAIT):
                log.warning("%s: no Logout reply within %gs; disconnecting anyway", name,
                            LOGOUT_WAIT)
            initiator.stop(True)
            if thread is not None:
                thread.join()
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                loop.call_soon_threadsafe(done.set_result, None)

    stopper = threading.Thread(target=stop, name=f"stockfish-fix-stop-{name}", daemon=True)
    stopper.start()
    await done
    stopper.join()


class FixSession:
    """The QuickFIX initiator of one connector and the state around it."""

    def __init__(self, connector: Connector, config: FixConfig) -> None:
        self.connector = connector
        self.config = config
        self.name = connector.name
        #: The QuickFIX settings, generated at the first connect.
        self.settings: QuickFixSettings | None = None
        self.session_id = quickfix.SessionID(
            config.begin_string, config.sender_comp_id, config.target_comp_id
        )
        self.tracker = OrderTracker()
        self.market = MarketData(connector.name)
        self.executions = ExecutionHandler(connector, self.tracker)
        self.venue_state = VenueStateRequests(self)
        self.logged_on = False
        self._initiator: Any = None
        self._thread: threading.Thread | None = None
        self._application: app.FixApplication | None = None
        self._inbox: app.Inbox | None = None
        self._logon_waiter: asyncio.Future[None] | None = None
        #: ClOrdIDs asked about (OrderStatusRequest) since the last logon, oldest first,
        #: at most ``asked_limit`` of them (see :data:`ASKED_LIMIT`).
        self._asked: dict[str, None] = {}
        self.asked_limit = ASKED_LIMIT
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closing = False
        self._logout_reason = ""
        self._probing = False
        #: The ResendRequest of ours being watched: (TestReqID of its probe, expected target
        #: MsgSeqNum when last checked), and the timer of the next check.
        self._resend: tuple[str, int] | None = None
        self._resend_timer: asyncio.TimerHandle | None = None
        self._resend_probes = 0
        #: ResendRequests left unanswered for resend_timeout (each reported as a loss).
        self.stuck_resends = 0

    @property
    def peer(self) -> str:
        return f"{self.config.target_comp_id} at {self.config.host}:{self.config.port}"

    # -- lifecycle -----------------------------------------------------------------------
    async def open(self) -> None:
        """Connect and log on; raise LogonRejected / LogonTimeout if that fails."""
        self._closing = False
        await self._stop_initiator(graceful=False)  # a previous session, if still there
        self.connector.report_connecting(f"logging on to {self.peer}")
        try:
            await self._attempt()
        except LogonRejected as exc:
            self.connector.report_failed(str(exc))
            raise
        except FixSessionError as exc:
            self.connector.report_lost(str(exc))
            raise
        except Exception as exc:  # QuickFIX refusing its settings, a missing dictionary...
            self.connector.report_failed(
                f"cannot start the FIX session: {exc}")
            raise

    async def close(self) -> None:
        """Log out and release QuickFIX; safe to call at any time, more than once."""
        self._closing = True
        self._resend_answered()
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and task is not asyncio.current_task():
            await cancel_and_wait([task])
        await self._stop_initiator(graceful=True)
        if self.config.reconnect is ReconnectMode.MANAGER:
            # The manager subscribes again after it reconnects.
            self.market.clear()
        self.connector.report_closed("disconnected on request")

    async def _attempt(self) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._logon_waiter = waiter
        self._start_initiator()
        try:
            await asyncio.wait_for(waiter, self.config.logon_timeout)
        except asyncio.TimeoutError:
            await self._stop_initiator(graceful=False)
            raise LogonTimeout(
                f"no Logon reply from {self.peer} within {self.config.logon_timeout:g}s; is "
                "the counterparty up, and are host, port and CompIDs right?"
            ) from None
        except BaseException:
            await self._stop_initiator(graceful=False)
            raise
        finally:
            self._logon_waiter = None

    def _start_initiator(self) -> None:
        if quickfix.Session.doesSessionExist(self.session_id):
            gc.collect()  # an initiator of ours that is stopped but not yet freed
            if quickfix.Session.doesSessionExist(self.session_id):
                raise FixSessionError(
                    f"a FIX session {self.session_id.toString()} already exists in this "
                    "process; two connectors cannot share BeginString, SenderCompID and "
                    "TargetCompID"
                )
        first = self.settings is None
        if self.settings is None:
            self.settings = initiator_settings(self.config, self.name)
        try:
            directories = private_directories(
                self.settings, credentials=bool(self.config.logon_values()), name=self.name,
                warn=first)
        except StorageError as exc:
            raise FixSessionError(str(exc)) from exc
        settings = self.settings.session_settings()
        if self.config.store is StoreKind.FILE:
            store = quickfix.FileStoreFactory(settings)
        else:
            store = quickfix.MemoryStoreFactory()
        logs = quickfix.FileLogFactory(settings) if self.config.log_path else None
        inbox = app.Inbox(self.connector.call_soon_threadsafe, self._on_events)
        application = app.FixApplication(
            inbox, self.config.logon_values(), resend_orders=self.config.resend_orders,
            record_sent=self.tracker.sent, name=self.name,
        )
        initiator = quickfix.SocketInitiator(application, store, settings, logs)
        # Its files exist now, and nothing is written to them before the thread starts.
        cfg = self.config
        private_files(directories, f"{cfg.begin_string}-{cfg.sender_comp_id}-"
                                   f"{cfg.target_comp_id}", self.name)
        self._inbox = inbox
        self._application = application
        self._initiator = initiator
        self._thread = _run_initiator(initiator, self.name)

    async def _stop_initiator(self, *, graceful: bool) -> None:
        initiator, self._initiator = self._initiator, None
        thread, self._thread = self._thread, None
        if initiator is None:
            return
        application, self._application = self._application, None
        logout = None
        if graceful and self.logged_on and application is not None:
            application.stopped = initiator.isStopped
            if self._log_out():
                logout = application.logout_received
        try:
            await _stop_off_loop(initiator, thread, self.name, logout)
        finally:
            if application is not None:
                application.stopped = None  # no reference to the initiator is left
        del application
        del initiator  # the last reference: QuickFIX's Session goes with it
        inbox, self._inbox = self._inbox, None
        if inbox is not None:
            inbox.drain()  # the last events (the Logout) before the inbox goes quiet
            inbox.closed = True
        self.logged_on = False

    def _log_out(self) -> bool:
        """Have QuickFIX log out, before it is stopped; False if the session is gone.

        QuickFIX must send the Logout itself: a Logout of ours would leave it answering the
        counterparty's reply with one more Logout, and reconnecting, both after the
        counterparty hung up, so that it would ask for those messages again at the next
        logon. ``Session.logout`` has QuickFIX send it the next time it looks at the
        session: at its once-a-second timer, or right after any message it receives. A
        TestRequest is answered at once, so the Logout leaves without waiting for the
        timer."""
        session = quickfix.Session.lookupSession(self.session_id)
        if session is None or not session.isLoggedOn():
            return False
        session.logout("client disconnecting")
        with contextlib.suppress(quickfix.SessionNotFound):
            quickfix.Session.sendToTarget(
                new_message(quickfix, "1", [(112, app.LOGOUT_PROBE)]), self.session_id)
        return True

    # -- events from QuickFIX -----------------------------------------------------------
    def _on_events(self, events: list[app.Event]) -> None:
        market: list[tuple[int, str]] = []
        for kind, recv_ns, payload in events:
            try:
                if kind == app.APP:
                    mtype = msg_type(payload)
                    if mtype == "W" or mtype == "X":
                        market.append((recv_ns, payload))
                        continue
                    if market:
                        self.connector.feed(market)
                        market = []
                    self._on_app(mtype, payload, recv_ns)
                elif kind == app.ADMIN:
                    self._on_admin(payload)
                elif kind == app.LOGON:
                    self._on_logon()
                elif kind == app.LOGOUT:
                    self._on_logout()
                elif kind == app.REJECTED:
                    self._on_rejected(payload)
                elif kind == app.SKIPPED:
                    self._on_skipped(payload)
                elif kind == app.RESEND:
                    self._on_resend_requested(payload)
                elif kind == app.REFUSED:
                    self._on_refused_inbound(payload)
                elif kind == app.PROBE:
                    self._probing = True
                    self.connector.report_connected(
                        f"{self.peer} silent for over {self.config.heartbeat_interval}s; "
                        "TestRequest sent",
                    )
            except Exception:
                log.exception("%s: failed to handle %s event %r", self.name, kind, payload[:200])
                self.connector.report_error(f"failed to handle a {kind} message from "
                                            f"{self.peer}: {payload[:200]!r}", data=True)
        if market:
            self.connector.feed(market)

    def _on_logon(self) -> None:
        self.logged_on = True
        self._probing = False
        self._asked.clear()
        self.connector.report_connected(self._logged_on_text())
        waiter = self._logon_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        # After a reconnect, the core subscribes again and asks for the state of its open
        # orders (it owns resubscription and reconciliation), in either reconnect mode.

    def _logged_on_text(self) -> str:
        cfg = self.config
        return f"logged on to {self.peer} as {cfg.sender_comp_id} ({cfg.begin_string})"

    # -- a ResendRequest of ours, until it is answered ----------------------------------
    def _on_resend_requested(self, raw: str) -> None:
        """QuickFIX asked the counterparty to resend from BeginSeqNo (7), and queues every
        later message until the gap is filled. A TestRequest follows it: the Heartbeat
        that answers it is processed only once nothing is queued before it. The check
        after ``resend_timeout`` reports the session lost if no message was processed
        since (the expected target MsgSeqNum did not move)."""
        if self._resend is not None:
            return  # the one being watched covers this one: its probe comes after both
        self._resend_probes += 1
        probe = f"{app.RESEND_PROBE}{self._resend_probes}"
        self._resend = (probe, self._expected_target())
        log.info("%s: asked %s to resend from MsgSeqNum %s; later messages wait for it",
                 self.name, self.peer, field(raw, "7") or "?")
        with contextlib.suppress(quickfix.SessionNotFound):
            quickfix.Session.sendToTarget(new_message(quickfix, "1", [(112, probe)]),
                                          self.session_id)
        self._schedule_resend_check()

    def _schedule_resend_check(self) -> None:
        if self._resend_timer is not None:
            self._resend_timer.cancel()
        self._resend_timer = asyncio.get_running_loop().call_later(
            self.config.resend_timeout, self._check_resend)

    def _expected_target(self) -> int:
        session = quickfix.Session.lookupSession(self.session_id)
        return int(session.getExpectedTargetNum()) if session is not None else 0

    def _resend_answered(self) -> None:
        self._resend = None
        if self._resend_timer is not None:
            self._resend_timer.cancel()
            self._resend_timer = None

    def _check_resend(self) -> None:
        self._resend_timer = None
        watched = self._resend
        if watched is None or not self.logged_on or self._closing:
            self._resend = None
            return
        probe, target = watched
        now = self._expected_target()
        if now != target:  # messages are being processed: the answer is under way
            self._resend = (probe, now)
            self._schedule_resend_check()
            return
        self._resend = None
        self.stuck_resends += 1
        reason = (f"{self.peer} left our ResendRequest unanswered for "
                  f"{self.config.resend_timeout:g}s; its later messages are held back "
                  f"(expecting MsgSeqNum {now})")
        self.connector.report_error(reason, code="resend-unanswered")
        self.logged_on = False  # the Logout that follows is ours, not a second loss
        self._lost(reason)

    def _on_logout(self) -> None:
        self._resend_answered()
        was_logged_on, self.logged_on = self.logged_on, False
        if self._closing or not was_logged_on:
            return
        reason = f"session with {self.peer} lost"
        if self._logout_reason:
            reason += f": {self._logout_reason}"
        self._logout_reason = ""
        self._lost(reason)

    def _lost(self, reason: str) -> None:
        session = quickfix.Session.lookupSession(self.session_id)
        if session is not None:
            session.logout()  # QuickFIX does not reconnect by itself; we decide when
        # The counterparty forgets the subscriptions with the session: the core subscribes
        # again once it is back, and each is then a new one (new MDReqID, new stream).
        self.market.clear()
        if self.config.reconnect is ReconnectMode.MANAGER:
            log.warning("%s: %s; the manager reconnects", self.name, reason)
            self.connector.report_lost(reason)
            return
        log.warning("%s: %s; reconnecting", self.name, reason)
        self.connector.report_reconnecting(reason)
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    def _on_rejected(self, text: str) -> None:
        reason = f"logon rejected by {self.peer}: {text}"
        log.error("%s: %s", self.name, reason)
        waiter = self._logon_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(LogonRejected(reason))
        else:
            self.connector.report_failed(reason)

    async def _reconnect(self) -> None:
        """Reconnect with exponential backoff until logged on or closed."""
        cfg = self.config
        delay = cfg.reconnect_initial_delay
        attempt = 0
        while not self._closing:
            await self._stop_initiator(graceful=False)
            await asyncio.sleep(delay)
            if self._closing:
                return
            attempt += 1
            try:
                await self._attempt()
                return
            except LogonRejected as exc:
                # Credentials do not fix themselves: try again, but only at the slowest pace.
                delay = cfg.reconnect_max_delay
                self.connector.report_failed(
                    f"{exc}; attempt {attempt} failed, next in {delay:g}s")
                continue
            except FixSessionError as exc:
                log.warning("%s: %s", self.name, exc)
            except Exception as exc:
                log.exception("%s: reconnect attempt failed", self.name)
                self.connector.report_error(f"reconnect attempt failed: {exc!r}")
            delay = min(delay * 2, cfg.reconnect_max_delay)
            self.connector.report_reconnecting(
                f"{self.peer} unreachable; attempt {attempt} failed, next in {delay:g}s")

    def _on_skipped(self, raw: str) -> None:
        """An order message QuickFIX was asked to resend and did not (``resend_orders``
        off): the counterparty never took it, and it is gap-filled. A new order is asked
        about (the answer settles it); a cancel or replace is reported as not done."""
        mtype, cl_ord_id = msg_type(raw), field(raw, "11")
        tracked = self.tracker.resolve(cl_ord_id)
        if tracked is None or tracked.status.is_final:
            return
        if mtype != "D":
            self.executions.refused(
                "the connector", mtype, cl_ord_id,
                f"{self.peer} asked for it again after a sequence gap, and order messages "
                "are not resent (resend_orders: false); send it again if it still applies")
        elif not tracked.acknowledged and tracked.fix_id not in self._asked:
            with contextlib.suppress(VenueUnavailable):  # lost again: the next logon asks
                self.ask_status(tracked)

    def ask_status(self, tracked: TrackedOrder) -> None:
        """Send an OrderStatusRequest (H) for an order."""
        self._note_asked(tracked.fix_id)
        self.send("H", status_request(tracked))

    def _note_asked(self, fix_id: str) -> None:
        asked = self._asked
        asked.pop(fix_id, None)
        asked[fix_id] = None
        if len(asked) <= self.asked_limit:
            return
        # Only an order not yet acknowledged is ever looked up here (_on_skipped).
        resolve = self.tracker.resolve
        for key in list(asked):
            tracked = resolve(key)
            if tracked is None or tracked.acknowledged or tracked.status.is_final:
                del asked[key]
        # Still full of live orders: the oldest go, down to three quarters of the limit,
        # so that the scan above runs once per quarter of the limit at most.
        keep = self.asked_limit * 3 // 4
        while len(asked) > keep:
            del asked[next(iter(asked))]

    # -- messages -----------------------------------------------------------------------
    def _on_app(self, mtype: str, raw: str, recv_ns: int) -> None:
        if mtype == "8":
            self.executions.execution_report(flat(raw), recv_ns)
        elif mtype == "9":
            self.executions.cancel_reject(flat(raw), recv_ns)
        elif mtype == "Y":
            self._on_md_reject(flat(raw))
        elif mtype == "j":
            self._on_business_reject(flat(raw))
        elif mtype == "AO":
            self.venue_state.on_ack(raw)
        elif mtype == "AP":
            self.venue_state.on_report(raw)
        elif mtype == "d":
            self.venue_state.on_definition(raw)
        else:
            log.debug("%s: ignored message type %s from %s", self.name, mtype, self.peer)

    def _on_admin(self, raw: str) -> None:
        mtype = msg_type(raw)
        f = flat(raw)
        if mtype == "5":
            self._logout_reason = f.get("58", "")
        elif mtype == "0":
            if self._resend is not None and f.get("112") == self._resend[0]:
                log.info("%s: the resend from %s is complete", self.name, self.peer)
                self._resend_answered()
            if self._probing:
                self._probing = False
                self.connector.report_connected(self._logged_on_text())
        elif mtype == "3":
            self._on_session_reject(f)

    def _on_refused_inbound(self, raw: str) -> None:
        """QuickFIX refused a message of the counterparty's (a session Reject went back:
        a wrong type, a missing field, an unknown MsgType...): counted as a bad message."""
        f = flat(raw)
        code = f.get("373", "")
        reason = describe(f.get("58"), code or None, SESSION_REJECT_REASONS,
                          "SessionRejectReason")
        if f.get("371"):
            reason += f" (tag {f['371']})"
        what = f"MsgType {f['372']}" if f.get("372") else "a message"
        self.connector.report_error(
            f"refused {what} (MsgSeqNum {f.get('45', '?')}) from {self.peer}: {reason}",
            code=f"3-sent:{code}" if code else "3-sent", data=True)

    def _on_md_reject(self, f: dict[str, str]) -> None:
        md_req_id = f.get("262", "")
        sub = self.market.drop(md_req_id)
        symbol = sub.symbol if sub is not None else None
        code = f.get("281")
        why = describe(f.get("58"), code, MD_REJECT_REASONS, "MDReqRejReason")
        what = f"{sub.subscription}" if sub is not None else f"MDReqID {md_req_id}"
        self.connector.report_error(
            f"market data request for {what} rejected by {self.peer}: {why}",
            symbol=symbol, code=f"Y:{code}" if code else "Y",
            )

    def _on_business_reject(self, f: dict[str, str]) -> None:
        ref_type = f.get("372", "")
        code = f.get("380", "")
        reason = describe(f.get("58"), code or None, BUSINESS_REJECT_REASONS,
                          "BusinessRejectReason")
        key = f.get("379") or self._sent_key(f.get("45"))
        if ref_type == "c" and self.venue_state.refused(key, reason):
            return
        self._refused("business reject", ref_type, key, reason, f"j:{code}")

    def _on_session_reject(self, f: dict[str, str]) -> None:
        code = f.get("373", "")
        reason = describe(f.get("58"), code or None, SESSION_REJECT_REASONS,
                          "SessionRejectReason")
        if f.get("371"):
            reason += f" (tag {f['371']})"
        sent = self.tracker.sent_message(int(f.get("45", "0") or 0))
        ref_type = f.get("372") or (sent.msg_type if sent else "")
        self._refused("session reject", ref_type, sent.key if sent else None, reason,
                      f"3:{code}")

    def _sent_key(self, seq: str | None) -> str | None:
        sent = self.tracker.sent_message(int(seq)) if seq and seq.isdigit() else None
        return sent.key if sent is not None else None

    def _refused(self, kind: str, ref_type: str, key: str | None, reason: str,
                 code: str) -> None:
        if self.executions.refused(kind, ref_type, key, reason, code):
            return
        symbol = None
        if ref_type == "V" and key:
            sub = self.market.drop(key)
            symbol = sub.symbol if sub is not None else None
        what = f"{ref_type or 'a'} message" + (f" ({key})" if key else "")
        self.connector.report_error(f"{kind} from {self.peer} of {what}: {reason}",
                                    symbol=symbol, code=code)

    # -- sending ------------------------------------------------------------------------
    def send(self, mtype: str, body: Any, groups: Any = ()) -> None:
        """Send an application message now; VenueUnavailable if the session is down."""
        if not self.logged_on or self._initiator is None:
            raise VenueUnavailable(
                f"{self.name}: FIX session with {self.peer} is not logged on"
            )
        try:
            message = new_message(quickfix, mtype, body, groups)
        except ValueError as exc:
            raise OrderRejected(f"{self.name}: cannot write {mtype}: {exc}") from None
        try:
            sent = quickfix.Session.sendToTarget(message, self.session_id)
        except quickfix.SessionNotFound:
            raise VenueUnavailable(f"{self.name}: no FIX session with {self.peer}") from None
        if not sent:
            raise VenueUnavailable(
                f"{self.name}: {mtype} not sent, the session with {self.peer} just went down"
            )

    def subscribe(self, subscription: Subscription, depth: int) -> None:
        if subscription.data_type not in MD_ENTRY_TYPES:
            raise ValueError(
                f"{self.name}: FIX market data serves price ticks, order books and trades, "
                f"not {subscription.data_type.value}"
            )
        sub, new = self.market.add(subscription, depth)
        if new and self.logged_on:
            try:
                self._send_md(sub, subscribe=True)
            except VenueUnavailable:
                pass  # sent at the next logon

    def unsubscribe(self, subscription: Subscription) -> None:
        sub = self.market.remove(subscription)
        if sub is not None and self.logged_on:
            with contextlib.suppress(VenueUnavailable):
                self._send_md(sub, subscribe=False)

    def _send_md(self, sub: MdSubscription, *, subscribe: bool) -> None:
        body, groups = market_data_request(
            sub.md_req_id, sub.symbol, MD_ENTRY_TYPES[sub.subscription.data_type], sub.depth,
            subscribe=subscribe,
        )
        self.send("V", body, groups)
