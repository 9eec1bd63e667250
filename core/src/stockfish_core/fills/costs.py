"""Commission and slippage models of the fill engine.

A **commission model** gives the total commission of one order from what has filled of
it so far (quantity and notional); the engine charges each fill the difference, so a
minimum or maximum per order holds however the order fills in parts. A **slippage model**
gives the price a marketable order takes from a quote: the touch moved against it.

Both are exact (Decimal). :func:`parse_commission` and :func:`parse_slippage` read the
short text forms the command line and the configuration use::

    per_unit:0.005                     0.005 per unit filled
    per_share:0.005,min=1,max=0.01     IB fixed-like: 0.005 a share, at least 1.00 an
                                       order, at most 1% of the order's value
    bps:1.5                            1.5 basis points of the value filled
    per_order:1                        1.00 per order that fills at all
    bps:2   (slippage)                 the touch moved 2 basis points against the order
    spread:0.5   (slippage)            the touch moved half the spread against the order
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

import attrs

from ..orders import OrderSide, to_decimal

__all__ = [
    "BpsCommission",
    "CommissionModel",
    "FixedBpsSlippage",
    "PerOrderCommission",
    "PerShareCommission",
    "SlippageModel",
    "SpreadFractionSlippage",
    "parse_commission",
    "parse_slippage",
]

_ZERO = Decimal(0)
_BPS = Decimal(10_000)


class CommissionModel(Protocol):
    """The total commission of an order that has filled ``quantity`` for ``notional``."""

    def total(self, quantity: Decimal, notional: Decimal) -> Decimal: ...


class SlippageModel(Protocol):
    """The price a marketable order of ``side`` takes from the quote ``bid``/``ask``."""

    def price(self, side: OrderSide, bid: Decimal, ask: Decimal) -> Decimal: ...


def _decimal(value: object) -> Decimal:
    return to_decimal(value, field="amount")


def _optional_decimal(value: object) -> Decimal | None:
    return None if value is None else to_decimal(value, field="amount")


def _not_negative(_: object, attribute: attrs.Attribute[Any], value: Decimal | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


@attrs.frozen
class PerShareCommission:
    """``rate`` per unit filled, at least ``minimum`` an order (once it fills), at most
    ``maximum_fraction`` of the order's filled value (IB's fixed schedule: 0.005, 1.00,
    0.01). With only ``rate``, a plain per-unit commission."""

    rate: Decimal = attrs.field(converter=_decimal, validator=_not_negative)
    minimum: Decimal = attrs.field(default=_ZERO, converter=_decimal, validator=_not_negative)
    maximum_fraction: Decimal | None = attrs.field(
        default=None, converter=_optional_decimal,
        validator=_not_negative)

    def total(self, quantity: Decimal, notional: Decimal) -> Decimal:
        if quantity <= 0:
            return _ZERO
        fee = max(self.rate * quantity, self.minimum)
        if self.maximum_fraction is not None:
            fee = min(fee, self.maximum_fraction * notional)
        return fee


@attrs.frozen
class BpsCommission:
    """``bps`` basis points of the value filled."""

    bps: Decimal = attrs.field(converter=_decimal, validator=_not_negative)

    def total(self, quantity: Decimal, notional: Decimal) -> Decimal:
        return notional * self.bps / _BPS


@attrs.frozen
class PerOrderCommission:
    """``fee`` per order that fills at all (charged on its first fill)."""

    fee: Decimal = attrs.field(converter=_decimal, validator=_not_negative)

    def total(self, quantity: Decimal, notional: Decimal) -> Decimal:
        return self.fee if quantity > 0 else _ZERO


@attrs.frozen
class FixedBpsSlippage:
    """The touch moved ``bps`` basis points against the order."""

    bps: Decimal = attrs.field(converter=_decimal, validator=_not_negative)

    def __attrs_post_init__(self) -> None:
        if self.bps >= _BPS:
            raise ValueError(f"slippage bps must be below 10000, got {self.bps}")

    def price(self, side: OrderSide, bid: Decimal, ask: Decimal) -> Decimal:
        slip = self.bps / _BPS
        return ask * (1 + slip) if side is OrderSide.BUY else bid * (1 - slip)


@attrs.frozen
class SpreadFractionSlippage:
    """The touch moved ``fraction`` of the bid-ask spread against the order."""

    fraction: Decimal = attrs.field(converter=_decimal, validator=_not_negative)

    def price(self, side: OrderSide, bid: Decimal, ask: Decimal) -> Decimal:
        move = (ask - bid) * self.fraction
        return ask + move if side is OrderSide.BUY else bid - move


def _split(text: str, what: str, forms: str) -> tuple[str, str, dict[str, str]]:
    if not isinstance(text, str) or ":" not in text:
        raise ValueError(f"{what} {text!r}: write {forms}")
    kind, _, rest = text.strip().partition(":")
    first, *options = [p.strip() for p in rest.split(",")]
    named: dict[str, str] = {}
    for option in options:
        key, eq, value = option.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{what} {text!r}: options are key=value, got {option!r}")
        named[key.strip()] = value.strip()
    return kind.strip().lower(), first, named


_COMMISSION_FORMS = ("per_unit:RATE, per_share:RATE[,min=M][,max=FRACTION], bps:BPS or "
                     "per_order:FEE")
_SLIPPAGE_FORMS = "bps:BPS or spread:FRACTION"


def parse_commission(text: str) -> CommissionModel:
    """A commission model from its text form (see the module docs); ValueError if bad."""
    kind, first, named = _split(text, "commission", _COMMISSION_FORMS)
    allowed = {"per_share": {"min", "max"}}.get(kind, set())
    unknown = set(named) - allowed
    if unknown:
        raise ValueError(f"commission {text!r}: unknown option(s) {', '.join(sorted(unknown))}")
    try:
        if kind in ("per_unit", "per_share"):
            return PerShareCommission(first, named.get("min", _ZERO), named.get("max"))
        if kind == "bps":
            return BpsCommission(first)
        if kind == "per_order":
            return PerOrderCommission(first)
    except Exception as exc:  # noqa: BLE001 - a bad number, said with the text it came from
        raise ValueError(f"commission {text!r}: {exc}") from None
    raise ValueError(f"commission {text!r}: unknown model {kind!r}; write {_COMMISSION_FORMS}")


def parse_slippage(text: str) -> SlippageModel:
    """A slippage model from its text form (see the module docs); ValueError if bad."""
    kind, first, named = _split(text, "slippage", _SLIPPAGE_FORMS)
    if named:
        raise ValueError(f"slippage {text!r}: takes no options")
    try:
        if kind == "bps":
            return FixedBpsSlippage(first)
        if kind == "spread":
            return SpreadFractionSlippage(first)
    except Exception as exc:  # noqa: BLE001 - a bad number, said with the text it came from
        raise ValueError(f"slippage {text!r}: {exc}") from None
    raise ValueError(f"slippage {text!r}: unknown model {kind!r}; write {_SLIPPAGE_FORMS}")
