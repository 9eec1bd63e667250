"""What the matching engine reports: execution reports, read-only order views, quotes.

Kept apart from :mod:`.engine` so that venue simulators can build their wire messages
from these types; :mod:`.engine` re-exports them.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

from ..orders import OrderSide, OrderStatus, OrderType, TimeInForce

__all__ = ["NO_ORDER_ID", "ExecEvent", "ExecKind", "OrderView", "Quote"]

#: ``venue_order_id`` of reports about an order the engine does not know.
NO_ORDER_ID = "NONE"


class ExecKind(str, enum.Enum):
    """What an execution report says happened (FIX ExecType, roughly)."""

    NEW = "NEW"
    PARTIAL_FILL = "PARTIAL_FILL"
    FILL = "FILL"
    CANCELLED = "CANCELLED"
    REPLACED = "REPLACED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    CANCEL_REJECTED = "CANCEL_REJECTED"
    REPLACE_REJECTED = "REPLACE_REJECTED"


_KIND_STATUS: dict[ExecKind, OrderStatus] = {
    ExecKind.NEW: OrderStatus.SUBMITTED,
    ExecKind.PARTIAL_FILL: OrderStatus.PARTIALLY_FILLED,
    ExecKind.FILL: OrderStatus.FILLED,
    ExecKind.CANCELLED: OrderStatus.CANCELLED,
    ExecKind.EXPIRED: OrderStatus.CANCELLED,
    ExecKind.REJECTED: OrderStatus.REJECTED,
}


@attrs.frozen
class ExecEvent:
    """One execution report about one order."""

    order_id: str
    kind: ExecKind
    symbol: str
    side: OrderSide
    venue_order_id: str
    exec_id: str
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    last_qty: Decimal
    last_px: Decimal | None
    cum_qty: Decimal
    leaves_qty: Decimal
    avg_px: Decimal | None
    commission: Decimal
    reason: str | None
    timestamp_ns: int

    @property
    def is_fill(self) -> bool:
        """Whether this report is an execution (``last_qty > 0``)."""
        return self.kind is ExecKind.PARTIAL_FILL or self.kind is ExecKind.FILL

    @property
    def order_status(self) -> OrderStatus | None:
        """The order's status after this report, or None for a cancel/replace reject
        (which leaves the order as it was: ask :meth:`MatchingEngine.order`)."""
        if self.kind is ExecKind.REPLACED:
            return OrderStatus.PARTIALLY_FILLED if self.cum_qty > 0 else OrderStatus.SUBMITTED
        return _KIND_STATUS.get(self.kind)


@attrs.frozen
class OrderView:
    """A read-only snapshot of one order as the engine knows it."""

    order_id: str
    venue_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    status: OrderStatus
    cum_qty: Decimal
    leaves_qty: Decimal
    avg_px: Decimal | None
    #: Total commission charged so far.
    commission: Decimal
    #: For stops: whether the stop has triggered (always True for other types).
    triggered: bool
    reason: str | None
    #: The kind of the last report about this order (tells EXPIRED from CANCELLED).
    last_kind: ExecKind
    updated_ns: int

    @property
    def is_open(self) -> bool:
        return not self.status.is_final


@attrs.frozen
class Quote:
    """The current top of book of one symbol, as last set."""

    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    timestamp_ns: int
