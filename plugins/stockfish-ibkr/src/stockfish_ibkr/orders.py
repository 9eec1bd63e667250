"""Orders: placing and cancelling at IB, and IB's trade events as core order updates.

The client order id travels in IB's ``orderRef``, so an order is recognised after TWS or
this process restarts. IB's statuses map onto the core's state machine:

==============================  ============================================
PendingSubmit, ApiPending,      nothing yet (the order is PENDING)
PendingCancel
PreSubmitted, Submitted         SUBMITTED (once: fills report the rest)
execution (+ commission)        PARTIALLY_FILLED / FILLED (by IB's cumulative
                                quantity), with the Fill
Cancelled, ApiCancelled         CANCELLED; REJECTED if never acknowledged and
                                IB gave an error (201 rejected, 200 unknown...)
Inactive                        REJECTED (CANCELLED once partly filled)
cancel refused (161, 10147...)  the unchanged status, ``rejected_request=CANCEL``
unknown to IB on a STATUS       REJECTED "unknown order" if IB never acknowledged
                                it; ERROR "order vanished at IB" if it did
==============================  ============================================

A final order leaves memory, here and in the IB library's caches (its ``Trade``, fills
and their events), once its last report is handled and it is beyond the latest
``keep_final`` final orders or older than ``keep_final_seconds`` (the core's defaults,
:data:`~stockfish_core.oms.KEEP_FINAL_ORDERS` and ``KEEP_FINAL_SECONDS``); the core answers
for it from its journal. A late execution of such an order still reaches the core: the
library keeps no trade to attach it to, so the session hands it to :meth:`Orders.on_orphan_exec`.

A STATUS request is answered with every fill of the order again (``possible_duplicate``)
and then its current status. The core owns what follows a reconnect and the fills'
de-duplication: it asks STATUS for each open order after every (re)connect and applies
each execution id once; the connector reports what IB says, every time it says it.

Events are queued per order and handled after the network packet that carried them, so
a fill waits for its commission report (up to ``commission_wait``), an error explains
the cancel it caused, and fills always precede the final status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from stockfish_core.plugin_api import (
    KEEP_FINAL_ORDERS,
    KEEP_FINAL_SECONDS,
    Fill,
    Order,
    OrderAction,
    OrderRejected,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    VenueUnavailable,
    now_ns,
)

from . import errors as codes
from .errors import UnknownSymbol
from .marketdata import _ns

if TYPE_CHECKING:
    from .state import IBKRState

__all__ = ["Orders", "Tracked"]

log = logging.getLogger("stockfish.ibkr")

_ACK = frozenset({"PreSubmitted", "Submitted"})
#: IB's answers to a cancel it will not do: not cancellable (161), not found (10147,
#: 10148), already being cancelled (10149).
CANCEL_REFUSED = frozenset({161, 10147, 10148, 10149})
#: Final orders kept in memory (count, seconds): the core's defaults.
KEEP_FINAL = KEEP_FINAL_ORDERS
KEEP_SECONDS = KEEP_FINAL_SECONDS
#: Library objects of orders no longer followed are swept once per this many forgotten.
SWEEP_EVERY = 256
_CANCELLED = frozenset({"Cancelled", "ApiCancelled"})


def _release(trade: Any) -> None:
    """Let a Trade the library no longer holds be freed at once. Its events keep the last
    values they emitted, the Trade itself among them: a reference cycle that only the
    cycle collector's oldest generation frees, and memory grew until it ran. Each event
    is replaced by a fresh one (of the same class, so ib_async's too)."""
    for name in getattr(trade, "events", ()):
        event = getattr(trade, name, None)
        if event is not None:
            setattr(trade, name, type(event)(name))


@attrs.define(slots=True)
class _Event:
    """Something to report about one order, in arrival order."""

    #: fill, status (an IB status change), answer (a STATUS query's current status),
    #: unknown (IB does not know the order), cancel_refused (IB refused our cancel)
    kind: str
    payload: Any = None
    #: Loop time it was queued (a fill waits for its commission from then).
    at: float = 0.0
    #: From a status query's answer, not from a live event.
    reconciling: bool = False


@attrs.define(slots=True, eq=False)
class Tracked:
    """One of our orders as the connector follows it."""

    order: Order
    contract: Any = None
    ib_order_id: int = 0
    perm_id: int = 0
    trade: Any = None
    reported: OrderStatus | None = None
    acked: bool = False
    #: IB's cumulative filled quantity (the execution's cumQty): the venue's truth.
    filled: Decimal = Decimal(0)
    queue: deque[_Event] = attrs.Factory(deque)
    #: IB's error about the order itself (201 rejected, 200 unknown contract...).
    error: tuple[int, str] | None = None
    cancel_reason: str | None = None
    cancel_requested: bool = False
    #: Execution ids reported for the order (dropped from the library's cache with it).
    exec_ids: list[str] = attrs.Factory(list)
    #: Known only from a late execution (the order had left memory): leaves again after.
    orphan: bool = False
    #: A modification sent and not yet answered: the new (quantity, limit price, stop
    #: price), and the terms before it (put back if IB refuses it).
    replacing: tuple[Decimal, Decimal | None, Decimal | None] | None = None
    replaced_from: tuple[float, float, float] | None = None

    @property
    def coid(self) -> str:
        assert self.order.client_order_id is not None
        return self.order.client_order_id

    @property
    def final(self) -> bool:
        return self.reported is not None and self.reported.is_final


#: IB's "no value" for a double (Double.MAX_VALUE); anything this large is not a number.
_UNSET_DOUBLE = 1e300


class BadReport(ValueError):
    """An execution or status report from IB that cannot be read."""


def _positive(value: Any, what: str) -> Decimal:
    if type(value) not in (float, int) or not 0 < value < _UNSET_DOUBLE:
        raise BadReport(f"execution {what} {value!r} is not a positive number")
    return _decimal(value)


def _cumulative(value: Any) -> Decimal | None:
    """IB's cumulative filled quantity of an execution, None if it did not give one."""
    if type(value) not in (float, int) or not 0 < value < _UNSET_DOUBLE:
        return None
    return _decimal(value)


def _decimal(value: float) -> Decimal:
    """The exact decimal a float prints as (``10.0`` is ``Decimal("10")``)."""
    number = float(value)
    return Decimal(int(number)) if number.is_integer() else Decimal(repr(number))


class Orders:
    """Our orders at IB, across reconnects (the tracker lives with the connector)."""

    def __init__(self, state: IBKRState, *, keep_final: int | None = None,
                 keep_final_seconds: float | None = None) -> None:
        self.state = state
        self.keep_final = KEEP_FINAL if keep_final is None else keep_final
        self.keep_final_seconds = KEEP_SECONDS if keep_final_seconds is None \
            else keep_final_seconds
        self.by_coid: dict[str, Tracked] = {}
        self.by_ib_id: dict[int, Tracked] = {}
        self.by_perm: dict[int, Tracked] = {}
        #: The highest IB order id this connector has used: never used again.
        self.max_order_id = 0
        #: Final orders, oldest first, with when they became final (time.monotonic());
        #: beyond ``keep_final`` or ``keep_final_seconds`` they are forgotten (a STATUS
        #: query for one is still answered from what IB reports).
        self._finals: OrderedDict[str, float] = OrderedDict()
        #: Final orders that left memory, and late executions of such orders.
        self.forgotten = 0
        self.orphan_executions = 0
        #: Live executions the library attached to a trade (see session.py).
        self.exec_events = 0
        #: The orders with something queued to report, in the order their first report
        #: was queued: what a flush visits (not every order held).
        self._queued: dict[Tracked, None] = {}
        self._flush_handle: asyncio.Handle | None = None
        #: Set after every flush (see :meth:`settled`).
        self._settled: asyncio.Event | None = None
        self._retry_handle: asyncio.TimerHandle | None = None
        #: A bracket's orders are placed one after the other, in the order the core sent
        #: them: a child needs its parent's IB order id, the last one transmits the group.
        self._group_lock = asyncio.Lock()

    # -- requests ----------------------------------------------------------------------
    def _session(self) -> Any:
        session = self.state.session
        if session is None or not session.is_connected:
            raise VenueUnavailable(f"{self.state.connector.name}: not connected to TWS / IB "
                                   "Gateway; the order was not sent")
        return session

    async def submit(self, order: Order, request: OrderRequest | None = None) -> None:
        if request is not None and (request.parent_id or request.oca_group
                                    or not request.transmit):
            async with self._group_lock:
                await self._submit(order, request)
        else:
            await self._submit(order, None)

    async def _submit(self, order: Order, request: OrderRequest | None) -> None:
        session = self._session()
        coid = order.client_order_id
        if not coid:
            raise OrderRejected("the order has no client order id")
        if self.state.config.readonly:
            raise OrderRejected("the ibkr connector is configured read-only (readonly: true)")
        if coid in self.by_coid:
            raise OrderRejected(f"order {coid} was already sent to IB")
        try:
            contract = await session.contract(order.symbol)
        except UnknownSymbol as exc:
            raise OrderRejected(str(exc)) from None
        ib_order = self._ib_order(order, session.endpoint.account)
        if request is not None:
            if request.parent_id:
                parent = self.by_coid.get(request.parent_id)
                if parent is None or not parent.ib_order_id:
                    raise OrderRejected(f"the parent order {request.parent_id} of {coid} "
                                        "was not sent to IB")
                ib_order.parentId = parent.ib_order_id
            if request.oca_group:
                ib_order.ocaGroup = request.oca_group
                ib_order.ocaType = 1  # cancel the others on a fill
            ib_order.transmit = request.transmit
        await self.state.pacer.acquire()
        session = self._session()  # the connection may have gone while waiting
        ib = session.ib
        ib.client.updateReqId(self.max_order_id + 1)
        try:
            trade = ib.placeOrder(contract, ib_order)
        except ConnectionError as exc:
            raise VenueUnavailable(f"order {coid} not sent: {exc}") from None
        tracked = Tracked(order, contract, trade.order.orderId, trade=trade)
        self.by_coid[coid] = tracked
        self._prune()
        self.by_ib_id[tracked.ib_order_id] = tracked
        self.max_order_id = max(self.max_order_id, tracked.ib_order_id)
        log.info("%s: order %s sent as IB order %d: %s %s %s %s", self.state.connector.name,
                 coid, tracked.ib_order_id, ib_order.action, order.quantity, order.symbol,
                 ib_order.orderType)

    def _ib_order(self, order: Order, account: str) -> Any:
        lib = self.state.lib
        action = "BUY" if order.side is OrderSide.BUY else "SELL"
        qty = float(order.quantity)
        kind = order.order_type
        if kind is OrderType.MARKET:
            ib_order = lib.MarketOrder(action, qty)
        elif kind is OrderType.LIMIT:
            ib_order = lib.LimitOrder(action, qty, float(order.price))  # type: ignore[arg-type]
        elif kind is OrderType.STOP:
            ib_order = lib.StopOrder(action, qty, float(order.stop_price))  # type: ignore[arg-type]
        elif kind is OrderType.TRAILING_STOP:
            # IB's TRAIL: the trail amount in auxPrice, or a percentage in trailingPercent.
            ib_order = lib.Order(action=action, totalQuantity=qty, orderType="TRAIL")
            if order.trail_amount is not None:
                ib_order.auxPrice = float(order.trail_amount)
            else:
                ib_order.trailingPercent = float(order.trail_percent)  # type: ignore[arg-type]
        else:
            ib_order = lib.StopLimitOrder(action, qty, float(order.price),  # type: ignore[arg-type]
                                          float(order.stop_price))  # type: ignore[arg-type]
        ib_order.tif = order.time_in_force.value
        if order.expire_ns is not None:  # GTD: goodTillDate, in UTC
            ib_order.goodTillDate = time.strftime(
                "%Y%m%d %H:%M:%S UTC", time.gmtime(-(-order.expire_ns // 1_000_000_000)))
        ib_order.orderRef = order.client_order_id
        ib_order.account = order.account or account
        ib_order.outsideRth = self.state.config.outside_rth
        return ib_order

    async def cancel(self, order: Order) -> None:
        session = self._session()
        tracked = self.by_coid.get(order.client_order_id or "")
        if tracked is None:
            raise OrderRejected(f"order {order.client_order_id} is not known to this connector")
        if tracked.final:
            assert tracked.reported is not None
            raise OrderRejected(f"too late to cancel: order {tracked.coid} is "
                                f"{tracked.reported.value}")
        if tracked.trade is None:
            raise VenueUnavailable(f"order {tracked.coid} is not yet reconciled with IB after "
                                   "the reconnect; try again")
        await self.state.pacer.acquire()
        session = self._session()
        tracked.cancel_requested = True
        try:
            session.ib.cancelOrder(tracked.trade.order)
        except ConnectionError as exc:
            raise VenueUnavailable(f"cancel of {tracked.coid} not sent: {exc}") from None

    async def replace(self, order: Order, quantity: Decimal | None, price: Decimal | None,
                      stop_price: Decimal | None) -> None:
        """Modify the order: placeOrder again with the same order id and the new terms.
        IB's openOrder with the new terms acknowledges it (reported ``replaced``); an
        error about the order while it is pending refuses it (``rejected_request``)."""
        session = self._session()
        tracked = self.by_coid.get(order.client_order_id or "")
        if tracked is None:
            raise OrderRejected(f"order {order.client_order_id} is not known to this connector")
        if tracked.final:
            assert tracked.reported is not None
            raise OrderRejected(f"too late to modify: order {tracked.coid} is "
                                f"{tracked.reported.value}")
        if tracked.replacing is not None:
            raise OrderRejected(f"a modification of order {tracked.coid} is still pending; "
                                "wait for its answer")
        if tracked.trade is None:
            raise VenueUnavailable(f"order {tracked.coid} is not yet reconciled with IB after "
                                   "the reconnect; try again")
        ib_order = tracked.trade.order
        new = (order.quantity if quantity is None else quantity,
               order.price if price is None else price,
               order.stop_price if stop_price is None else stop_price)
        await self.state.pacer.acquire()
        session = self._session()
        done = tracked.trade.orderStatus.status
        if done in self.state.lib.OrderStatus.DoneStates:
            raise OrderRejected(f"too late to modify: order {tracked.coid} is {done} at IB")
        tracked.replaced_from = (ib_order.totalQuantity, ib_order.lmtPrice, ib_order.auxPrice)
        tracked.replacing = new
        ib_order.totalQuantity = float(new[0])
        if new[1] is not None:
            ib_order.lmtPrice = float(new[1])
        if new[2] is not None:
            ib_order.auxPrice = float(new[2])
        try:
            session.ib.placeOrder(tracked.contract or tracked.trade.contract, ib_order)
        except ConnectionError as exc:
            self._restore_terms(tracked)
            raise VenueUnavailable(f"modification of {tracked.coid} not sent: {exc}") from None
        log.info("%s: order %s modified at IB (order %d): %s %s", self.state.connector.name,
                 tracked.coid, tracked.ib_order_id, new[0], new[1] or new[2])

    @staticmethod
    def _restore_terms(tracked: Tracked) -> None:
        tracked.replacing = None
        before, tracked.replaced_from = tracked.replaced_from, None
        if before is not None and tracked.trade is not None:
            o = tracked.trade.order
            o.totalQuantity, o.lmtPrice, o.auxPrice = before

    def on_open_order(self, trade: Any) -> None:
        """An openOrder: acknowledges a pending modification when it carries its terms."""
        tracked = self._track_trade(trade)
        if tracked is None or tracked.replacing is None:
            return
        o = trade.order
        qty, price, stop = tracked.replacing
        if o.totalQuantity == float(qty) and (price is None or o.lmtPrice == float(price)) \
                and (stop is None or o.auxPrice == float(stop)):
            tracked.replacing = tracked.replaced_from = None
            self._queue(tracked, _Event("replaced", (qty, price, stop)))
            self._schedule()

    async def status(self, order: Order) -> None:
        """Ask IB for the order's state and report what it says (reconciliation)."""
        session = self._session()
        coid = order.client_order_id or ""
        tracked = self.by_coid.get(coid)
        if tracked is None:
            tracked = Tracked(order)
            self.by_coid[coid] = tracked
        await session.refresh_orders()
        self.answer(tracked)

    # -- library events ------------------------------------------------------------------
    def find(self, order_ref: str, perm_id: int, order_id: int, client_id: int) -> Tracked | None:
        tracked = self.by_coid.get(order_ref) if order_ref else None
        if tracked is None and perm_id:
            tracked = self.by_perm.get(perm_id)
        if tracked is None and order_id and client_id == self.state.client_id:
            tracked = self.by_ib_id.get(order_id)
        return tracked

    def _track_trade(self, trade: Any) -> Tracked | None:
        o = trade.order
        tracked = self.find(o.orderRef, o.permId, o.orderId, o.clientId)
        if tracked is not None:
            tracked.trade = trade
            if o.permId:
                tracked.perm_id = o.permId
                self.by_perm[o.permId] = tracked
        return tracked

    def on_status(self, trade: Any) -> None:
        tracked = self._track_trade(trade)
        if tracked is not None and tracked.replacing is not None \
                and trade.orderStatus.status == "Cancelled" and trade.log \
                and getattr(trade.log[-1], "errorCode", 0):
            # The library takes IB's refusal of our modification (an error about the
            # order) for a cancellation; IB did not cancel it. The error itself reports
            # the refusal (on_error); the trade keeps its status.
            trade.orderStatus.status = next(
                (e.status for e in reversed(trade.log[:-1]) if e.status != "Cancelled"),
                "Submitted")
            return
        if tracked is not None:
            self._queue(tracked, _Event("status", trade.orderStatus.status))
            self._schedule()

    def on_exec(self, trade: Any, fill: Any) -> None:
        self.exec_events += 1
        tracked = self._track_trade(trade)
        if tracked is not None:
            self._queue(tracked, _Event("fill", fill, self._now()))
            self._schedule()

    def on_commission(self, trade: Any, fill: Any, report: Any) -> None:
        self._schedule()

    def on_orphan_exec(self, fill: Any) -> None:
        """A live execution the library had no trade for: one of ours that left memory
        (its commission, if any, arrives in the same ``fill`` within commission_wait)."""
        ex = fill.execution
        coid = ex.orderRef
        if type(coid) is not str or not coid or ex.clientId != self.state.client_id:
            return  # not placed by this connector
        self.orphan_executions += 1
        tracked = self.by_coid.get(coid)
        if tracked is None:
            try:
                qty = _cumulative(ex.cumQty) or _positive(ex.shares, "shares")
                side = OrderSide.BUY if ex.side == "BOT" else OrderSide.SELL
                order = Order(self._symbol(fill.contract), side, qty, client_order_id=coid)
            except Exception as exc:  # noqa: BLE001 - reported, never raised into the library
                self.state.connector.report_error(
                    f"order {coid}: unreadable late execution {ex.execId!r} from IB: "
                    f"{type(exc).__name__}: {exc}", code="bad-report")
                return
            tracked = Tracked(order, fill.contract, ex.orderId or 0, perm_id=ex.permId or 0,
                              orphan=True)
            self.by_coid[coid] = tracked
            self._finals[coid] = time.monotonic()
        log.info("%s: late execution %s of order %s, which had left memory",
                 self.state.connector.name, ex.execId, coid)
        self._queue(tracked, _Event("fill", fill, self._now()))
        self._schedule()

    def _symbol(self, contract: Any) -> str:
        """The connector's symbol for a contract (as the order named it), else IB's."""
        con_id = getattr(contract, "conId", 0)
        for symbol, known in self.state.contracts.cache_items():
            if con_id and getattr(known, "conId", None) == con_id:
                return symbol
        return str(contract.localSymbol or contract.symbol)

    def on_error(self, req_id: int, code: int, message: str) -> bool:
        """An error about one of our orders (its IB order id); False if it is not ours."""
        tracked = self.by_ib_id.get(req_id)
        if tracked is None:
            return False
        if code in CANCEL_REFUSED and tracked.cancel_requested:
            tracked.cancel_requested = False
            self._queue(tracked, _Event("cancel_refused", f"IB {code}: {message}"))
        elif tracked.replacing is not None and code not in codes.INFO_CODES:
            self._restore_terms(tracked)
            self._queue(tracked, _Event("replace_refused", f"IB {code}: {message}"))
        elif code in codes.INFO_CODES:
            # 202 "Order Canceled - reason:..." explains a cancel; it is not a rejection.
            if code == 202:
                tracked.cancel_reason = message
            log.info("%s: IB %d on order %s: %s", self.state.connector.name, code, tracked.coid,
                     message)
        else:
            tracked.error = (code, message)
            log.warning("%s: IB error %d on order %s (IB %d): %s", self.state.connector.name,
                        code, tracked.coid, req_id, message)
        self._schedule()
        return True

    # -- reporting -----------------------------------------------------------------------
    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def settled(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until no execution is queued for
        reporting: what IB sent before is with the core then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(e.kind == "fill" for t in self._queued for e in t.queue):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            if self._settled is None:
                self._settled = asyncio.Event()
            self._settled.clear()
            try:
                await asyncio.wait_for(self._settled.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _queue(self, tracked: Tracked, event: _Event) -> None:
        tracked.queue.append(event)
        self._queued[tracked] = None

    def _schedule(self, delay: float = 0.0) -> None:
        loop = asyncio.get_running_loop()
        if delay > 0:
            if self._retry_handle is None:
                self._retry_handle = loop.call_later(delay, self._retry)
        elif self._flush_handle is None:
            self._flush_handle = loop.call_soon(self.flush)

    def _retry(self) -> None:
        self._retry_handle = None
        self.flush()

    def flush(self) -> None:
        """Report what is queued, order by order; a fill without its commission waits."""
        self._flush_handle = None
        wait = self.state.config.commission_wait
        now = self._now()
        soonest = None
        queued, self._queued = self._queued, {}
        try:
            for tracked in queued:
                queue = tracked.queue
                while queue:
                    event = queue[0]
                    if event.kind == "fill":
                        fill = event.payload
                        report = getattr(fill, "commissionReport", None)
                        has_commission = bool(getattr(report, "execId", ""))
                        if not has_commission and not event.reconciling and now - event.at < wait:
                            due = event.at + wait - now
                            soonest = due if soonest is None else min(soonest, due)
                            break
                    queue.popleft()
                    try:
                        self._handle(tracked, event)
                    except Exception as exc:  # noqa: BLE001 - one bad report never stops the rest
                        what = f"{type(exc).__name__}: {exc}"
                        self.state.connector.report_error(
                            f"order {tracked.coid}: unreadable {event.kind} report from IB: {what}",
                            symbol=tracked.order.symbol, code="bad-report")
        finally:
            for tracked in queued:  # what waits (for its commission) is visited again
                if tracked.queue:
                    self._queued[tracked] = None
        if soonest is not None:
            self._schedule(max(soonest, 0.001))
        self._prune()
        if self._settled is not None:
            self._settled.set()

    def _handle(self, tracked: Tracked, event: _Event) -> None:
        if event.kind == "fill":
            self._report_fill(tracked, event.payload, again=event.reconciling)
        elif event.kind == "status":
            self._report_status(tracked, event.payload)
        elif event.kind == "answer":
            self._answer_status(tracked, event.payload)
        elif event.kind == "unknown":
            self._report_unknown(tracked)
        elif event.kind == "cancel_refused":
            self._report_cancel_refused(tracked, event.payload)
        elif event.kind == "replaced":
            self._report_replaced(tracked, event.payload)
        elif event.kind == "replace_refused":
            self._report_replace_refused(tracked, event.payload)

    def _report(self, tracked: Tracked, update: OrderUpdate) -> None:
        was_final = tracked.final
        tracked.reported = update.status
        self.state.connector.report_order(update)
        if update.status.is_final and not was_final and tracked.coid not in self._finals:
            self._finals[tracked.coid] = time.monotonic()

    # -- retention -----------------------------------------------------------------------
    def _prune(self) -> None:
        """Final orders beyond ``keep_final`` or older than ``keep_final_seconds`` leave
        memory once their last report is handled (oldest first)."""
        finals = self._finals
        if not finals:
            return
        cutoff = time.monotonic() - self.keep_final_seconds
        while finals:
            coid, at = next(iter(finals.items()))
            if len(finals) <= self.keep_final and at > cutoff:
                return
            tracked = self.by_coid.get(coid)
            if tracked is not None and tracked.queue:
                return  # a report is still waiting (for its commission): after it
            del finals[coid]
            self._forget(coid)

    def _forget(self, coid: str) -> None:
        tracked = self.by_coid.get(coid)
        if tracked is None or not (tracked.final or tracked.orphan) or tracked.queue:
            return
        del self.by_coid[coid]
        if self.by_ib_id.get(tracked.ib_order_id) is tracked:
            del self.by_ib_id[tracked.ib_order_id]
        if self.by_perm.get(tracked.perm_id) is tracked:
            del self.by_perm[tracked.perm_id]
        self._drop_from_library(tracked)
        self.forgotten += 1
        if self.forgotten % SWEEP_EVERY == 0:
            self.sweep_library()

    def _wrapper(self) -> Any:
        session = self.state.session
        return None if session is None else getattr(session.ib, "wrapper", None)

    def _drop_from_library(self, tracked: Tracked) -> None:
        """Drop the order's Trade (with its fills, log and events) and executions from the
        library's caches: the library keeps every one for the life of the connection."""
        wrapper = self._wrapper()
        if wrapper is None:
            return
        fills = wrapper.fills
        for exec_id in tracked.exec_ids:
            fills.pop(exec_id, None)
        candidates = [tracked.trade]
        tracked.trade = None
        if tracked.perm_id:
            candidates += [wrapper.permId2Trade.get(tracked.perm_id),
                           wrapper.trades.get(tracked.perm_id)]
        for found in candidates:
            if found is None or found.order.orderRef != tracked.coid:
                continue
            for fill in found.fills:
                fills.pop(fill.execution.execId, None)
            o = found.order
            for key in ((o.clientId, o.orderId), o.permId):
                if wrapper.trades.get(key) is found:
                    del wrapper.trades[key]
            if wrapper.permId2Trade.get(o.permId) is found:
                del wrapper.permId2Trade[o.permId]
            _release(found)

    def sweep_library(self) -> int:
        """Drop from the library's caches the finished trades and the executions of orders
        this connector no longer follows (brought back by a status query, or placed by
        other clients); returns how many objects were dropped."""
        wrapper = self._wrapper()
        if wrapper is None:
            return 0
        followed = self.by_coid
        dropped = 0
        for cache in (wrapper.trades, wrapper.permId2Trade):
            for key, trade in list(cache.items()):
                if trade.order.orderRef not in followed and trade.isDone():
                    del cache[key]
                    _release(trade)
                    dropped += 1
        for exec_id, fill in list(wrapper.fills.items()):
            if fill.execution.orderRef not in followed:
                del wrapper.fills[exec_id]
                dropped += 1
        return dropped

    def _report_fill(self, tracked: Tracked, fill: Any, *, again: bool = False) -> None:
        """Report one execution as IB gave it; ``again`` (a status query's answer) marks
        it possible_duplicate. The core applies each execution id once."""
        ex = fill.execution
        exec_id = ex.execId
        if type(exec_id) is not str or not exec_id:
            raise BadReport(f"execution without an execution id: {exec_id!r}")
        if exec_id not in tracked.exec_ids:
            tracked.exec_ids.append(exec_id)
        qty = _positive(ex.shares, "shares")
        price = _positive(ex.price, "price")
        if ex.side not in ("BOT", "SLD"):
            raise BadReport(f"execution {exec_id}: side {ex.side!r} is neither BOT nor SLD")
        order = tracked.order
        cumulative = _cumulative(ex.cumQty)
        if cumulative is not None:
            tracked.filled = max(tracked.filled, cumulative)
        # Without IB's cumulative quantity the core decides FILLED from the fills it holds.
        status = (OrderStatus.FILLED if cumulative is not None and cumulative >= order.quantity
                  else OrderStatus.PARTIALLY_FILLED)
        report = fill.commissionReport
        commission = Decimal(0)
        if not report.execId:
            log.warning("%s: fill %s of order %s reported without its commission (none came "
                        "within %ss)", self.state.connector.name, exec_id, tracked.coid,
                        self.state.config.commission_wait)
        else:
            value = report.commission
            if type(value) in (float, int) and abs(value) < _UNSET_DOUBLE:
                commission = _decimal(value)
            else:  # NaN, infinite, IB's "unset" (1.7976931348623157e308) or not a number
                self.state.connector.report_error(
                    f"order {tracked.coid}: fill {exec_id} has an unreadable commission "
                    f"{value!r}; reported with commission 0", symbol=order.symbol,
                    code="bad-commission")
        venue_id = str(ex.orderId or tracked.ib_order_id)
        core_fill = Fill(tracked.coid, exec_id, order.symbol,
                         OrderSide.BUY if ex.side == "BOT" else OrderSide.SELL, qty,
                         price, commission,
                         self.state.connector.name, venue_id, _ns(ex.time) or now_ns())
        self._report(tracked, OrderUpdate(tracked.coid, status, venue_id, fill=core_fill,
                                          possible_duplicate=again))

    @staticmethod
    def _current(tracked: Tracked, ib_status: str) -> tuple[OrderStatus, str | None]:
        """The core status an IB status means for this order, and why."""
        error = (f"IB error {tracked.error[0]}: {tracked.error[1]}"
                 if tracked.error is not None else None)
        if ib_status == "Filled":
            return OrderStatus.FILLED, None
        if ib_status in _CANCELLED:
            if not tracked.acked and tracked.filled == 0 and tracked.error is not None:
                return OrderStatus.REJECTED, error
            return OrderStatus.CANCELLED, error or tracked.cancel_reason or f"{ib_status} at IB"
        if ib_status == "Inactive":
            reason = error or "the order is inactive at IB (rejected or not working)"
            if tracked.filled > 0:
                return OrderStatus.CANCELLED, reason
            return OrderStatus.REJECTED, reason
        if ib_status in ("PendingSubmit", "ApiPending") and not tracked.acked:
            return OrderStatus.PENDING, None
        if tracked.filled > 0:
            return OrderStatus.PARTIALLY_FILLED, None
        return OrderStatus.SUBMITTED, None

    def _venue_id(self, tracked: Tracked) -> str | None:
        return str(tracked.ib_order_id) if tracked.ib_order_id else None

    def _report_status(self, tracked: Tracked, ib_status: str) -> None:
        """A status change: acknowledgements once, final statuses; fills report the rest."""
        if tracked.final:
            return
        if ib_status in _ACK:
            tracked.acked = True
        status, reason = self._current(tracked, ib_status)
        if status is OrderStatus.SUBMITTED:
            if tracked.reported is not None and tracked.reported is not OrderStatus.PENDING:
                return
        elif status is OrderStatus.FILLED:
            # Fills carry FILLED (a STATUS answer reports IB's "Filled" itself).
            return
        elif not status.is_final:
            return
        self._report(tracked, OrderUpdate(tracked.coid, status, self._venue_id(tracked),
                                          reason=reason))

    def _answer_status(self, tracked: Tracked, ib_status: str) -> None:
        """The last part of a STATUS answer: the current status, even if unchanged."""
        if ib_status in _ACK:
            tracked.acked = True
        status, reason = self._current(tracked, ib_status)
        if (status is OrderStatus.FILLED and tracked.filled < tracked.order.quantity
                and not tracked.final):
            reason = "filled at IB; some executions were not available to reconcile"
        self._report(tracked, OrderUpdate(tracked.coid, status, self._venue_id(tracked),
                                          reason=reason, possible_duplicate=True))

    def _report_unknown(self, tracked: Tracked) -> None:
        if tracked.final:
            assert tracked.reported is not None
            self._report(tracked, OrderUpdate(tracked.coid, tracked.reported,
                                              self._venue_id(tracked), possible_duplicate=True))
            return
        if not self._acknowledged(tracked):
            self._report(tracked, OrderUpdate(
                tracked.coid, OrderStatus.REJECTED, self._venue_id(tracked),
                reason="unknown order: IB does not know it (it never reached TWS)"))
            return
        # IB had it and has forgotten it (TWS or the gateway restarted without it): the
        # order may still work or have filled at IB. Not a rejection: ERROR, which the
        # core counts (orders_errored) and logs once.
        ib_id = f"IB order {tracked.ib_order_id}" if tracked.ib_order_id else "IB"
        reason = (f"order vanished at IB: acknowledged as {ib_id}, now unknown to IB (not "
                  "in its open or completed orders, no executions); its outcome is "
                  "unknown: check the account at IB")
        self._report(tracked, OrderUpdate(tracked.coid, OrderStatus.ERROR,
                                          self._venue_id(tracked), reason=reason))

    @staticmethod
    def _acknowledged(tracked: Tracked) -> bool:
        """Whether IB ever acknowledged the order: seen acknowledged by this connector, or
        by the core before (a journal-restored order that is SUBMITTED or part filled)."""
        return (tracked.acked or tracked.filled > 0
                or tracked.order.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)
                or tracked.reported in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED))

    def _report_cancel_refused(self, tracked: Tracked, why: str) -> None:
        status = tracked.reported or OrderStatus.SUBMITTED
        log.warning("%s: IB refused to cancel order %s: %s", self.state.connector.name,
                    tracked.coid, why)
        update = OrderUpdate(tracked.coid, status, self._venue_id(tracked),
                             reason=f"cancel rejected: {why}",
                             rejected_request=OrderAction.CANCEL)
        self.state.connector.report_order(update)

    def _report_replaced(self, tracked: Tracked,
                         terms: tuple[Decimal, Decimal | None, Decimal | None]) -> None:
        if tracked.final:
            return
        qty, price, stop = terms
        status = OrderStatus.PARTIALLY_FILLED if tracked.filled > 0 else OrderStatus.SUBMITTED
        tracked.order = attrs.evolve(tracked.order, quantity=qty, price=price,
                                     stop_price=stop)
        self._report(tracked, OrderUpdate(tracked.coid, status, self._venue_id(tracked),
                                          replaced=True, quantity=qty, price=price,
                                          stop_price=stop))

    def _report_replace_refused(self, tracked: Tracked, why: str) -> None:
        status = tracked.reported or OrderStatus.SUBMITTED
        log.warning("%s: IB refused to modify order %s: %s", self.state.connector.name,
                    tracked.coid, why)
        self.state.connector.report_order(OrderUpdate(
            tracked.coid, status, self._venue_id(tracked), reason=f"replace rejected: {why}",
            rejected_request=OrderAction.REPLACE))

    # -- status queries --------------------------------------------------------------------
    def answer(self, tracked: Tracked) -> None:
        """Answer a STATUS query (the core asks one per open order after every reconnect):
        every fill IB lists for the order, oldest first, marked possible_duplicate, then
        its current status; an order IB does not know is REJECTED "unknown order", or
        ERROR if IB had acknowledged it."""
        session = self.state.session
        if session is None:
            return
        ib = session.ib
        now = self._now()
        trade = self._match_trade(tracked, list(ib.trades()))
        mine = [f for f in ib.fills() if self._fill_is(tracked, f)]
        mine.sort(key=lambda f: f.execution.time)
        for fill in mine:
            self._queue(tracked, _Event("fill", fill, now, reconciling=True))
        if trade is not None:
            self._track_trade(trade)
            if trade.order.orderId:
                tracked.ib_order_id = trade.order.orderId
                self.by_ib_id[trade.order.orderId] = tracked
            self._queue(tracked, _Event("answer", trade.orderStatus.status, now, True))
        elif not mine:
            self._queue(tracked, _Event("unknown"))
        self.flush()

    def _match_trade(self, tracked: Tracked, trades: list[Any]) -> Any:
        found = None
        for trade in trades:
            o = trade.order
            ours = o.orderRef == tracked.coid or (tracked.perm_id and o.permId == tracked.perm_id)
            # Prefer the open order's record (it carries the order id) over the completed
            # order's.
            if ours and (found is None or (o.orderId and not found.order.orderId)):
                found = trade
        return found

    @staticmethod
    def _fill_is(tracked: Tracked, fill: Any) -> bool:
        ex = fill.execution
        return ex.orderRef == tracked.coid or bool(tracked.perm_id and ex.permId == tracked.perm_id)

    def detach(self) -> None:
        """The session is gone: drop its trade objects and queued events; the core's
        STATUS queries after the next connect bring both back from IB (with
        commissions)."""
        for tracked in self.by_coid.values():
            tracked.trade = None
            tracked.queue.clear()
        self._queued.clear()
        for handle in (self._flush_handle, self._retry_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = None
        self._retry_handle = None
