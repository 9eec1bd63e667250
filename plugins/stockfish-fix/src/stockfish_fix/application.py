"""The QuickFIX application of the connector: callbacks on QuickFIX's threads, handed over
to the manager's event loop.

QuickFIX calls :class:`FixApplication` on its own threads, and some callbacks (toApp,
toAdmin, onLogout) while it holds the session's lock. So a callback does the least it
can: it copies what it needs out of the message (the FIX string; the QuickFIX objects die
with the callback), appends an event to an :class:`Inbox`, and returns. The inbox asks
the loop to drain it with one ``connector.call_soon_threadsafe`` per batch, not per
message, so a burst of reports reaches the loop as one batch.

Two decisions are taken on QuickFIX's thread because they cannot wait: the Logon gets
its credentials in ``toAdmin``, and an order message QuickFIX is about to resend because
the counterparty asked for it (PossDupFlag=Y) is refused with ``DoNotSend`` unless the
connector allows it; a ``SKIPPED`` event then lets the loop reconcile the order's fate.
A Logout received before the logon completed is a rejected logon: the session is disabled
there and then, so QuickFIX does not retry.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import quickfix

from .messages import SOH, field, msg_type

__all__ = ["Event", "FixApplication", "Inbox"]

log = logging.getLogger("stockfish.fix")

#: An inbox event: (kind, receive time ns, FIX string or text).
Event = tuple[str, int, str]

# Event kinds.
LOGON = "logon"
LOGOUT = "logout"
REJECTED = "rejected"
APP = "app"
ADMIN = "admin"
PROBE = "probe"
#: TestReqID (112) of the TestRequest that hastens our Logout (see FixSession.close): not a
#: probe of a silent counterparty.
LOGOUT_PROBE = "logout"
#: An order message not resent (its FIX string): the loop reconciles what it asked for.
SKIPPED = "skipped"
#: A ResendRequest of ours (its FIX string): the loop checks that it is answered.
RESEND = "resend"
#: A session Reject QuickFIX sent for an inbound message it refused (its FIX string): the
#: message never reaches the application, so the loop counts it.
REFUSED = "refused"
#: TestReqID (112) prefix of the TestRequest that follows a ResendRequest of ours: its
#: Heartbeat comes after the counterparty's answer, so its arrival shows that the gap was
#: filled and nothing is queued behind it any more.
RESEND_PROBE = "resend-check-"

_ORDER_TYPES = frozenset({"D", "F", "G"})
_ADMIN_KEPT = frozenset({"3", "5"})


class Inbox:
    """Events from QuickFIX's threads, drained in batches on the loop."""

    def __init__(self, schedule: Callable[[Callable[[], None]], None],
                 handle: Callable[[list[Event]], None]) -> None:
        self._events: collections.deque[Event] = collections.deque()
        self._scheduled = False
        self._schedule = schedule
        self._handle = handle
        self.closed = False

    def put(self, event: Event) -> None:
        """From any thread."""
        if self.closed:
            return
        self._events.append(event)
        if not self._scheduled:
            self._scheduled = True
            try:
                self._schedule(self.drain)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                self.closed = True

    def drain(self) -> None:
        """On the loop: hand every pending event to the handler, in order."""
        self._scheduled = False
        events = self._events
        if not events:
            return
        batch = []
        while events:
            batch.append(events.popleft())
        self._handle(batch)


class FixApplication(quickfix.Application):  # type: ignore[misc]
    """QuickFIX callbacks of one connector's session (see the module docs)."""

    def __init__(
        self,
        inbox: Inbox,
        logon_fields: dict[int, str],
        *,
        resend_orders: bool,
        record_sent: Callable[[int, str, str], None],
        name: str,
    ) -> None:
        super().__init__()
        self.inbox = inbox
        self.logon_fields = logon_fields
        self.resend_orders = resend_orders
        self.record_sent = record_sent
        self.name = name
        #: Set on QuickFIX's thread between onLogon and onLogout.
        self.logged_on = False
        #: Set on QuickFIX's thread when a Logout arrives (a graceful stop waits for it).
        self.logout_received = threading.Event()
        #: During a graceful stop, the initiator's ``isStopped`` (see fromAdmin).
        self.stopped: Callable[[], bool] | None = None

    # -- session events -----------------------------------------------------------------
    def onCreate(self, session_id: Any) -> None:
        pass

    def onLogon(self, session_id: Any) -> None:
        self.logged_on = True
        self.inbox.put((LOGON, time.time_ns(), ""))

    def onLogout(self, session_id: Any) -> None:
        self.logged_on = False
        self.inbox.put((LOGOUT, time.time_ns(), ""))

    # -- admin messages ----------------------------------------------------------------
    def toAdmin(self, message: Any, session_id: Any) -> None:
        try:
            kind = message.getHeader().getField(35)
            if kind == "A":
                for tag, value in self.logon_fields.items():
                    message.setField(tag, value)
            elif kind == "1":
                probe = message.getField(112)
                if probe != LOGOUT_PROBE and not probe.startswith(RESEND_PROBE):
                    self.inbox.put((PROBE, time.time_ns(), ""))
            elif kind == "2":
                self.inbox.put((RESEND, time.time_ns(), message.toString()))
            elif kind == "3":
                self.inbox.put((REFUSED, time.time_ns(), message.toString()))
        except Exception:
            log.exception("%s: toAdmin failed", self.name)

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        try:
            raw = message.toString()
            kind = msg_type(raw)
            if kind == "5":
                self.logout_received.set()
                stopped = self.stopped
                if stopped is not None:
                    # A graceful stop, answered: hold QuickFIX's thread until the stop has
                    # begun, so that it ends the session and then sees the stop at once,
                    # not at its next timer tick a second later.
                    deadline = time.monotonic() + 1.0
                    while not stopped() and time.monotonic() < deadline:
                        time.sleep(0.0005)
            if kind == "5" and not self.logged_on:
                # A Logout instead of a Logon reply: the counterparty refused us. Disable
                # the session so that QuickFIX does not reconnect at once.
                session = quickfix.Session.lookupSession(session_id)
                if session is not None:
                    session.logout()
                self.inbox.put((REJECTED, time.time_ns(), _text(raw)))
            elif kind in _ADMIN_KEPT or (kind == "0" and f"{SOH}112=" in raw):
                self.inbox.put((ADMIN, time.time_ns(), raw))
        except Exception:
            log.exception("%s: fromAdmin failed", self.name)

    # -- application messages ------------------------------------------------------------
    def toApp(self, message: Any, session_id: Any) -> None:
        # One call into QuickFIX for the whole message: each call releases and takes back
        # the GIL, which QuickFIX's own thread is competing for.
        raw = message.toString()
        kind = msg_type(raw)
        if f"{SOH}43=Y{SOH}" in raw:  # PossDupFlag: QuickFIX is resending it
            if kind in _ORDER_TYPES and not self.resend_orders:
                log.warning("%s: not resending %s %s that the counterparty asked for again; "
                            "it is reconciled instead", self.name, kind, field(raw, "11"))
                self.inbox.put((SKIPPED, time.time_ns(), raw))
                raise quickfix.DoNotSend()
            return
        try:
            self.record_sent(int(field(raw, "34") or 0), kind,
                             field(raw, "11") or field(raw, "262"))
        except Exception:
            log.exception("%s: toApp failed", self.name)

    def fromApp(self, message: Any, session_id: Any) -> None:
        try:
            self.inbox.put((APP, time.time_ns(), message.toString()))
        except Exception:
            log.exception("%s: fromApp failed", self.name)


def _text(raw: str) -> str:
    return field(raw, "58") or "no reason given"
