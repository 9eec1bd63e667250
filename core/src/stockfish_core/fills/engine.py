"""The fill engine: a deterministic matching engine for simulated fills.

Pure and synchronous: no asyncio, no threads, no I/O. Every call returns the execution
reports (:class:`ExecEvent`) it caused, in order. One engine for every simulated fill:
the built-in ``sim`` venue, the ``paper`` venue and the backtester of stockfish-strategy,
the FIX acceptor and the TWS-protocol gateway used in tests all run on it.

The engine does not keep a book of other participants: each symbol has a top-of-book
quote, set with :meth:`MatchingEngine.set_quote`, and our orders take from it.

Not thread-safe: a caller on several threads (QuickFIX callbacks) holds a lock around it.

Rules
-----
* **Liquidity.** Each quote offers its sizes once: buys take from ``ask_size``, sells from
  ``bid_size``, in time priority, until the next ``set_quote`` refreshes them. Each fill is
  also capped at ``max_fill_qty``, and an order gets at most one fill per quote (or per
  submit/replace), so a large order fills in parts over successive quotes.
* **Market** orders fill at the ask (buy) or bid (sell), moved against the order by the
  slippage model (``slippage_bps``, or any :class:`~.costs.SlippageModel`: fixed basis
  points, a fraction of the spread). With no quote for the symbol yet, a market order is REJECTED
  ``"no market"``; with a quote but no size on its side it waits (DAY/GTC).
* **Limit** orders that are marketable on arrival (or on replace) fill at the quote plus
  slippage, never beyond their limit. The remainder rests; a resting order that a later
  quote crosses fills at its own limit price (it was in the book first).
* **Stop** orders trigger when the quote crosses the stop (buy: ``ask >= stop``; sell:
  ``bid <= stop``), on arrival or on a later quote; a STOP then behaves as a market order,
  a STOP_LIMIT as a limit order. A stop needs no quote to be accepted.
* **IOC** fills what it can when it becomes active (on arrival, or on trigger for stops)
  and the remainder is reported as ``EXPIRED`` (reason ``"IOC remainder"``).
  **FOK** fills completely at once (in several fills if ``max_fill_qty`` demands) or not
  at all: ``EXPIRED`` with the reason. Both are first acknowledged with ``NEW``.
  **DAY** and **GTC** rest; :meth:`MatchingEngine.expire_day_orders` ends the day.
  **GTD** rests until its ``expire_ns``: a GTD order whose time has come is ``EXPIRED``
  (reason ``"GTD expire time reached"``) by the next :meth:`MatchingEngine.set_quote`
  (before that quote matches anything) or :meth:`MatchingEngine.expire_due`; an expire time
  that has passed on arrival is REJECTED. :meth:`MatchingEngine.next_expiry` tells a
  venue when to call ``expire_due`` without a quote.
* **Trailing stop** orders (``trail_amount`` or ``trail_percent``) keep a stop that
  follows the market: a sell's is ``bid - trail`` (or ``bid * (1 - percent/100)``) and only
  rises, a buy's is ``ask + trail`` and only falls. It is set by the first quote and moved
  by every later one; once the quote crosses it (sell: ``bid <= stop``, buy: ``ask >=
  stop``) the order is a market order. Its ``stop_price`` in reports is the stop now in
  force; a replace cannot set it.
* **Validation.** The engine is also fed by raw FIX messages, so it checks everything:
  a duplicate order id, an unknown side/type/time in force, a quantity <= 0, a missing or
  superfluous price or stop price are REJECTED with a reason (no ``NEW``). Rejected
  orders are remembered (except duplicates) so a status query finds them.
* **Reports.** ``exec_id`` values are unique and numbered in order; venue order ids are
  unique. ``commission`` on a fill event is that fill's commission: the commission model's
  total for the order after the fill minus its total before (``commission_per_unit *
  last_qty`` by default; a minimum or maximum per order holds across partial fills); it
  is 0 on other events. ``cum_qty + leaves_qty
  == quantity`` on every report of an open order; ``leaves_qty`` is 0 once it is final.
  A cancel or replace of an unknown order is rejected with ``venue_order_id == "NONE"``
  (the FIX convention), ``symbol == ""`` and placeholder side/type.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import attrs

from ..errors import InvalidOrderError
from ..orders import OrderSide, OrderStatus, OrderType, TimeInForce, to_decimal
from .costs import CommissionModel, FixedBpsSlippage, PerShareCommission, SlippageModel
from .events import NO_ORDER_ID, ExecEvent, ExecKind, OrderView, Quote

__all__ = [
    "NO_ORDER_ID",
    "ExecEvent",
    "ExecKind",
    "MatchingEngine",
    "OrderView",
    "Quote",
]

_ZERO = Decimal(0)
_BPS = Decimal(10_000)


@attrs.define(slots=True, eq=False)
class _Book:
    quote: Quote
    bid_avail: Decimal
    ask_avail: Decimal


@attrs.define(slots=True, eq=False)
class _Order:
    order_id: str
    venue_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    seq: int
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None
    expire_ns: int | None = None
    status: OrderStatus = OrderStatus.SUBMITTED
    triggered: bool = True
    cum_qty: Decimal = _ZERO
    notional: Decimal = _ZERO
    commission: Decimal = _ZERO
    reason: str | None = None
    last_kind: ExecKind = ExecKind.NEW
    updated_ns: int = 0

    @property
    def leaves(self) -> Decimal:
        return _ZERO if self.status.is_final else self.quantity - self.cum_qty

    @property
    def avg_px(self) -> Decimal | None:
        return self.notional / self.cum_qty if self.cum_qty else None

    @property
    def limit(self) -> Decimal | None:
        """The price the order may not trade through, once active (None: market)."""
        if self.order_type is OrderType.LIMIT or self.order_type is OrderType.STOP_LIMIT:
            return self.price
        return None

    def view(self) -> OrderView:
        return OrderView(
            self.order_id, self.venue_order_id, self.symbol, self.side, self.order_type,
            self.time_in_force, self.quantity, self.price, self.stop_price, self.status,
            self.cum_qty, self.leaves, self.avg_px, self.commission, self.triggered,
            self.reason, self.last_kind, self.updated_ns,
        )


def _enum_value(cls: type[enum.Enum], value: Any) -> Any:
    if isinstance(value, cls):
        return value
    try:
        return cls(value.upper() if isinstance(value, str) else value)
    except ValueError:
        return None


def _decimal_or_reason(value: Any, field: str) -> tuple[Decimal | None, str | None]:
    if value is None:
        return None, None
    try:
        return to_decimal(value, field=field), None
    except InvalidOrderError as exc:
        return None, str(exc)


class MatchingEngine:
    """Matches our orders against per-symbol top-of-book quotes. See the module docs."""

    def __init__(
        self,
        *,
        commission_per_unit: Decimal = Decimal(0),
        slippage_bps: Decimal = Decimal(0),
        max_fill_qty: Decimal | None = None,
        clock: Callable[[], int] = time.time_ns,
        id_prefix: str = "SIM",
        commission: CommissionModel | None = None,
        slippage: SlippageModel | None = None,
    ) -> None:
        self.commission_per_unit = to_decimal(commission_per_unit, field="commission_per_unit")
        self.slippage_bps = to_decimal(slippage_bps, field="slippage_bps")
        self.max_fill_qty = (
            None if max_fill_qty is None else to_decimal(max_fill_qty, field="max_fill_qty")
        )
        if self.commission_per_unit < 0:
            raise ValueError(f"commission_per_unit must be >= 0, got {commission_per_unit}")
        if not 0 <= self.slippage_bps < _BPS:
            raise ValueError(f"slippage_bps must be in [0, 10000), got {slippage_bps}")
        if self.max_fill_qty is not None and self.max_fill_qty <= 0:
            raise ValueError(f"max_fill_qty must be positive, got {max_fill_qty}")
        if commission is not None and self.commission_per_unit:
            raise ValueError("give commission_per_unit or a commission model, not both")
        if slippage is not None and self.slippage_bps:
            raise ValueError("give slippage_bps or a slippage model, not both")
        #: Total commission of an order from its filled quantity and notional.
        self.commission: CommissionModel = (
            commission if commission is not None else PerShareCommission(self.commission_per_unit))
        #: The price a marketable order takes from a quote.
        self.slippage: SlippageModel = (
            slippage if slippage is not None else FixedBpsSlippage(self.slippage_bps))
        self.clock = clock
        self.id_prefix = id_prefix
        #: Reject the next N submits with reason "rejected on demand".
        self.reject_next = 0
        self._books: dict[str, _Book] = {}
        self._orders: dict[str, _Order] = {}
        #: Open orders per symbol, in time priority (a replace moves an order to the end).
        self._open: dict[str, dict[str, _Order]] = {}
        self._exec_seq = 0
        self._order_seq = 0
        self._arrival = 0
        #: Open GTD orders: order id -> expire time.
        self._expiries: dict[str, int] = {}

    # -- queries ---------------------------------------------------------------------
    def order(self, order_id: str) -> OrderView | None:
        """The order's current state, or None if the engine never saw it."""
        order = self._orders.get(order_id)
        return None if order is None else order.view()

    def open_orders(self, symbol: str | None = None) -> list[OrderView]:
        """Open orders (of one symbol, or all), oldest first."""
        books: Iterable[dict[str, _Order]] = (
            [self._open.get(symbol, {})] if symbol is not None else self._open.values()
        )
        found = [o for book in books for o in book.values()]
        found.sort(key=lambda o: o.seq)
        return [o.view() for o in found]

    def orders(self) -> list[OrderView]:
        """Every order the engine knows, open and final, in arrival order."""
        return [o.view() for o in self._orders.values()]

    def quote(self, symbol: str) -> Quote | None:
        """The last quote set for ``symbol``."""
        book = self._books.get(symbol)
        return None if book is None else book.quote

    # -- market data -----------------------------------------------------------------
    def set_quote(
        self, symbol: str, bid: Decimal, ask: Decimal, bid_size: Decimal, ask_size: Decimal
    ) -> list[ExecEvent]:
        """Set the top of book of ``symbol``; trigger stops and fill open orders against it.

        Raises ValueError for an impossible quote (prices <= 0, negative sizes, bid > ask).
        """
        bid_d = to_decimal(bid, field="bid")
        ask_d = to_decimal(ask, field="ask")
        bid_sz = to_decimal(bid_size, field="bid_size")
        ask_sz = to_decimal(ask_size, field="ask_size")
        if bid_d <= 0 or ask_d <= 0:
            raise ValueError(f"{symbol}: quote prices must be positive, got {bid_d}/{ask_d}")
        if bid_sz < 0 or ask_sz < 0:
            raise ValueError(f"{symbol}: quote sizes must be >= 0, got {bid_sz}/{ask_sz}")
        if bid_d > ask_d:
            raise ValueError(f"{symbol}: crossed quote, bid {bid_d} > ask {ask_d}")
        now = self.clock()
        quote = Quote(symbol, bid_d, ask_d, bid_sz, ask_sz, now)
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _Book(quote, bid_sz, ask_sz)
        else:
            book.quote, book.bid_avail, book.ask_avail = quote, bid_sz, ask_sz
        events: list[ExecEvent] = []
        open_orders = self._open.get(symbol)
        if not open_orders:
            return events
        if self._expiries:
            events += self._expire(now, symbol)
        for order in list(open_orders.values()):
            if order.status.is_final:  # pragma: no cover - final orders leave the index
                continue
            if not order.triggered:
                if order.trail_amount is not None or order.trail_percent is not None:
                    self._trail(order, quote)
                if order.stop_price is not None and self._crossed(order, quote):
                    order.triggered = True
                    self._activate(order, book, now, events)
                continue
            # A live order seen by a new quote: a market order takes it (plus slippage),
            # a resting limit order fills at its own price.
            fill = self._fill_once(order, book, now, aggressive=order.limit is None)
            if fill is not None:
                events.append(fill)
        return events

    # -- orders ----------------------------------------------------------------------
    def submit(
        self,
        order_id: str,
        symbol: str,
        side: OrderSide,
        quantity: Decimal,
        order_type: OrderType,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.DAY,
        *,
        trail_amount: Decimal | None = None,
        trail_percent: Decimal | None = None,
        expire_ns: int | None = None,
    ) -> list[ExecEvent]:
        """Accept (NEW, then any immediate fills/expiry) or reject a new order.
        ``trail_amount`` / ``trail_percent`` are a TRAILING_STOP's, ``expire_ns`` a GTD
        order's expire time."""
        now = self.clock()
        side_e = _enum_value(OrderSide, side)
        type_e = _enum_value(OrderType, order_type)
        tif_e = _enum_value(TimeInForce, time_in_force)
        qty, qty_err = _decimal_or_reason(quantity, "quantity")
        px, px_err = _decimal_or_reason(price, "price")
        stop, stop_err = _decimal_or_reason(stop_price, "stop_price")
        trail, trail_err = _decimal_or_reason(trail_amount, "trail_amount")
        pct, pct_err = _decimal_or_reason(trail_percent, "trail_percent")
        reason = self._check_new(
            order_id, symbol, side, side_e, order_type, type_e, time_in_force, tif_e,
            qty, qty_err, px, px_err, stop, stop_err,
        ) or trail_err or pct_err or self._check_terms(type_e, tif_e, trail, pct, expire_ns,
                                                       now)
        oid = order_id if isinstance(order_id, str) else str(order_id)
        duplicate = isinstance(order_id, str) and order_id in self._orders
        if reason is None and duplicate:
            reason = f"duplicate order id {order_id!r}"
        if reason is None and self.reject_next > 0:
            self.reject_next -= 1
            reason = "rejected on demand"
        if reason is None and type_e is OrderType.MARKET and symbol not in self._books:
            reason = "no market"
        order = _Order(
            oid,
            NO_ORDER_ID if duplicate else self._next_order_id(),
            symbol if isinstance(symbol, str) else str(symbol),
            side_e or OrderSide.BUY,
            type_e or OrderType.MARKET,
            tif_e or TimeInForce.DAY,
            qty if qty is not None else _ZERO,
            px,
            stop,
            self._next_arrival(),
            trail,
            pct,
            expire_ns,
            updated_ns=now,
        )
        if reason is not None:
            order.status = OrderStatus.REJECTED
            order.reason = reason
            order.last_kind = ExecKind.REJECTED
            if not duplicate and isinstance(order_id, str) and order_id:
                self._orders[oid] = order
            return [self._event(order, ExecKind.REJECTED, now, reason=reason)]
        self._orders[oid] = order
        self._open.setdefault(order.symbol, {})[oid] = order
        if expire_ns is not None:
            self._expiries[oid] = expire_ns
        book = self._books.get(order.symbol)
        if order.order_type is OrderType.TRAILING_STOP:
            order.triggered = False
            if book is not None:
                self._trail(order, book.quote)  # the first stop, stated by the NEW report
        events = [self._event(order, ExecKind.NEW, now)]
        if order.stop_price is not None:
            order.triggered = book is not None and self._crossed(order, book.quote)
        if order.triggered:
            self._activate(order, book, now, events)
        return events

    def cancel(self, order_id: str) -> list[ExecEvent]:
        """Cancel an open order: CANCELLED, or CANCEL_REJECTED with the reason."""
        now = self.clock()
        order = self._orders.get(order_id)
        if order is None:
            return [self._unknown(order_id, ExecKind.CANCEL_REJECTED, now)]
        if order.status.is_final:
            return [self._event(order, ExecKind.CANCEL_REJECTED, now,
                                reason=f"too late to cancel: order is {order.status.value}")]
        self._close(order, OrderStatus.CANCELLED, ExecKind.CANCELLED, now, None)
        return [self._event(order, ExecKind.CANCELLED, now)]

    def replace(
        self,
        order_id: str,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> list[ExecEvent]:
        """Change an open order's total quantity, limit price or stop price.

        ``quantity`` is the new total (filled part included) and must exceed what has
        filled. The order loses its time priority; if it is now marketable it fills at
        once (REPLACED, then fills). Otherwise REPLACE_REJECTED with the reason.
        """
        now = self.clock()
        order = self._orders.get(order_id)
        if order is None:
            return [self._unknown(order_id, ExecKind.REPLACE_REJECTED, now)]

        def reject(reason: str) -> list[ExecEvent]:
            return [self._event(order, ExecKind.REPLACE_REJECTED, now, reason=reason)]

        if order.status.is_final:
            return reject(f"too late to replace: order is {order.status.value}")
        if quantity is None and price is None and stop_price is None:
            return reject("replace changes nothing")
        qty, err = _decimal_or_reason(quantity, "quantity")
        if err is None and qty is not None and qty <= order.cum_qty:
            err = f"quantity {qty} must exceed the filled {order.cum_qty}"
        px, px_err = _decimal_or_reason(price, "price")
        stop, stop_err = _decimal_or_reason(stop_price, "stop_price")
        err = err or px_err or stop_err
        if err is None and px is not None:
            if order.limit is None:
                err = f"a {order.order_type.value} order has no limit price to change"
            elif px <= 0:
                err = f"price must be positive, got {px}"
        if err is None and stop is not None:
            if order.order_type is OrderType.TRAILING_STOP:
                err = "a TRAILING_STOP order's stop follows the market; it cannot be set"
            elif order.stop_price is None:
                err = f"a {order.order_type.value} order has no stop price to change"
            elif order.triggered:
                err = "the stop has already triggered"
            elif stop <= 0:
                err = f"stop_price must be positive, got {stop}"
        if err is not None:
            return reject(err)
        if qty is not None:
            order.quantity = qty
        if px is not None:
            order.price = px
        if stop is not None:
            order.stop_price = stop
        order.seq = self._next_arrival()
        order.last_kind = ExecKind.REPLACED
        order.updated_ns = now
        book_orders = self._open[order.symbol]
        book_orders.pop(order.order_id)
        book_orders[order.order_id] = order
        events = [self._event(order, ExecKind.REPLACED, now)]
        book = self._books.get(order.symbol)
        if not order.triggered and book is not None and self._crossed(order, book.quote):
            order.triggered = True
        if order.triggered:
            self._activate(order, book, now, events)
        return events

    def expire_due(self, now: int | None = None) -> list[ExecEvent]:
        """Expire every open GTD order whose expire time is at or before ``now`` (the
        engine's clock by default): EXPIRED, reason "GTD expire time reached"."""
        return self._expire(self.clock() if now is None else now, None)

    def next_expiry(self) -> int | None:
        """The earliest expire time of an open GTD order (None: none is open)."""
        return min(self._expiries.values(), default=None)

    def _expire(self, now: int, symbol: str | None) -> list[ExecEvent]:
        events: list[ExecEvent] = []
        for oid, at in sorted(self._expiries.items(), key=lambda item: item[1]):
            if at > now:
                break
            order = self._orders[oid]
            if symbol is not None and order.symbol != symbol:
                continue
            reason = "GTD expire time reached"
            self._close(order, OrderStatus.CANCELLED, ExecKind.EXPIRED, now, reason)
            events.append(self._event(order, ExecKind.EXPIRED, now, reason=reason))
        return events

    def expire_day_orders(self) -> list[ExecEvent]:
        """End the trading day: every open DAY order is EXPIRED (reason "end of day")."""
        now = self.clock()
        events: list[ExecEvent] = []
        for view in self.open_orders():
            if view.time_in_force is TimeInForce.DAY:
                order = self._orders[view.order_id]
                self._close(order, OrderStatus.CANCELLED, ExecKind.EXPIRED, now, "end of day")
                events.append(self._event(order, ExecKind.EXPIRED, now, reason="end of day"))
        return events

    # -- internals -------------------------------------------------------------------
    @staticmethod
    def _check_new(
        order_id: Any, symbol: Any, side: Any, side_e: Any, order_type: Any, type_e: Any,
        tif: Any, tif_e: Any, qty: Decimal | None, qty_err: str | None,
        px: Decimal | None, px_err: str | None, stop: Decimal | None, stop_err: str | None,
    ) -> str | None:
        if not isinstance(order_id, str) or not order_id:
            return "order id must be a non-empty string"
        if not isinstance(symbol, str) or not symbol.strip():
            return "symbol must be a non-empty string"
        if side_e is None:
            return f"unknown side {side!r}"
        if type_e is None:
            return f"unknown order type {order_type!r}"
        if tif_e is None:
            return f"unknown time in force {tif!r}"
        if qty_err or px_err or stop_err:
            return qty_err or px_err or stop_err
        if qty is None:
            return "quantity is missing"
        if qty <= 0:
            return f"quantity must be positive, got {qty}"
        needs_price = type_e in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = type_e in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_price and px is None:
            return f"a {type_e.value} order needs a price"
        if not needs_price and px is not None:
            return f"a {type_e.value} order takes no price"
        if needs_stop and stop is None:
            return f"a {type_e.value} order needs a stop price"
        if not needs_stop and stop is not None:
            return f"a {type_e.value} order takes no stop price"
        if px is not None and px <= 0:
            return f"price must be positive, got {px}"
        if stop is not None and stop <= 0:
            return f"stop_price must be positive, got {stop}"
        return None

    @staticmethod
    def _check_terms(type_e: Any, tif_e: Any, trail: Decimal | None, pct: Decimal | None,
                     expire_ns: Any, now: int) -> str | None:
        """A trailing stop's trail and a GTD order's expire time."""
        if type_e is OrderType.TRAILING_STOP:
            if (trail is None) == (pct is None):
                return "a TRAILING_STOP order needs a trail amount or a trail percent"
            if trail is not None and trail <= 0:
                return f"trail_amount must be positive, got {trail}"
            if pct is not None and not 0 < pct < 100:
                return f"trail_percent must be between 0 and 100, got {pct}"
        elif trail is not None or pct is not None:
            return f"a {type_e.value} order takes no trail"
        if tif_e is TimeInForce.GTD:
            if expire_ns is None:
                return "a GTD order needs an expire time"
            if isinstance(expire_ns, bool) or not isinstance(expire_ns, int):
                return f"expire time must be nanoseconds since the epoch, got {expire_ns!r}"
            if expire_ns <= now:
                return "the expire time of the GTD order has passed"
        elif expire_ns is not None:
            return f"an expire time is for GTD orders, not {tif_e.value}"
        return None

    @staticmethod
    def _trail(order: _Order, quote: Quote) -> None:
        """Move a trailing stop with ``quote`` (a sell's up with the bid, a buy's down
        with the ask; never back)."""
        if order.side is OrderSide.SELL:
            ref = quote.bid
            stop = (ref - order.trail_amount if order.trail_amount is not None
                    else ref * (1 - order.trail_percent / 100))  # type: ignore[operator]
            if order.stop_price is None or stop > order.stop_price:
                order.stop_price = stop
        else:
            ref = quote.ask
            stop = (ref + order.trail_amount if order.trail_amount is not None
                    else ref * (1 + order.trail_percent / 100))  # type: ignore[operator]
            if order.stop_price is None or stop < order.stop_price:
                order.stop_price = stop

    @staticmethod
    def _crossed(order: _Order, quote: Quote) -> bool:
        assert order.stop_price is not None
        if order.side is OrderSide.BUY:
            return quote.ask >= order.stop_price
        return quote.bid <= order.stop_price

    def _activate(
        self, order: _Order, book: _Book | None, now: int, events: list[ExecEvent]
    ) -> None:
        """The order just became live (arrival, trigger, replace): take liquidity now."""
        tif = order.time_in_force
        if tif is TimeInForce.FOK:
            available = _ZERO if book is None else self._takeable(order, book)
            if available < order.leaves:
                reason = f"FOK: only {available} of {order.leaves} available now"
                self._close(order, OrderStatus.CANCELLED, ExecKind.EXPIRED, now, reason)
                events.append(self._event(order, ExecKind.EXPIRED, now, reason=reason))
                return
        if book is not None:
            while True:
                fill = self._fill_once(order, book, now, aggressive=True)
                if fill is not None:
                    events.append(fill)
                if fill is None or tif is not TimeInForce.FOK or order.status.is_final:
                    break
        if order.status.is_final:
            return
        if tif is TimeInForce.IOC or tif is TimeInForce.FOK:
            self._close(order, OrderStatus.CANCELLED, ExecKind.EXPIRED, now, "IOC remainder")
            events.append(self._event(order, ExecKind.EXPIRED, now, reason="IOC remainder"))

    def _takeable(self, order: _Order, book: _Book) -> Decimal:
        """How much of the current quote this order could take now (ignoring the cap)."""
        quote = book.quote
        limit = order.limit
        if order.side is OrderSide.BUY:
            ok = limit is None or quote.ask <= limit
            return book.ask_avail if ok else _ZERO
        ok = limit is None or quote.bid >= limit
        return book.bid_avail if ok else _ZERO

    def _fill_once(
        self, order: _Order, book: _Book, now: int, *, aggressive: bool
    ) -> ExecEvent | None:
        available = self._takeable(order, book)
        qty = min(order.leaves, available)
        if self.max_fill_qty is not None:
            qty = min(qty, self.max_fill_qty)
        if qty <= 0:
            return None
        quote = book.quote
        limit = order.limit
        buy = order.side is OrderSide.BUY
        if aggressive or limit is None:
            px = self.slippage.price(order.side, quote.bid, quote.ask)
            if px <= 0:  # a sell slipped through zero by a huge spread: the bid at worst
                px = quote.bid
            if limit is not None:
                px = min(px, limit) if buy else max(px, limit)
        else:
            px = limit
        if buy:
            book.ask_avail -= qty
        else:
            book.bid_avail -= qty
        order.cum_qty += qty
        order.notional += px * qty
        commission = self.commission.total(order.cum_qty, order.notional) - order.commission
        order.commission += commission
        order.updated_ns = now
        if order.cum_qty >= order.quantity:
            kind = ExecKind.FILL
            self._close(order, OrderStatus.FILLED, kind, now, None)
        else:
            kind = ExecKind.PARTIAL_FILL
            order.status = OrderStatus.PARTIALLY_FILLED
            order.last_kind = kind
        return self._event(order, kind, now, last_qty=qty, last_px=px, commission=commission)

    def _close(
        self, order: _Order, status: OrderStatus, kind: ExecKind, now: int, reason: str | None
    ) -> None:
        order.status = status
        order.last_kind = kind
        order.reason = reason
        order.updated_ns = now
        self._expiries.pop(order.order_id, None)
        book = self._open.get(order.symbol)
        if book is not None:
            book.pop(order.order_id, None)

    def _event(
        self, order: _Order, kind: ExecKind, now: int, *, last_qty: Decimal = _ZERO,
        last_px: Decimal | None = None, commission: Decimal = _ZERO, reason: str | None = None,
    ) -> ExecEvent:
        return ExecEvent(
            order.order_id, kind, order.symbol, order.side, order.venue_order_id,
            self._next_exec_id(), order.order_type, order.quantity, order.price,
            order.stop_price, last_qty, last_px, order.cum_qty, order.leaves, order.avg_px,
            commission, reason, now,
        )

    def _unknown(self, order_id: str, kind: ExecKind, now: int) -> ExecEvent:
        return ExecEvent(
            order_id, kind, "", OrderSide.BUY, NO_ORDER_ID, self._next_exec_id(),
            OrderType.MARKET, _ZERO, None, None, _ZERO, None, _ZERO, _ZERO, None, _ZERO,
            "unknown order", now,
        )

    def _next_exec_id(self) -> str:
        self._exec_seq += 1
        return f"{self.id_prefix}-E{self._exec_seq:09d}"

    def _next_order_id(self) -> str:
        self._order_seq += 1
        return f"{self.id_prefix}-O{self._order_seq:09d}"

    def _next_arrival(self) -> int:
        self._arrival += 1
        return self._arrival
