"""What the FIX exchange simulator sends, per FIX version: ExecutionReport (8),
OrderCancelReject (9), MarketDataSnapshotFullRefresh (W), MarketDataIncrementalRefresh
(X), MarketDataRequestReject (Y), BusinessMessageReject (j) and session Reject (3).

The matching engine's :class:`~stockfish_core.sim.ExecEvent` says what happened; this
module writes it the way each version wants it: FIX 4.2 with ExecTransType (20) and fills
as ExecType 1/2, FIX 4.4 and 5.0 with fills as ExecType F and status answers as ExecType
I. Every value used is one the version's data dictionary allows, since the connector's
QuickFIX validates what it receives.
"""

from __future__ import annotations

from decimal import Decimal

from stockfish_core.plugin_api import (
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from stockfish_core.sim import ExecEvent, ExecKind, OrderView

from ..messages import ORD_TYPE, SIDE, TIME_IN_FORCE, decimal_text, transact_time
from ..requests import Body

__all__ = [
    "ORD_STATUS",
    "business_reject",
    "cancel_reject",
    "execution_report",
    "md_reject",
    "position_report",
    "positions_ack",
    "session_reject",
    "status_report",
    "unknown_order_report",
]

_EXEC_TYPE = {
    ExecKind.NEW: "0",
    ExecKind.PARTIAL_FILL: "F",
    ExecKind.FILL: "F",
    ExecKind.CANCELLED: "4",
    ExecKind.REPLACED: "5",
    ExecKind.REJECTED: "8",
    ExecKind.EXPIRED: "C",
}
_EXEC_TYPE_42 = {**_EXEC_TYPE, ExecKind.PARTIAL_FILL: "1", ExecKind.FILL: "2"}
ORD_STATUS = {
    OrderStatus.PENDING: "A",
    OrderStatus.SUBMITTED: "0",
    OrderStatus.PARTIALLY_FILLED: "1",
    OrderStatus.FILLED: "2",
    OrderStatus.CANCELLED: "4",
    OrderStatus.REJECTED: "8",
    OrderStatus.ERROR: "8",
}


def _num(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def _ord_rej_reason(reason: str | None) -> str:
    text = (reason or "").lower()
    if "unknown symbol" in text:
        return "1"
    if "duplicate" in text:
        return "6"
    if "unknown order" in text:
        return "5"
    return "0"  # exchange option


def _terms(symbol: str, side: OrderSide, order_type: OrderType, quantity: Decimal,
           price: Decimal | None, stop_price: Decimal | None,
           tif: TimeInForce | None) -> Body:
    return [
        (55, symbol), (54, SIDE[side]), (38, decimal_text(quantity)), (40, ORD_TYPE[order_type]),
        (44, _num(price)), (99, _num(stop_price)),
        (59, TIME_IN_FORCE[tif] if tif is not None else None),
    ]


def execution_report(
    begin_string: str, event: ExecEvent, cl_ord_id: str, orig_cl_ord_id: str | None,
    tif: TimeInForce | None,
) -> Body:
    """An ExecutionReport for one engine event (not a cancel/replace reject)."""
    fix42 = begin_string == "FIX.4.2"
    status = event.order_status or OrderStatus.SUBMITTED
    body: Body = [
        (37, event.venue_order_id),
        (11, cl_ord_id),
        (41, orig_cl_ord_id),
        (17, event.exec_id),
        (20, "0" if fix42 else None),
        (150, (_EXEC_TYPE_42 if fix42 else _EXEC_TYPE)[event.kind]),
        (39, "C" if event.kind is ExecKind.EXPIRED else ORD_STATUS[status]),
    ]
    body += _terms(event.symbol, event.side, event.order_type, event.quantity, event.price,
                   event.stop_price, tif)
    body += [
        (32, decimal_text(event.last_qty)),
        (31, decimal_text(event.last_px or Decimal(0))),
        (151, decimal_text(event.leaves_qty)),
        (14, decimal_text(event.cum_qty)),
        (6, decimal_text(event.avg_px or Decimal(0))),
        (60, transact_time(event.timestamp_ns)),
    ]
    if event.commission:
        body += [(12, decimal_text(event.commission)), (13, "3")]
    if event.kind is ExecKind.REJECTED:
        body += [(103, _ord_rej_reason(event.reason))]
    if event.reason:
        body += [(58, event.reason)]
    return body


def status_report(begin_string: str, view: OrderView, cl_ord_id: str, exec_id: str) -> Body:
    """The answer to an OrderStatusRequest about an order the engine knows."""
    fix42 = begin_string == "FIX.4.2"
    ord_status = "C" if view.last_kind is ExecKind.EXPIRED else ORD_STATUS[view.status]
    body: Body = [
        (37, view.venue_order_id),
        (11, cl_ord_id),
        (17, exec_id),
        (20, "3" if fix42 else None),
        (150, ord_status if fix42 else "I"),
        (39, ord_status),
    ]
    body += _terms(view.symbol, view.side, view.order_type, view.quantity, view.price,
                   view.stop_price, view.time_in_force)
    body += [
        (32, "0"), (31, "0"),
        (151, decimal_text(view.leaves_qty)),
        (14, decimal_text(view.cum_qty)),
        (6, decimal_text(view.avg_px or Decimal(0))),
        (60, transact_time()),
    ]
    if view.reason:
        body += [(58, view.reason)]
    return body


def unknown_order_report(begin_string: str, cl_ord_id: str, symbol: str, side: str,
                         exec_id: str) -> Body:
    """The answer to an OrderStatusRequest about an order the engine never saw."""
    fix42 = begin_string == "FIX.4.2"
    return [
        (37, "NONE"), (11, cl_ord_id), (17, exec_id),
        (20, "3" if fix42 else None), (150, "8" if fix42 else "I"), (39, "8"),
        (55, symbol), (54, side), (151, "0"), (14, "0"), (6, "0"),
        (103, "5"), (58, "unknown order"), (60, transact_time()),
    ]


def cancel_reject(event: ExecEvent, cl_ord_id: str, orig_cl_ord_id: str, replace: bool,
                  ord_status: str, reason: str | None) -> Body:
    text = (reason or "").lower()
    code = "1" if "unknown order" in text else "0" if "too late" in text else "2"
    return [
        (37, event.venue_order_id),
        (11, cl_ord_id),
        (41, orig_cl_ord_id),
        (39, ord_status),
        (434, "2" if replace else "1"),
        (102, code),
        (58, reason),
        (60, transact_time()),
    ]


def md_reject(md_req_id: str, reason_code: str, text: str) -> Body:
    return [(262, md_req_id), (281, reason_code), (58, text)]


def business_reject(ref_seq_num: str, ref_msg_type: str, ref_id: str | None, text: str) -> Body:
    return [(45, ref_seq_num), (372, ref_msg_type), (379, ref_id), (380, "0"), (58, text)]


def session_reject(ref_seq_num: str, ref_msg_type: str, ref_tag: int, text: str) -> Body:
    return [(45, ref_seq_num), (371, str(ref_tag)), (372, ref_msg_type), (373, "5"),
            (58, text)]


def positions_ack(pos_req_id: str, report_id: str, count: int, account: str) -> Body:
    """RequestForPositionsAck (AO): how many PositionReports follow (PosReqResult 2:
    no positions found)."""
    return [(721, report_id), (710, pos_req_id), (727, str(count)),
            (728, "0" if count else "2"), (729, "0"), (1, account), (581, "1")]


def position_report(pos_req_id: str, report_id: str, count: int, account: str, symbol: str,
                    quantity: Decimal, avg_price: Decimal, business_date: str
                    ) -> tuple[Body, list[tuple[int, int, list[list[tuple[int, str]]]]]]:
    """PositionReport (AP) of one symbol: the net position as LongQty or ShortQty of
    PosType TQ, the average price as SettlPrice."""
    body: Body = [(721, report_id), (710, pos_req_id), (724, "0"), (727, str(count)),
                  (728, "0"), (715, business_date), (1, account), (581, "1"), (55, symbol),
                  (730, decimal_text(avg_price)), (731, "1"),
                  (734, decimal_text(avg_price))]
    side = [(704, decimal_text(quantity))] if quantity >= 0 else \
        [(705, decimal_text(-quantity))]
    return body, [(702, 703, [[(703, "TQ"), *side]])]
