"""What a venue says about the account: its values, its positions, and how they compare
with what this manager counted.

A plugin returns :class:`AccountValues` from ``stockfish_account`` and
:class:`VenuePosition` rows from ``stockfish_positions``; executions since a time are
:class:`~stockfish_core.orders.Fill` objects (``stockfish_executions``). The manager
compares the venue's positions with those its own fills imply and reports every
difference as a :class:`ReconciliationReport`. Amounts are exact Decimals.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from .models import now_ns
from .orders import check_text, to_decimal

__all__ = ["AccountValues", "Instrument", "ReconciliationReport", "VenuePosition"]


def _opt_amount(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value, field="amount")


def _amount(value: Any) -> Decimal:
    return to_decimal(value, field="amount")


def _raw(value: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


@attrs.frozen
class AccountValues:
    """An account's balances as the venue reports them, in ``currency``.

    A field the venue does not report is None; ``raw`` keeps every key/value the venue
    sent (IB's account summary tags, a FIX CollateralReport's fields), as text.
    """

    #: The venue's account id (IB ``DU1234567``, a FIX Account), "" when it has one only.
    account: str = ""
    #: Currency of the amounts.
    currency: str = "USD"
    #: Cash balance.
    cash: Decimal | None = attrs.field(default=None, converter=_opt_amount)
    #: What the account can still buy with (IB BuyingPower).
    buying_power: Decimal | None = attrs.field(default=None, converter=_opt_amount)
    #: Initial margin the open positions require.
    margin: Decimal | None = attrs.field(default=None, converter=_opt_amount)
    #: Net liquidation value: cash plus positions at market.
    equity: Decimal | None = attrs.field(default=None, converter=_opt_amount)
    #: Every key/value the venue reported, as text.
    raw: dict[str, str] = attrs.field(factory=dict, converter=_raw)
    #: When the values were received, nanoseconds since the epoch.
    timestamp_ns: int = attrs.field(factory=now_ns)

    def __attrs_post_init__(self) -> None:
        check_text(self.account, "account", optional=False)
        check_text(self.currency, "currency", optional=False)


@attrs.frozen
class VenuePosition:
    """One position as the venue holds it: signed ``quantity`` (negative: short)."""

    #: The connector's symbol for the instrument (as orders name it).
    symbol: str
    #: Signed quantity held.
    quantity: Decimal = attrs.field(converter=_amount)
    #: Average cost per unit (without the contract multiplier), None if not given.
    avg_cost: Decimal | None = attrs.field(default=None, converter=_opt_amount)
    #: Market value of the position, where the venue gives it.
    market_value: Decimal | None = attrs.field(default=None, converter=_opt_amount)
    #: The venue's account id, "" when it has one only.
    account: str = ""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise ValueError(f"a position needs a symbol, got {self.symbol!r}")
        check_text(self.symbol, "symbol", optional=False)


@attrs.frozen
class ReconciliationReport:
    """A position the venue holds differently from what this manager's fills imply.

    ``expected`` is the manager's quantity (the venue's last reported quantity plus the
    fills applied since, or, before the venue first reported, the fills in the journal);
    ``venue`` is what the venue reports now. The manager then follows the venue (its
    positions view shows ``venue``); nothing in the journal is changed.
    """

    connector: str
    symbol: str
    expected: Decimal
    venue: Decimal
    timestamp_ns: int = attrs.field(factory=now_ns)

    @property
    def difference(self) -> Decimal:
        """``venue - expected``."""
        return self.venue - self.expected

    def __str__(self) -> str:
        return (f"{self.connector}: {self.symbol} position at the venue {self.venue}, "
                f"{self.expected} expected here (difference {self.difference:+})")


@attrs.frozen
class Instrument:
    """What a venue says about an instrument: its price and size grid and contract terms.

    A field the venue does not say is None (or "" for text).
    """

    #: The connector's symbol for it (as orders name it).
    symbol: str
    #: Smallest price increment.
    tick_size: Decimal | None = attrs.field(default=None, converter=_opt_amount)
    #: Smallest quantity increment (and order size).
    lot_size: Decimal | None = attrs.field(default=None, converter=_opt_amount)
    #: Contract multiplier (1 for a share).
    multiplier: Decimal = attrs.field(default=Decimal(1), converter=_amount)
    #: Currency prices are in.
    currency: str = ""
    #: The venue's exchange (or the primary exchange of a routed instrument).
    exchange: str = ""
    #: Trading hours as the venue writes them ("" when it does not say).
    trading_hours: str = ""
    #: The venue's own id of the instrument (IB conId, a FIX SecurityID), "" if none.
    venue_id: str = ""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise ValueError(f"an instrument needs a symbol, got {self.symbol!r}")
        for name in ("tick_size", "lot_size"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.multiplier <= 0:
            raise ValueError(f"multiplier must be positive, got {self.multiplier}")

    def on_tick(self, price: Decimal) -> bool:
        """Whether ``price`` is a whole number of ticks (True without a tick size)."""
        return self.tick_size is None or price % self.tick_size == 0
