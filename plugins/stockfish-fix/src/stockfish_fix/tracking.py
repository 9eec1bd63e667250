"""What the connector remembers about its orders between messages.

FIX gives every request its own ClOrdID (11): a cancel or a replace carries a new one and
names the order's current one in OrigClOrdID (41). The core knows an order by one
``client_order_id``; :class:`OrderTracker` maps every ClOrdID of an order's chain back to
it, remembers which requests are still unanswered (a refused one is reported as not
done), and which message went out under which MsgSeqNum (so a session Reject can be
attributed). Fills are the core's to count and de-duplicate: nothing here does.

A final order is forgotten once it is beyond the latest ``keep_final`` final orders or
older than ``keep_final_seconds`` (the core's defaults, ``ManagerConfig.keep_final_orders``
and ``keep_final_seconds``): the core answers for it from its journal. A late
ExecutionReport for it is still reported: the report names the order (ClOrdID, Side,
OrderQty, Symbol), so it is adopted again (and forgotten again later).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from decimal import Decimal

import attrs

from stockfish_core.plugin_api import (
    KEEP_FINAL_ORDERS,
    KEEP_FINAL_SECONDS,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

__all__ = ["OrderTracker", "SentMessage", "TrackedOrder"]

_ZERO = Decimal(0)
#: Request ids are ``<client order id>-<C|R><n>`` (cancel, replace).
_DERIVED = re.compile(r"^(?P<base>.+)-[CR]\d+$")


@attrs.define(slots=True, eq=False)
class TrackedOrder:
    """One of our orders as the FIX session sees it."""

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    order_type: OrderType
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    account: str | None = None
    #: The ClOrdID the venue knows the order by now (changes with each replace).
    fix_id: str = ""
    #: Cancel/replace requests in flight: their ClOrdID -> "cancel" | "replace".
    pending: dict[str, str] = attrs.Factory(dict)
    venue_order_id: str | None = None
    status: OrderStatus = OrderStatus.PENDING
    #: The venue's CumQty in its last report (what it says filled; the core counts fills).
    cum_qty: Decimal = _ZERO
    #: Whether the venue has said anything about the order yet.
    acknowledged: bool = False
    requests: int = 0
    #: Every ClOrdID the order went by.
    ids: list[str] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        if not self.fix_id:
            self.fix_id = self.client_order_id

    @property
    def open_status(self) -> OrderStatus:
        """The status of a live order: SUBMITTED, or PARTIALLY_FILLED once anything filled."""
        return OrderStatus.PARTIALLY_FILLED if self.cum_qty > 0 else OrderStatus.SUBMITTED


@attrs.frozen
class SentMessage:
    """An application message we sent: its MsgType and the id it carried."""

    msg_type: str
    key: str


class OrderTracker:
    """Orders by client order id and by every ClOrdID of their chains."""

    def __init__(self, *, max_final: int = KEEP_FINAL_ORDERS,
                 keep_final_seconds: float = KEEP_FINAL_SECONDS) -> None:
        self.orders: dict[str, TrackedOrder] = {}
        self._aliases: dict[str, TrackedOrder] = {}
        #: Final orders, oldest first, with when they became final (time.monotonic()).
        self._final: OrderedDict[str, float] = OrderedDict()
        self._max_final = max_final
        self.keep_final_seconds = keep_final_seconds
        #: Final orders forgotten so far.
        self.forgotten = 0
        self._sent: OrderedDict[int, SentMessage] = OrderedDict()

    # -- orders ------------------------------------------------------------------------
    def add(self, order: Order) -> TrackedOrder:
        """Track an order about to be sent (or asked about); returns the existing one."""
        cid = order.client_order_id
        if not cid:
            raise ValueError("the order has no client_order_id; the manager assigns one")
        tracked = self.orders.get(cid)
        if tracked is None:
            tracked = TrackedOrder(
                cid, order.symbol, order.side, order.quantity, order.order_type,
                order.price, order.stop_price, order.time_in_force, order.account,
                venue_order_id=order.venue_order_id,
            )
            self.orders[cid] = tracked
            self._alias(cid, tracked)
        self.prune()
        return tracked

    def discard(self, client_order_id: str) -> None:
        """Forget an order that never left (its send failed)."""
        tracked = self.orders.pop(client_order_id, None)
        if tracked is not None:
            for alias in tracked.ids:
                if self._aliases.get(alias) is tracked:
                    del self._aliases[alias]

    def adopt(self, cl_ord_id: str, symbol: str, side: OrderSide, quantity: Decimal,
              order_type: OrderType) -> TrackedOrder:
        """Track an order first heard of in a report (sent before a restart of ours)."""
        match = _DERIVED.match(cl_ord_id)
        base = match.group("base") if match else cl_ord_id
        tracked = self.orders.get(base)
        if tracked is None:
            tracked = TrackedOrder(base, symbol, side, quantity, order_type, fix_id=cl_ord_id,
                                   acknowledged=True)
            self.orders[base] = tracked
            self._alias(base, tracked)
        self._alias(cl_ord_id, tracked)
        return tracked

    def request_id(self, tracked: TrackedOrder, kind: str) -> str:
        """A new ClOrdID for a cancel ("C") or a replace ("R")."""
        tracked.requests += 1
        new_id = f"{tracked.client_order_id}-{kind}{tracked.requests}"
        self._alias(new_id, tracked)
        return new_id

    def _alias(self, cl_ord_id: str, tracked: TrackedOrder) -> None:
        self._aliases[cl_ord_id] = tracked
        tracked.ids.append(cl_ord_id)

    def resolve(self, cl_ord_id: str | None, orig_cl_ord_id: str | None = None
                ) -> TrackedOrder | None:
        """The order a report is about, by its ClOrdID or OrigClOrdID."""
        for key in (cl_ord_id, orig_cl_ord_id):
            if key:
                tracked = self._aliases.get(key)
                if tracked is not None:
                    return tracked
        for key in (cl_ord_id, orig_cl_ord_id):
            match = _DERIVED.match(key) if key else None
            if match:
                tracked = self.orders.get(match.group("base"))
                if tracked is not None:
                    return tracked
        return None

    def finished(self, tracked: TrackedOrder) -> None:
        """Note that an order reached a final status; the oldest final ones are dropped."""
        self._final.setdefault(tracked.client_order_id, time.monotonic())
        self.prune()

    def prune(self) -> None:
        """Forget final orders beyond ``max_final`` or older than ``keep_final_seconds``."""
        final = self._final
        if not final:
            return
        cutoff = time.monotonic() - self.keep_final_seconds
        while final:
            cid, at = next(iter(final.items()))
            if len(final) <= self._max_final and at > cutoff:
                return
            del final[cid]
            tracked = self.orders.get(cid)
            if tracked is not None and tracked.status.is_final:
                self.discard(cid)
                self.forgotten += 1

    # -- sent messages -----------------------------------------------------------------
    def sent(self, seq_num: int, msg_type: str, key: str) -> None:
        """Record an application message that left under ``seq_num``."""
        self._sent[seq_num] = SentMessage(msg_type, key)
        if len(self._sent) > 10_000:
            self._sent.popitem(last=False)

    def sent_message(self, seq_num: int) -> SentMessage | None:
        return self._sent.get(seq_num)
