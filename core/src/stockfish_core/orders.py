"""Orders, fills, positions and the one order state machine shared by every venue.

Prices and quantities are :class:`decimal.Decimal`. Floats given by a caller are turned
into the Decimal of their shortest repr (``450.1`` becomes ``Decimal("450.1")``, not the
binary expansion), so what the caller wrote is what goes on the wire.
"""

from __future__ import annotations

import enum
import math
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any, ClassVar, TypeVar

import attrs

from .errors import IllegalTransition, InvalidOrderError
from .models import now_ns, ns_to_datetime

__all__ = [
    "FINAL_STATUSES",
    "Execution",
    "Fill",
    "Order",
    "OrderAction",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "OrderUpdate",
    "Position",
    "TimeInForce",
    "average_price",
    "can_transition",
    "check_text",
    "to_decimal",
]


class OrderSide(str, enum.Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1


class OrderType(str, enum.Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"
    #: A stop that follows the market by ``trail_amount`` (a price distance) or
    #: ``trail_percent``: a sell's stop rises with the bid and never falls, a buy's falls
    #: with the ask and never rises; once crossed it is a market order.
    TRAILING_STOP = "TRAILING_STOP"


class TimeInForce(str, enum.Enum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    #: Good till date: rests until ``expire_ns`` (the order's expire time), then the
    #: venue expires it.
    GTD = "GTD"


class OrderStatus(str, enum.Enum):
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    ERROR = "ERROR"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.ERROR}
)

_S = OrderStatus
#: Allowed transitions. A status may always be repeated (venues resend reports), which is
#: not a transition. ERROR means the order broke inside this process, or its venue lost it
#: after acknowledging it: its outcome is unknown either way.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.PENDING: frozenset({_S.SUBMITTED, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED,
                           _S.REJECTED, _S.ERROR}),
    _S.SUBMITTED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.REJECTED,
                             _S.ERROR}),
    _S.PARTIALLY_FILLED: frozenset({_S.FILLED, _S.CANCELLED, _S.ERROR}),
    _S.FILLED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.ERROR: frozenset(),
}


def can_transition(old: OrderStatus, new: OrderStatus) -> bool:
    """Whether an order in ``old`` may move to ``new`` (repeating a status is allowed)."""
    return old is new or new in TRANSITIONS[old]


def to_decimal(value: Any, *, field: str = "value") -> Decimal:
    """Exact Decimal from an int, str, Decimal or float (by its shortest repr)."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise InvalidOrderError(f"{field} must be a number, got {value!r}")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidOrderError(f"{field} must be finite, got {value!r}")
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidOrderError(f"{field} must be a number, got {value!r}") from None
    else:
        raise InvalidOrderError(f"{field} must be a number, got {type(value).__name__}")
    if not result.is_finite():
        raise InvalidOrderError(f"{field} must be finite, got {value!r}")
    return result


def check_text(value: Any, field: str, *, optional: bool = True) -> None:
    """Refuse text that would corrupt a wire: every character printable. Control
    characters (NUL separates the TWS protocol's fields, SOH FIX's, a newline ends a log
    line) and line or paragraph separators are refused with InvalidOrderError."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidOrderError(f"{field} must be a string, got {type(value).__name__}")
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        raise InvalidOrderError(
            f"{field} must be printable text; {value!r} holds {bad!a} at "
            f"position {value.index(bad)}")


#: Enough digits for a sum of price*quantity products to stay exact (a Decimal product
#: or sum is exact as long as its digits fit the context's precision).
_EXACT = Context(prec=200)


def _trim(value: Decimal) -> Decimal:
    """``value`` without trailing zeros after the point (an integer keeps its digits:
    ``100``, not ``1E+2``)."""
    trimmed = value.normalize(_EXACT)
    return trimmed.quantize(Decimal(1)) if trimmed.as_tuple().exponent > 0 else trimmed  # type: ignore[operator]


_E = TypeVar("_E", bound=enum.Enum)


def _member(cls: type[_E], value: Any) -> _E:
    if isinstance(value, cls):
        return value
    try:
        return cls(value.upper() if isinstance(value, str) else value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in cls)
        raise InvalidOrderError(f"{cls.__name__} must be one of {allowed}; got {value!r}") from None


# attrs converters (named functions, so that type checkers understand them)
def _side(value: Any) -> OrderSide:
    return _member(OrderSide, value)


def _type(value: Any) -> OrderType:
    return _member(OrderType, value)


def _tif(value: Any) -> TimeInForce:
    return _member(TimeInForce, value)


def _qty(value: Any) -> Decimal:
    return to_decimal(value, field="quantity")


def _price(value: Any) -> Decimal:
    return to_decimal(value, field="price")


def _commission(value: Any) -> Decimal:
    return to_decimal(value, field="commission")


def _opt_price(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value, field="price")


def _opt_stop(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value, field="stop_price")


def _opt_avg(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value, field="avg_fill_price")


def _opt_trail_amount(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value, field="trail_amount")


def _opt_trail_percent(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value, field="trail_percent")


def _opt_time_ns(value: Any) -> int | None:
    """An expire time: integer nanoseconds since the epoch, or an aware datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidOrderError(f"expire_ns: a datetime needs a time zone, got {value!r}")
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 \
            + delta.microseconds * 1_000
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOrderError("expire_ns must be nanoseconds since the epoch (int) or an "
                                f"aware datetime, got {type(value).__name__}")
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@attrs.define(slots=True, eq=False, on_setattr=attrs.setters.NO_OP)
class Order:
    """An order, from creation to its final status.

    ``Order("SPY", OrderSide.BUY, 100, OrderType.LIMIT, price=450.0)``. The manager
    assigns ``client_order_id`` when the order is sent; ``order_id`` is the same value.
    Invalid orders raise :class:`~stockfish_core.errors.InvalidOrderError` here, when the
    order is built; after that its fields change through the manager only (the state
    machine, fills, ``replace_order``), never by assignment from outside.
    """

    symbol: str
    side: OrderSide = attrs.field(converter=_side)
    quantity: Decimal = attrs.field(converter=_qty)
    order_type: OrderType = attrs.field(default=OrderType.MARKET, converter=_type)
    price: Decimal | None = attrs.field(default=None, converter=_opt_price)
    stop_price: Decimal | None = attrs.field(default=None, converter=_opt_stop)
    time_in_force: TimeInForce = attrs.field(
        default=TimeInForce.DAY, converter=_tif
    )
    client_order_id: str | None = None
    connector: str | None = None
    account: str | None = None
    status: OrderStatus = OrderStatus.PENDING
    filled_quantity: Decimal = attrs.field(default=Decimal(0), converter=_qty)
    avg_fill_price: Decimal | None = attrs.field(default=None, converter=_opt_avg)
    venue_order_id: str | None = None
    reason: str | None = None
    #: True while the order went to a venue that dropped before acknowledging it; such an
    #: order is never re-sent elsewhere and waits for reconciliation with that venue.
    outcome_unknown: bool = False
    created_ns: int = attrs.field(factory=now_ns)
    updated_ns: int = 0
    #: A TRAILING_STOP's distance from the market, as a price difference...
    trail_amount: Decimal | None = attrs.field(default=None, converter=_opt_trail_amount)
    #: ...or as a percentage of the price (``1.5`` is 1.5%); give one of the two.
    trail_percent: Decimal | None = attrs.field(default=None, converter=_opt_trail_percent)
    #: A GTD order's expire time, nanoseconds since the epoch (an aware datetime is
    #: converted); it must lie in the future when the order is sent.
    expire_ns: int | None = attrs.field(default=None, converter=_opt_time_ns)
    #: The exact sum of price * quantity over the order's fills (never serialised: rebuilt
    #: from the fills, or from ``avg_fill_price * filled_quantity`` when unknown).
    _fill_notional: Decimal | None = attrs.field(default=None, init=False, repr=False)

    #: Significant digits of ``avg_fill_price``: exact when the average of the fills
    #: (the exact sum of price * quantity over the exact filled quantity) has at most
    #: this many, else rounded once, half even. Never a sum of rounded averages.
    AVG_PRICE_DIGITS: ClassVar[int] = 20

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise InvalidOrderError(f"symbol must be a non-empty string, got {self.symbol!r}")
        check_text(self.symbol, "symbol", optional=False)
        check_text(self.account, "account")
        check_text(self.client_order_id, "client_order_id")
        if self.quantity <= 0:
            raise InvalidOrderError(f"quantity must be positive, got {self.quantity}")
        if self.price is not None and self.price <= 0:
            raise InvalidOrderError(f"price must be positive, got {self.price}")
        if self.stop_price is not None and self.stop_price <= 0:
            raise InvalidOrderError(f"stop_price must be positive, got {self.stop_price}")
        needs_price = self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_price and self.price is None:
            raise InvalidOrderError(f"a {self.order_type.value} order needs a price")
        if needs_stop and self.stop_price is None:
            raise InvalidOrderError(f"a {self.order_type.value} order needs a stop_price")
        if self.order_type is OrderType.MARKET and self.price is not None:
            raise InvalidOrderError("a MARKET order takes no price; use LIMIT")
        if self.order_type is OrderType.STOP and self.price is not None:
            raise InvalidOrderError("a STOP order takes no price; use STOP_LIMIT for a stop "
                                    "with a limit price")
        if not needs_stop and self.stop_price is not None:
            raise InvalidOrderError(f"a {self.order_type.value} order takes no stop_price")
        self._check_trail()
        if self.time_in_force is TimeInForce.GTD and self.expire_ns is None:
            raise InvalidOrderError("a GTD order needs an expire time (expire_ns)")
        if self.time_in_force is not TimeInForce.GTD and self.expire_ns is not None:
            raise InvalidOrderError(f"expire_ns is for GTD orders, not "
                                    f"{self.time_in_force.value}")

    def _check_trail(self) -> None:
        amount, percent = self.trail_amount, self.trail_percent
        if self.order_type is not OrderType.TRAILING_STOP:
            if amount is not None or percent is not None:
                raise InvalidOrderError(f"a {self.order_type.value} order takes no trail; "
                                        "use TRAILING_STOP")
            return
        if self.price is not None:
            raise InvalidOrderError("a TRAILING_STOP order takes no price")
        if (amount is None) == (percent is None):
            raise InvalidOrderError("a TRAILING_STOP order needs trail_amount or "
                                    "trail_percent (one of them)")
        if amount is not None and amount <= 0:
            raise InvalidOrderError(f"trail_amount must be positive, got {amount}")
        if percent is not None and not 0 < percent < 100:
            raise InvalidOrderError(f"trail_percent must be between 0 and 100, got {percent}")

    @property
    def expire_time(self) -> datetime | None:
        """``expire_ns`` as an aware UTC datetime (None without one)."""
        return None if self.expire_ns is None else ns_to_datetime(self.expire_ns)

    @property
    def order_id(self) -> str | None:
        """The client order id (None until the manager sends the order)."""
        return self.client_order_id

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_open(self) -> bool:
        return not self.is_final

    def transition(self, new: OrderStatus, *, at_ns: int | None = None) -> bool:
        """Move to ``new``; returns False if it already was there, raises if illegal."""
        old = self.status
        if old is new:
            return False
        if new not in TRANSITIONS[old]:
            raise IllegalTransition(
                f"order {self.client_order_id or self.symbol}: {old.value} -> {new.value} "
                "is not allowed"
            )
        self.status = new
        self.updated_ns = at_ns or now_ns()
        return True

    def apply_fill(self, fill: Fill) -> None:
        """Add a fill to the filled quantity and average price (does not change status)."""
        new_qty = self.filled_quantity + fill.quantity
        if new_qty > self.quantity:
            raise IllegalTransition(
                f"order {self.client_order_id}: fill {fill.execution_id} of {fill.quantity} "
                f"overfills ({self.filled_quantity} of {self.quantity} already filled)"
            )
        notional = self._fill_notional
        if notional is None:  # an order read back without its fills
            notional = _EXACT.multiply(self.avg_fill_price or Decimal(0), self.filled_quantity)
        notional = _EXACT.add(notional, _EXACT.multiply(fill.price, fill.quantity))
        self._fill_notional = notional
        self.avg_fill_price = average_price(notional, new_qty)
        self.filled_quantity = new_qty

    def replaced(self, quantity: Any = None, price: Any = None,
                 stop_price: Any = None) -> Order:
        """A copy of this order with new terms, validated as a new order is (and the new
        quantity at least the filled one); raises InvalidOrderError. Nothing changes
        here: the venue's acknowledgement changes the order itself."""
        if quantity is None and price is None and stop_price is None:
            raise InvalidOrderError("a replace needs a new quantity, price or stop_price")
        changes: dict[str, Any] = {}
        if quantity is not None:
            changes["quantity"] = to_decimal(quantity, field="quantity")
        if price is not None:
            changes["price"] = to_decimal(price, field="price")
        if stop_price is not None:
            changes["stop_price"] = to_decimal(stop_price, field="stop_price")
        candidate = attrs.evolve(self, **changes)
        if candidate.quantity < self.filled_quantity:
            raise InvalidOrderError(
                f"order {self.client_order_id}: the new quantity {candidate.quantity} must be "
                f"at least the filled quantity {self.filled_quantity}")
        return candidate


def average_price(notional: Decimal, quantity: Decimal) -> Decimal:
    """``notional / quantity`` to :attr:`Order.AVG_PRICE_DIGITS` significant digits,
    rounded once (half even), without trailing zeros."""
    context = Context(prec=Order.AVG_PRICE_DIGITS, rounding=ROUND_HALF_EVEN)
    return _trim(context.divide(notional, quantity))


@attrs.define(slots=True, frozen=True)
class Fill:
    """One execution of one of our orders. ``execution_id`` is unique per venue."""

    client_order_id: str
    execution_id: str
    symbol: str
    side: OrderSide = attrs.field(converter=_side)
    quantity: Decimal = attrs.field(converter=_qty)
    price: Decimal = attrs.field(converter=_price)
    commission: Decimal = attrs.field(default=Decimal(0), converter=_commission)
    connector: str | None = None
    venue_order_id: str | None = None
    timestamp_ns: int = attrs.field(factory=now_ns)

    def __attrs_post_init__(self) -> None:
        if self.quantity <= 0:
            raise InvalidOrderError(f"fill quantity must be positive, got {self.quantity}")
        if self.price <= 0:
            raise InvalidOrderError(f"fill price must be positive, got {self.price}")


@attrs.define(slots=True, frozen=True)
class Execution:
    """A fill as a venue states it, without the order's symbol and side: reported in
    ``OrderUpdate.execution``, it is completed into a :class:`Fill` by the core from the
    order it holds (a plugin need not keep a map of its orders, and a fill for an order
    the plugin has not seen since a restart is not lost)."""

    execution_id: str
    quantity: Decimal = attrs.field(converter=_qty)
    price: Decimal = attrs.field(converter=_price)
    commission: Decimal = attrs.field(default=Decimal(0), converter=_commission)
    venue_order_id: str | None = None
    timestamp_ns: int = attrs.field(factory=now_ns)

    def __attrs_post_init__(self) -> None:
        if not self.execution_id:
            raise InvalidOrderError("an execution needs its execution id")
        if self.quantity <= 0:
            raise InvalidOrderError(f"fill quantity must be positive, got {self.quantity}")
        if self.price <= 0:
            raise InvalidOrderError(f"fill price must be positive, got {self.price}")

    def fill_for(self, order: Order, connector: str | None = None) -> Fill:
        """This execution as a fill of ``order``."""
        return Fill(order.client_order_id or "", self.execution_id, order.symbol, order.side,
                    self.quantity, self.price, self.commission, connector,
                    self.venue_order_id or order.venue_order_id, self.timestamp_ns)


@attrs.define(slots=True)
class Position:
    """Net position in one symbol, its average entry price and realised P&L."""

    symbol: str
    quantity: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)

    def apply(self, fill: Fill) -> None:
        """Update from one fill: average cost on increases, realised P&L on reductions."""
        signed = fill.quantity * fill.side.sign
        self.commission += fill.commission
        if self.quantity == 0 or (self.quantity > 0) == (signed > 0):
            total = self.quantity + signed
            cost = self.avg_price * abs(self.quantity) + fill.price * fill.quantity
            self.avg_price = cost / abs(total)
            self.quantity = total
            return
        closing = min(abs(signed), abs(self.quantity))
        direction = 1 if self.quantity > 0 else -1
        self.realized_pnl += (fill.price - self.avg_price) * closing * direction
        self.quantity += signed
        if self.quantity == 0:
            self.avg_price = Decimal(0)
        elif (self.quantity > 0) != (direction > 0):
            self.avg_price = fill.price  # flipped through zero: the rest opened at this price


class OrderAction(str, enum.Enum):
    """What an execute hook is asked to do."""

    SUBMIT = "submit"
    CANCEL = "cancel"
    REPLACE = "replace"
    #: Ask the venue for the order's current state (reconciliation); the answer comes back
    #: as order updates, or as REJECTED/"unknown order" if the venue never saw it.
    STATUS = "status"


@attrs.frozen
class OrderRequest:
    """The argument of the execute hook. ``quantity``/``price``/``stop_price`` are the
    new values for a REPLACE and None otherwise.

    For a venue whose capabilities say ``brackets``, a SUBMIT of a bracket's order also
    carries ``parent_id`` (the entry's client order id, on the exits), ``oca_group`` (the
    exits' one-cancels-all group) and ``transmit`` (False on every order of the group but
    the last: the venue holds them until it arrives)."""

    action: OrderAction
    order: Order
    quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    parent_id: str | None = None
    oca_group: str | None = None
    transmit: bool = True


@attrs.define(slots=True)
class OrderUpdate:
    """What a plugin reports about one of our orders.

    ``status`` is the order's new status; ``fill`` is set for executions (status then
    PARTIALLY_FILLED or FILLED). For a REPLACE acknowledgement set ``replaced=True`` and
    the new ``quantity``/``price``/``stop_price``. ``reason`` explains rejects and
    cancels. ``possible_duplicate`` marks a resent report (FIX PossDupFlag and the like);
    fills are de-duplicated by execution id in any case.

    The answer to a STATUS request is the order's fills (again, marked
    ``possible_duplicate``) and then its current status; a venue that does not know the
    order answers REJECTED with reason "unknown order".
    """

    client_order_id: str
    status: OrderStatus
    venue_order_id: str | None = None
    fill: Fill | None = None
    reason: str | None = None
    replaced: bool = False
    quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    possible_duplicate: bool = False
    connector: str | None = None
    timestamp_ns: int = attrs.field(factory=now_ns)
    #: Set when the venue refused a CANCEL or REPLACE request (FIX 9, IB error 10147...):
    #: ``status`` is then the order's current, unchanged status and ``reason`` says why.
    rejected_request: OrderAction | None = None
    #: The venue's own totals as of this report, for venues that state them with every
    #: report, in order with the fills (FIX CumQty 14, LeavesQty 151, AvgPx 6); None when
    #: the venue does not say. They are the truth: the core checks its count of the
    #: order's fills against ``cum_qty`` (a disagreement is counted, logged and
    #: reconciled with a STATUS request), fills in what a report without a fill shows
    #: filled beyond its count (at the price that brings the average to ``avg_price``),
    #: and does not apply again a fill that ``cum_qty`` shows it already counted.
    cum_qty: Decimal | None = None
    leaves_qty: Decimal | None = None
    avg_price: Decimal | None = None
    #: A fill stated with the client order id only (an :class:`Execution`): the core
    #: completes it into ``fill`` from the order it holds. Set ``fill`` or this, not both.
    execution: Execution | None = None
