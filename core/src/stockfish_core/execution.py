"""Orders inside the ExchangeManager: routing with failover, risk checks, the journal,
sending, cancel and replace, venue reports applied to the one state machine, and
orders whose outcome is unknown kept for reconciliation: the ExchangeManager's order
part."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from .brackets import OrderGroups
from .callbacks import Callbacks
from .config import ManagerConfig
from .connector import Connector
from .errors import OrderRejected, StockfishError, VenueUnavailable
from .loopbridge import LoopBridge
from .marketdata import MarketDataHub
from .models import now_ns
from .oms import OrderStore
from .orders import (
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    check_text,
)
from .risk import RiskChecker
from .routing import Router
from .venues import RunState, VenueState, find_venue
from .venuestate import VenueBook

log = logging.getLogger("stockfish.manager")
T = TypeVar("T")

#: Seconds between two STATUS requests for one order whose fills the venue and the core
#: count differently.
RECONCILE_INTERVAL = 5.0


def _is_final(order: Order) -> bool:
    return order.is_final


def _expire(future: asyncio.Future[Order], order: Order, timeout: float) -> None:
    if not future.done():
        future.set_exception(TimeoutError(
            f"order {order.client_order_id} still {order.status.value} after {timeout}s"))


class OrderService:
    """The order part of the ExchangeManager.

    Built with what it works on: the venues (shared with the other parts), the market
    data hub (reference prices), the order store, the router, the risk checker, the run
    state, the loop bridge, the subscribers' callbacks and ``scores``, the connectors'
    health scores (for the best-available strategy).
    """

    def __init__(self, config: ManagerConfig, venues: dict[str, VenueState],
                 hub: MarketDataHub, orders: OrderStore, router: Router, risk: RiskChecker,
                 state: RunState, bridge: LoopBridge, callbacks: Callbacks,
                 venue_book: VenueBook, *, scores: Callable[[], dict[str, float]]) -> None:
        self.config = config
        self.venues = venues
        self.venue_book = venue_book
        self.hub = hub
        self.orders = orders
        self.router = router
        self.risk = risk
        self.state = state
        self.bridge = bridge
        self.callbacks = callbacks
        self._scores = scores
        self.order_waiters: dict[str, list[tuple[Callable[[Order], bool],
                                                 asyncio.Future[Order]]]] = {}
        #: Brackets and OCO pairs the core emulates (stockfish_core.brackets).
        self.groups = OrderGroups(self)
        orders.notify = self._order_changed

    def on_order_update(self, connector: Connector, update: OrderUpdate) -> None:
        venue = self.venues.get(connector.name)
        outcome = self.orders.apply(update, connector.name)
        if outcome is None or venue is None:
            return
        order = outcome.order
        stats = venue.stats
        sent = self.orders.sent_at.get(order.client_order_id or "")
        if outcome.first_ack and sent:
            stats.ack_latency.add(now_ns() - sent)
            stats.orders_acknowledged += 1
        if outcome.duplicate_fill:
            stats.duplicate_fills += 1
        if outcome.reconciled:
            stats.reconciled_fills += 1
        if outcome.disagreement is not None:
            self._disagreement(venue, order, outcome.disagreement)
        elif order.is_final:
            self.orders.reconciling.pop(order.client_order_id or "", None)
        if outcome.fill is not None:
            stats.fills += 1
            self.venue_book.on_fill(connector.name, outcome.fill)
            for handler in self.callbacks.fill:
                self.callbacks.notify(handler, outcome.fill, order)
        if order.is_final:
            self.orders.sent_at.pop(order.client_order_id or "", None)  # kept while open
        if outcome.status_changed:
            if order.status is OrderStatus.FILLED:
                stats.orders_filled += 1
                if sent:
                    stats.fill_latency.add(now_ns() - sent)
            elif order.status is OrderStatus.CANCELLED:
                stats.orders_cancelled += 1
            elif order.status is OrderStatus.REJECTED:
                stats.orders_rejected += 1
                log.warning("order %s rejected by %s: %s", order.client_order_id,
                            connector.name, order.reason)
            elif order.status is OrderStatus.ERROR:
                stats.orders_errored += 1
                log.error("order %s in ERROR, reported by %s: %s", order.client_order_id,
                          connector.name, order.reason)
        if outcome.status_changed or outcome.fill is not None or update.replaced \
                or update.rejected_request:
            self._order_changed(order)

    def _disagreement(self, venue: VenueState, order: Order, why: str) -> None:
        """The venue's account of an order's fills and ours differ (a refused fill, a
        CumQty that is not our count): counted, then the venue is asked for the order's
        status, which reconciles it; at most one question per order every
        RECONCILE_INTERVAL seconds, and one log line per question."""
        venue.stats.fill_disagreements += 1
        cid = order.client_order_id or ""
        now = time.monotonic()
        asked = self.orders.reconciling.get(cid)
        if asked is not None and now - asked < RECONCILE_INTERVAL:
            return
        self.orders.reconciling[cid] = now
        connected = venue.connector.is_connected
        log.warning("order %s: %s (reported by %s); %s", cid, why, venue.name,
                    "asking for its status" if connected else "reconciled when it reconnects")
        if connected:
            self.bridge.spawn(self.send(venue, OrderRequest(OrderAction.STATUS, order)))

    def _order_changed(self, order: Order) -> None:
        for handler in self.callbacks.order:
            self.callbacks.notify(handler, order)
        if order.client_order_id in self.groups.groups:
            self.groups.on_order(order)
        waiters = self.order_waiters.get(order.client_order_id or "")
        if waiters:
            # A future's done callback removes it from the list (see _waiter_done).
            for predicate, future in waiters:
                if not future.done() and predicate(order):
                    future.set_result(order)

    def orders_in_doubt(self, connector: str) -> None:
        for cid in [c for c in self.orders.unacked if
                    (o := self.orders.get(c)) is not None and o.connector == connector]:
            order = self.orders.orders[cid]
            if not order.outcome_unknown:
                order.outcome_unknown = True
                self.orders.save(order)
                log.warning("order %s was in flight on %s when it dropped: outcome unknown; "
                            "it will be reconciled with %s and never sent elsewhere",
                            cid, connector, connector)
            self.orders.unacked.pop(cid, None)


    # ------------------------------------------------------------------ orders
    def submit(self, order: Order, connector_name: str | None, *,
               parent_id: str | None = None, oca_group: str | None = None,
               transmit: bool = True) -> str:
        """Check, journal and send a new order (on the manager loop); the keywords are a
        native bracket's (OrderRequest)."""
        return self._submit(order, connector_name, parent_id=parent_id,
                            oca_group=oca_group, transmit=transmit)

    def route(self, order: Order, connector_name: str | None) -> VenueState:
        """The venue a new order would go to (OrderRejected, the order REJECTED, if none);
        names the order if it has no client order id."""
        if not self.state.running:
            raise StockfishError("the manager is not started: call start_all() first")
        check_text(order.client_order_id, "client_order_id")
        order.client_order_id = order.client_order_id or self.orders.next_id()
        return self._route(order, connector_name, frozenset())

    def request(self, order_id: str, action: OrderAction) -> bool:
        """Ask the order's venue to cancel it or for its status (on the manager loop)."""
        return self._request(order_id, action, None, None, None)

    def notify(self, order: Order) -> None:
        """Tell subscribers and waiters of a change the core made itself."""
        self._order_changed(order)

    def send_bracket(self, entry: Order, take_profit: Order, stop_loss: Order,
                     connector_name: str | None = None) -> tuple[str, str, str]:
        """See :meth:`ExchangeManager.send_bracket`."""
        return self._committed(lambda: self.groups.send_bracket(
            entry, take_profit, stop_loss, connector_name))

    def send_oco(self, first: Order, second: Order,
                 connector_name: str | None = None) -> tuple[str, str]:
        """See :meth:`ExchangeManager.send_oco`."""
        return self._committed(lambda: self.groups.send_oco(first, second, connector_name))

    def _committed(self, action: Callable[[], T]) -> T:
        if self.bridge.on_loop():
            return action()

        def run() -> T:
            result = action()
            self.orders.flush(wait=True)
            return result

        return self.bridge.call(run)

    def send_order(self, order: Order, connector_name: str | None = None) -> str:
        """See :meth:`ExchangeManager.send_order`."""
        if self.bridge.on_loop():
            return self._submit(order, connector_name)
        return self.bridge.call(self._submit_committed, order, connector_name)

    def _submit_committed(self, order: Order, connector_name: str | None) -> str:
        order_id = self._submit(order, connector_name)
        self.orders.flush(wait=True)
        return order_id

    def _submit(self, order: Order, connector_name: str | None,
                exclude: frozenset[str] = frozenset(), *, parent_id: str | None = None,
                oca_group: str | None = None, transmit: bool = True) -> str:
        if not self.state.running:
            raise StockfishError("the manager is not started: call start_all() first")
        if order.client_order_id is not None and order.client_order_id in self.orders.orders:
            raise ValueError(f"order {order.client_order_id} was already sent")
        if order.status is not OrderStatus.PENDING:
            raise ValueError(f"only a PENDING order can be sent, not {order.status.value}")
        # Set after the order was built, these skipped its checks: text that reaches a wire.
        check_text(order.client_order_id, "client_order_id")
        check_text(order.account, "account")
        order.client_order_id = order.client_order_id or self.orders.next_id()
        venue = self._route(order, connector_name, exclude)
        if order.expire_ns is not None and order.expire_ns <= now_ns():
            why = (f"the GTD expire time {order.expire_time:%Y-%m-%d %H:%M:%S.%f} UTC has "
                   "passed")
            self._reject_locally(order, venue, why)
            raise OrderRejected(why)
        off_tick = self.venue_book.tick_check(
            order, venue.name, self.config.off_tick_prices.value,
            lambda: self.bridge.spawn(self.venue_book.warm(venue, order.symbol)))
        if off_tick is not None:
            self._reject_locally(order, venue, off_tick)
            raise OrderRejected(off_tick)
        try:
            self.risk.check(order, self._reference_price(order.symbol))
            self.risk.check_rate(venue.name)
        except OrderRejected as exc:
            self._reject_locally(order, venue, exc.reason)
            raise
        order.connector = venue.name
        venue.stats.orders_submitted += 1
        request = OrderRequest(OrderAction.SUBMIT, order, parent_id=parent_id,
                               oca_group=oca_group, transmit=transmit)

        def send() -> None:
            self.orders.mark_sent(order)
            self._dispatch(venue, request)

        # Committed to the journal first (with whatever else this loop iteration wrote),
        # then sent.
        self.orders.add(order, then=send)
        return order.client_order_id

    def _route(self, order: Order, connector_name: str | None,
               exclude: frozenset[str]) -> VenueState:
        if connector_name is not None:
            venue = find_venue(self.venues, connector_name)
            why = self.router.eligible(venue.connector, order)
            if why is not None:
                self._reject_locally(order, venue, f"connector {connector_name} cannot take "
                                                   f"this order: {why}")
                raise OrderRejected(order.reason or "")
            return venue
        candidates = [v.connector for v in self.venues.values() if v.name not in exclude]
        scores = self._scores() if self.router.needs_scores else {}
        chosen, reasons = self.router.choose(order, candidates, scores)
        if chosen is None:
            detail = "; ".join(f"{n}: {r}" for n, r in reasons.items()) or "no connectors"
            self._reject_locally(order, None, f"no connector can take this order ({detail})")
            raise OrderRejected(order.reason or "")
        return self.venues[chosen.name]

    def _reject_locally(self, order: Order, venue: VenueState | None, reason: str) -> None:
        order.reason = reason
        order.transition(OrderStatus.REJECTED)
        if venue is not None:
            venue.stats.orders_rejected += 1
        log.warning("order %s %s %s %s rejected before sending: %s", order.client_order_id,
                    order.side.value, order.quantity, order.symbol, reason)
        self._order_changed(order)

    def _reference_price(self, symbol: str) -> Decimal | None:
        tick = self.hub.latest_ticks.get(symbol)
        if tick is None:
            trade = self.hub.latest_trades.get(symbol)
            return None if trade is None else Decimal(repr(trade.price))
        value = tick.last if tick.last is not None else tick.mid_price
        return None if value is None else Decimal(repr(value))

    def _dispatch(self, venue: VenueState, request: OrderRequest) -> asyncio.Task[None] | None:
        """Call the execute hook now. A plain hook is done when it returns (no task, no
        loop iteration per order); an async one is awaited in a task, which is returned."""
        try:
            pending = venue.hooks.execute(request)
        except Exception as exc:  # noqa: BLE001 - sorted out by _send_failed
            self._send_failed(venue, request, exc)
            return None
        if pending is not None:
            return self.bridge.spawn(self._await_send(venue, request, pending))
        return None

    async def _await_send(self, venue: VenueState, request: OrderRequest,
                          pending: Awaitable[Any]) -> None:
        try:
            await pending
        except Exception as exc:  # noqa: BLE001 - sorted out by _send_failed
            self._send_failed(venue, request, exc)

    async def send(self, venue: VenueState, request: OrderRequest) -> None:
        """Send and wait until the request has left (for reconciliation)."""
        task = self._dispatch(venue, request)
        if task is not None:
            await task

    def _send_failed(self, venue: VenueState, request: OrderRequest, error: Exception) -> None:
        """A request that raised: refused before it left (OrderRejected), never left
        (VenueUnavailable: a new order goes elsewhere), or broke mid-send (outcome
        unknown: reconciled later, never resent)."""
        order = request.order
        action = request.action.value
        if isinstance(error, OrderRejected):
            if request.action is OrderAction.SUBMIT:
                venue.stats.orders_rejected += 1
                self.orders.finish(order, OrderStatus.REJECTED, error.reason)
                log.warning("order %s rejected by %s: %s", order.client_order_id, venue.name,
                            error.reason)
                self._order_changed(order)
            else:
                log.warning("%s of order %s refused by %s: %s", action, order.client_order_id,
                            venue.name, error.reason)
        elif isinstance(error, VenueUnavailable):
            if request.action is OrderAction.SUBMIT and (
                    request.parent_id or request.oca_group or not request.transmit):
                # A native bracket's order belongs to its venue: never sent elsewhere.
                venue.stats.orders_rejected += 1
                self.orders.finish(order, OrderStatus.REJECTED, str(error))
                log.warning("order %s of a bracket not sent to %s: %s", order.client_order_id,
                            venue.name, error)
                self._order_changed(order)
            elif request.action is OrderAction.SUBMIT:
                self._failover(venue, order, str(error))
            else:
                log.warning("%s of order %s not sent, %s unavailable: %s", action,
                            order.client_order_id, venue.name, error)
        else:
            log.error("order %s: %s to %s failed: %s: %s", order.client_order_id, action,
                      venue.name, type(error).__name__, error)
            if request.action is OrderAction.SUBMIT and order.is_open:
                order.outcome_unknown = True
                self.orders.unacked.pop(order.client_order_id or "", None)
                self.orders.save(order)

    def _failover(self, venue: VenueState, order: Order, why: str) -> None:
        """The order never left (VenueUnavailable): send it elsewhere as new."""
        self.orders.unacked.pop(order.client_order_id or "", None)
        venue.stats.orders_submitted -= 1
        log.warning("order %s not sent to %s (%s); routing it again", order.client_order_id,
                    venue.name, why)
        del self.orders.orders[order.client_order_id or ""]
        order.connector = None
        try:
            self._submit(order, None, exclude=frozenset({venue.name}))
        except OrderRejected:
            self.orders.add(order)  # keep the rejected order in the journal

    def cancel_order(self, order_id: str) -> bool:
        """See :meth:`ExchangeManager.cancel_order`."""
        return self.bridge.call(self._request, order_id, OrderAction.CANCEL, None, None, None)

    def replace_order(self, order_id: str, quantity: Any = None, price: Any = None,
                      stop_price: Any = None) -> bool:
        """See :meth:`ExchangeManager.replace_order`."""
        return self.bridge.call(self._request, order_id, OrderAction.REPLACE, quantity, price,
                          stop_price)

    def _request(self, order_id: str, action: OrderAction, quantity: Any,
                 price: Any, stop_price: Any) -> bool:
        order = self.orders.get(order_id)
        if order is None:
            order = self.get_order(order_id)  # KeyError if unknown; final if retired
        if order.is_final:
            return False
        venue = find_venue(self.venues, order.connector or "")
        if action is OrderAction.REPLACE:
            if not venue.connector.capabilities.replace:
                raise OrderRejected(f"connector {venue.name} does not support replace")
            candidate = order.replaced(quantity, price, stop_price)
            off_tick = self.venue_book.tick_check(
                candidate, venue.name, self.config.off_tick_prices.value,
                lambda: self.bridge.spawn(self.venue_book.warm(venue, order.symbol)))
            if off_tick is not None:
                raise OrderRejected(off_tick)
            self.risk.check_replace(order, candidate, self._reference_price(order.symbol))
            quantity = None if quantity is None else candidate.quantity
            price = None if price is None else candidate.price
            stop_price = None if stop_price is None else candidate.stop_price
        request = OrderRequest(action, order, quantity, price, stop_price)

        def send() -> None:
            self._dispatch(venue, request)

        self.orders.after_commit(order, send)
        return True

    def get_order(self, order_id: str) -> Order:
        """See :meth:`ExchangeManager.get_order`."""
        order = self.orders.lookup(order_id) or self.groups.held(order_id)
        if order is None:
            raise KeyError(f"no order {order_id!r}")
        return order

    def get_order_status(self, order_id: str) -> OrderStatus:
        return self.get_order(order_id).status

    def open_orders(self) -> list[Order]:
        return self.orders.open_orders()

    def wait_for_order_async(self, order_id: str,
                             predicate: Callable[[Order], bool] | None = None,
                             timeout: float = 10.0) -> asyncio.Future[Order]:
        """See :meth:`ExchangeManager.wait_for_order_async`."""
        test = predicate or _is_final
        order = self.get_order(order_id)
        if self.bridge.foreign_loop():
            async def wait() -> Order:
                return await self.wait_for_order_async(order_id, predicate, timeout)

            assert self.bridge.loop is not None
            return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(wait(), self.bridge.loop))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Order] = loop.create_future()
        if test(order):
            future.set_result(order)
            return future
        entry = (test, future)
        waiters = self.order_waiters.get(order_id)
        if waiters is None:
            waiters = self.order_waiters[order_id] = []
        waiters.append(entry)
        timer = loop.call_later(timeout, _expire, future, order, timeout)
        future.add_done_callback(functools.partial(self._waiter_done, order_id, entry, timer))
        return future

    def _waiter_done(self, order_id: str,
                     entry: tuple[Callable[[Order], bool], asyncio.Future[Order]],
                     timer: asyncio.TimerHandle, _: asyncio.Future[Order]) -> None:
        timer.cancel()
        waiters = self.order_waiters.get(order_id)
        if waiters is not None:
            with contextlib.suppress(ValueError):
                waiters.remove(entry)
            if not waiters:
                del self.order_waiters[order_id]

    def wait_for_order(self, order_id: str, predicate: Callable[[Order], bool] | None = None,
                       timeout: float = 10.0) -> Order:
        async def wait() -> Order:
            return await self.wait_for_order_async(order_id, predicate, timeout)

        return self.bridge.run(wait(), timeout + 1)

    async def send_order_async(self, order: Order, connector_name: str | None = None) -> str:
        """See :meth:`ExchangeManager.send_order_async`."""
        if self.bridge.foreign_loop():
            async def submit() -> str:
                return self._submit(order, connector_name)

            return await self.bridge.bridge(submit())
        return self._submit(order, connector_name)

    def engage_kill_switch(self, reason: str = "engaged by operator") -> None:
        """See :meth:`ExchangeManager.engage_kill_switch`."""
        self.risk.engage_kill_switch(reason)

    def release_kill_switch(self) -> None:
        self.risk.release_kill_switch()

