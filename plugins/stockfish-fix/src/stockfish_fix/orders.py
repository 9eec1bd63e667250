"""ExecutionReport (8), OrderCancelReject (9), BusinessMessageReject (j) and session
Reject (3) mapped onto the core's order state machine.

ExecType (150) says what happened; OrdStatus (39) what the order is now. FIX 4.2 reports
fills as ExecType 1/2 and carries ExecTransType (20): 1 (cancel) and 2 (correct) revise an
earlier execution, 3 answers a status request. FIX 4.4 and 5.0 report fills as ExecType F
and status answers as ExecType I. Statuses the core does not have become the order's live
status with a reason: pending cancel, pending replace, done for day, suspended. Expired is
CANCELLED with reason "expired".

Every report is a fact handed to the core as it came: a fill with the venue's ExecID,
LastQty and LastPx, and with every report the venue's CumQty (14), LeavesQty (151) and
AvgPx (6). The core owns what follows: it de-duplicates fills by ExecID (reports resent
after a reconnect carry PossDupFlag), checks its count of the order's fills against
CumQty, fills in from a status answer what filled unseen, and asks for the order's status
when the two disagree. A fill report this module cannot read (no valid LastQty or LastPx)
is counted with ``report_error`` and its CumQty still goes to the core.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

from stockfish_core.plugin_api import (
    Connector,
    Fill,
    OrderAction,
    OrderStatus,
    OrderUpdate,
)

from .messages import ORD_TYPE_FROM_FIX, SIDE_FROM_FIX, utc_timestamp_ns
from .tracking import OrderTracker, TrackedOrder

__all__ = [
    "BUSINESS_REJECT_REASONS",
    "CXL_REJ_REASONS",
    "ORD_REJ_REASONS",
    "SESSION_REJECT_REASONS",
    "ExecutionHandler",
    "describe",
]

log = logging.getLogger("stockfish.fix")

_ZERO = Decimal(0)

ORD_REJ_REASONS = {
    "0": "broker option", "1": "unknown symbol", "2": "exchange closed",
    "3": "order exceeds limit", "4": "too late to enter", "5": "unknown order",
    "6": "duplicate order", "8": "stale order", "11": "unsupported order characteristic",
    "13": "incorrect quantity", "15": "unknown account", "18": "invalid price increment",
    "99": "other",
}
CXL_REJ_REASONS = {
    "0": "too late to cancel", "1": "unknown order", "2": "broker option",
    "3": "order already in pending cancel or pending replace status",
    "6": "duplicate ClOrdID", "99": "other",
}
BUSINESS_REJECT_REASONS = {
    "0": "other", "1": "unknown ID", "2": "unknown security", "3": "unsupported message type",
    "4": "application not available", "5": "conditionally required field missing",
    "6": "not authorized", "7": "DeliverTo firm not available",
}
SESSION_REJECT_REASONS = {
    "0": "invalid tag number", "1": "required tag missing",
    "2": "tag not defined for this message type", "3": "undefined tag",
    "4": "tag specified without a value", "5": "value is incorrect (out of range)",
    "6": "incorrect data format", "9": "CompID problem", "10": "SendingTime accuracy problem",
    "11": "invalid MsgType", "13": "tag appears more than once", "14": "tag out of order",
    "15": "repeating group fields out of order", "16": "incorrect NumInGroup count",
    "99": "other",
}

#: OrdStatus values that are final, and what they are in the core.
_FINAL_ORD_STATUS = {
    "2": OrderStatus.FILLED,
    "4": OrderStatus.CANCELLED,
    "8": OrderStatus.REJECTED,
    "C": OrderStatus.CANCELLED,
}
#: ExecTypes that report an execution (4.2: partial fill, fill; 4.4+: trade).
_FILL_TYPES = frozenset({"1", "2", "F"})
_REQUEST_ACTION = {"cancel": OrderAction.CANCEL, "replace": OrderAction.REPLACE}
_LIVE_REASONS = {
    "3": "done for day", "6": "pending cancel", "7": "stopped", "9": "suspended",
    "A": "pending new", "E": "pending replace",
}


def _dec(value: str | None) -> Decimal | None:
    """A finite Decimal from a FIX field, None if it is missing or not a number."""
    if value is None or value == "":
        return None
    try:
        result = Decimal(value)
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def _quantity(value: str | None) -> Decimal | None:
    """A quantity the venue states (CumQty, LeavesQty): None unless a number >= 0."""
    result = _dec(value)
    return result if result is not None and result >= 0 else None


def _price(value: str | None) -> Decimal | None:
    """A price the venue states (AvgPx): None unless a number > 0."""
    result = _dec(value)
    return result if result is not None and result > 0 else None


def _cancel_reason(code: str, text: str | None) -> str:
    head = "expired" if code == "C" else "cancelled"
    return f"{head}: {text}" if text else head


def describe(text: str | None, code: str | None, names: dict[str, str], field: str) -> str:
    """``text (field code: meaning)``, leaving out what is missing or repeated."""
    meaning = names.get(code or "")
    if code is None:
        return text or "no reason given"
    detail = f"{field} {code}" + (f": {meaning}" if meaning and meaning != text else "")
    return f"{text} ({detail})" if text else (meaning or detail)


class ExecutionHandler:
    """Turns order-related messages into ``connector.report_order`` calls."""

    def __init__(self, connector: Connector, tracker: OrderTracker) -> None:
        self.connector = connector
        self.tracker = tracker

    # -- 8 -----------------------------------------------------------------------------
    def execution_report(self, f: dict[str, str], recv_ns: int) -> OrderUpdate | None:
        """Handle one ExecutionReport; returns what was reported (None: nothing)."""
        exec_type = f.get("150", "")
        exec_trans = f.get("20")
        exec_id = f.get("17", "")
        cl_ord_id = f.get("11")
        possdup = f.get("43") == "Y" or f.get("97") == "Y"
        tracked = self._resolve_report(f)
        if tracked is None:
            self.connector.report_error(
                f"execution report {exec_id} for unknown order ClOrdID={cl_ord_id}",
                symbol=f.get("55"), code="8:unknown-order",
            )
            return None
        if exec_trans in ("1", "2") or exec_type in ("G", "H"):
            what = "correction" if exec_trans == "2" or exec_type == "G" else "cancellation"
            self.connector.report_error(
                f"order {tracked.client_order_id}: venue sent a trade {what} for execution "
                f"{f.get('19') or exec_id}; fills are not revised here, check with the venue",
                symbol=tracked.symbol, code=f"8:trade-{what}",
            )
            return None
        tracked.acknowledged = True
        if f.get("37") and f["37"] != "NONE":
            tracked.venue_order_id = f["37"]
        ts = utc_timestamp_ns(f.get("60")) or recv_ns
        ord_status = f.get("39", "")
        cum = _quantity(f.get("14"))
        if cum is not None:
            tracked.cum_qty = cum
        is_status_answer = exec_type == "I" or exec_trans == "3"
        fill: Fill | None = None
        reason: str | None = None
        replaced = False
        rejected_request: OrderAction | None = None
        if exec_type in _FILL_TYPES and not is_status_answer:
            fill = self._fill(tracked, f, exec_id, ts)
            status = self._status_from(tracked, ord_status)
        elif exec_type == "8" or (is_status_answer and ord_status == "8"):
            reason = describe(f.get("58"), f.get("103"), ORD_REJ_REASONS, "OrdRejReason")
            request = tracked.pending.pop(cl_ord_id or "", None)
            if request is not None:  # the cancel/replace was refused, not the order
                status = tracked.status
                reason = f"{request} rejected: {reason}"
                rejected_request = _REQUEST_ACTION[request]
            else:
                status = OrderStatus.REJECTED
                cum = None  # a venue that does not know the order states no fills of it
        elif exec_type in ("4", "C"):
            status = OrderStatus.CANCELLED
            reason = _cancel_reason(exec_type, f.get("58"))
        elif exec_type == "5":
            replaced = True
            tracked.pending.pop(cl_ord_id or "", None)
            if cl_ord_id:
                tracked.fix_id = cl_ord_id
            self._update_terms(tracked, f)
            status = self._status_from(tracked, ord_status)
        else:
            if exec_type == "D":
                self._update_terms(tracked, f)
            status = self._status_from(tracked, ord_status)
            if exec_type == "D":
                reason = "restated" + (f": {f['58']}" if f.get("58") else "")
            elif status is OrderStatus.CANCELLED:
                reason = _cancel_reason(ord_status, f.get("58"))
            else:
                reason = _LIVE_REASONS.get(exec_type) or _LIVE_REASONS.get(ord_status)
        if status.is_final:
            tracked.pending.clear()
        update = OrderUpdate(
            tracked.client_order_id, status, venue_order_id=tracked.venue_order_id, fill=fill,
            reason=reason, replaced=replaced,
            quantity=tracked.quantity if replaced else None,
            price=tracked.price if replaced else None,
            stop_price=tracked.stop_price if replaced else None,
            possible_duplicate=possdup, timestamp_ns=ts, rejected_request=rejected_request,
            cum_qty=cum, leaves_qty=_quantity(f.get("151")), avg_price=_price(f.get("6")),
        )
        self._set_status(tracked, status)
        self.connector.report_order(update)
        return update

    def _resolve_report(self, f: dict[str, str]) -> TrackedOrder | None:
        cl_ord_id, orig = f.get("11"), f.get("41")
        tracked = self.tracker.resolve(cl_ord_id, orig)
        if tracked is not None or not cl_ord_id:
            return tracked
        side = SIDE_FROM_FIX.get(f.get("54", ""))
        qty = _dec(f.get("38"))
        if side is None or qty is None or qty <= 0 or not f.get("55"):
            return None
        order_type = ORD_TYPE_FROM_FIX.get(f.get("40", ""), ORD_TYPE_FROM_FIX["2"])
        tracked = self.tracker.adopt(cl_ord_id, f["55"], side, qty, order_type)
        self._update_terms(tracked, f)
        return tracked

    @staticmethod
    def _update_terms(tracked: TrackedOrder, f: dict[str, str]) -> None:
        qty = _dec(f.get("38"))
        if qty is not None and qty > 0:
            tracked.quantity = qty
        price = _dec(f.get("44"))
        if price is not None and price > 0:
            tracked.price = price
        stop = _dec(f.get("99"))
        if stop is not None and stop > 0:
            tracked.stop_price = stop

    def _fill(self, tracked: TrackedOrder, f: dict[str, str], exec_id: str,
              ts: int) -> Fill | None:
        last_qty = _dec(f.get("32"))
        last_px = _dec(f.get("31"))
        if last_qty is None or last_qty <= 0 or last_px is None or last_px <= 0 \
                or not exec_id:
            self.connector.report_error(
                f"order {tracked.client_order_id}: fill report {exec_id or '(no ExecID)'} "
                f"without a valid LastQty ({f.get('32')!r}), LastPx ({f.get('31')!r}) or "
                "ExecID; its CumQty is passed on for reconciliation",
                symbol=tracked.symbol, code="8:bad-fill", data=True)
            return None
        commission = _dec(f.get("12")) or _ZERO
        if commission < 0:
            commission = _ZERO
        if f.get("13") == "1":  # per unit
            commission *= last_qty
        return Fill(
            tracked.client_order_id, exec_id, tracked.symbol, tracked.side, last_qty, last_px,
            commission, self.connector.name, tracked.venue_order_id, ts,
        )

    @staticmethod
    def _status_from(tracked: TrackedOrder, ord_status: str) -> OrderStatus:
        """The core status for an OrdStatus (a live one by the venue's CumQty)."""
        return _FINAL_ORD_STATUS.get(ord_status) or tracked.open_status

    def _set_status(self, tracked: TrackedOrder, status: OrderStatus) -> None:
        tracked.status = status
        if status.is_final:
            self.tracker.finished(tracked)

    # -- 9 -----------------------------------------------------------------------------
    def cancel_reject(self, f: dict[str, str], recv_ns: int) -> OrderUpdate | None:
        cl_ord_id = f.get("11")
        tracked = self.tracker.resolve(cl_ord_id, f.get("41"))
        what = "replace" if f.get("434") == "2" else "cancel"
        reason = describe(f.get("58"), f.get("102"), CXL_REJ_REASONS, "CxlRejReason")
        if tracked is None:
            self.connector.report_error(
                f"{what} of unknown order ClOrdID={f.get('41') or cl_ord_id} rejected: {reason}",
                code="9",
            )
            return None
        tracked.pending.pop(cl_ord_id or "", None)
        if f.get("37") and f["37"] != "NONE":
            tracked.venue_order_id = f["37"]
        status = tracked.status
        if status is OrderStatus.PENDING and f.get("39") in ("0", "1"):
            status = tracked.open_status
        log.warning("%s: order %s: %s rejected: %s", self.connector.name,
                    tracked.client_order_id, what, reason)
        update = OrderUpdate(
            tracked.client_order_id, status, venue_order_id=tracked.venue_order_id,
            reason=f"{what} rejected: {reason}", timestamp_ns=utc_timestamp_ns(f.get("60"))
            or recv_ns, rejected_request=_REQUEST_ACTION[what],
        )
        self._set_status(tracked, status)
        self.connector.report_order(update)
        return update

    # -- j and 3 -------------------------------------------------------------------------
    def refused(self, kind: str, ref_type: str, ref_key: str | None, reason: str,
                code: str | None = None) -> bool:
        """A D/F/G/H refused by a BusinessMessageReject or a session Reject.

        Reports the order (REJECTED for a new order, unchanged for a refused cancel or
        replace) and returns True; False if the message was not about one of our orders.
        """
        if ref_type not in ("D", "F", "G", "H") or not ref_key:
            return False
        tracked = self.tracker.resolve(ref_key)
        if tracked is None:
            return False
        text = f"{kind}: {reason}"
        action: OrderAction | None = None
        if ref_type == "D" and tracked.status in (OrderStatus.PENDING, OrderStatus.SUBMITTED) \
                and tracked.cum_qty == 0:
            status = OrderStatus.REJECTED
        else:
            request = tracked.pending.pop(ref_key, None) or {"F": "cancel", "G": "replace"}.get(
                ref_type, "status request")
            action = _REQUEST_ACTION.get(request)
            status = tracked.status
            text = f"{request} rejected by {text}"
            if action is None:  # a refused status request changes nothing
                self.connector.report_error(
                    f"order {tracked.client_order_id}: {text}", symbol=tracked.symbol, code=code)
                return True
        tracked.acknowledged = True
        update = OrderUpdate(tracked.client_order_id, status,
                             venue_order_id=tracked.venue_order_id, reason=text,
                             rejected_request=action)
        self._set_status(tracked, status)
        self.connector.report_order(update)
        return True
