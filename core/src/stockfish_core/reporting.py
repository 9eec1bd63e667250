"""Reporting on orders the way the core expects it: the answer to a STATUS request.

The order contract (docs/order-contract.md) in code: a STATUS request is answered with
the order's fills again, each marked ``possible_duplicate`` (the core applies only those
it has not counted, by execution id), then with its current status; an order the venue
does not know is answered REJECTED with the reason :data:`UNKNOWN_ORDER`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from .connector import Connector
from .orders import Execution, Fill, OrderStatus, OrderUpdate

__all__ = ["UNKNOWN_ORDER", "answer_status"]

#: The reason of the REJECTED answer to a STATUS request for an order the venue does not
#: know (it never received it, or forgot it).
UNKNOWN_ORDER = "unknown order"


def answer_status(
    connector: Connector,
    client_order_id: str,
    status: OrderStatus | None,
    *,
    fills: Iterable[Execution | Fill] = (),
    venue_order_id: str | None = None,
    reason: str | None = None,
    cum_qty: Decimal | None = None,
    avg_price: Decimal | None = None,
) -> None:
    """Report the venue's answer to a STATUS request for ``client_order_id``.

    ``status`` is the order's status at the venue, or None when the venue does not know
    the order (reported as REJECTED, reason :data:`UNKNOWN_ORDER`). ``fills`` are every
    execution of the order at the venue, oldest first, reported again marked
    ``possible_duplicate``: the core applies only the ones it has not counted (an order
    filled while the connection was down is reconciled that way). ``cum_qty`` and
    ``avg_price``, when the venue states them, go with the status."""
    if status is None:
        connector.report_order(OrderUpdate(client_order_id, OrderStatus.REJECTED,
                                           venue_order_id=venue_order_id,
                                           reason=reason or UNKNOWN_ORDER))
        return
    for item in fills:
        update = OrderUpdate(client_order_id, OrderStatus.PARTIALLY_FILLED,
                             venue_order_id=venue_order_id, possible_duplicate=True)
        if isinstance(item, Fill):
            update.fill = item
            update.timestamp_ns = item.timestamp_ns
        else:
            update.execution = item
            update.timestamp_ns = item.timestamp_ns
        connector.report_order(update)
    connector.report_order(OrderUpdate(client_order_id, status, venue_order_id=venue_order_id,
                                       reason=reason, cum_qty=cum_qty, avg_price=avg_price))
