"""The bodies of the requests the connector sends: NewOrderSingle (D),
OrderCancelRequest (F), OrderCancelReplaceRequest (G), OrderStatusRequest (H) and
MarketDataRequest (V), for FIX 4.2, 4.4 and 5.0 alike (the fields used are the same
tags in all three; 4.2 additionally requires HandlInst).

Each builder returns ``[(tag, value), ...]`` with string values; None values are left
out. Decimals are written with :func:`~stockfish_fix.messages.decimal_text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from stockfish_core.plugin_api import DataType, Order, OrderSide

from .config import FixConfig
from .messages import ORD_TYPE, SIDE, TIME_IN_FORCE, decimal_text, transact_time
from .tracking import TrackedOrder

__all__ = [
    "MD_ENTRY_TYPES",
    "Body",
    "cancel_request",
    "market_data_request",
    "new_order_single",
    "replace_request",
    "status_request",
]

Body = list[tuple[int, "str | None"]]
Terms = Sequence[tuple[int, "str | None"]]

#: MDEntryType (269) asked for per data type: 0 bid, 1 offer, 2 trade.
MD_ENTRY_TYPES: dict[DataType, tuple[str, ...]] = {
    DataType.PRICE_TICK: ("0", "1", "2"),
    DataType.ORDERBOOK_SNAPSHOT: ("0", "1"),
    DataType.TRADE: ("2",),
}


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def _terms(order: TrackedOrder, quantity: Decimal, price: Decimal | None,
           stop_price: Decimal | None, extra: Body) -> Body:
    return [
        (38, decimal_text(quantity)),
        (40, ORD_TYPE[order.order_type]),
        (44, _opt(price)),
        (99, _opt(stop_price)),
        (59, TIME_IN_FORCE[order.time_in_force]),
        *extra,
    ]


def order_terms(order: Order) -> Body:
    """The terms of an order beyond price and quantity, for its NewOrderSingle and every
    replace: a GTD order's ExpireTime (126); a trailing stop's peg, ExecInst (18) a
    (trailing stop peg) and PegOffsetValue (211), below the market for a sell, with
    PegOffsetType (836) 1 (basis points) for a ``trail_percent``."""
    body: Body = []
    if order.expire_ns is not None:
        body.append((126, transact_time(order.expire_ns)))
    amount, percent = order.trail_amount, order.trail_percent
    offset = amount if amount is not None else None if percent is None else percent * 100
    if offset is not None:
        body += [(18, "a"), (211, decimal_text(-offset if order.side is OrderSide.SELL
                                               else offset))]
        if amount is None:
            body.append((836, "1"))
    return body


def new_order_single(config: FixConfig, order: TrackedOrder, extra: Terms = ()) -> Body:
    """``extra``: :func:`order_terms` of the order."""
    body: Body = [
        (11, order.fix_id),
        (1, order.account or config.account),
        (21, config.handl_inst),
        (55, order.symbol),
        (54, SIDE[order.side]),
        (60, transact_time()),
    ]
    body += _terms(order, order.quantity, order.price, order.stop_price, list(extra))
    body += [(tag, value) for tag, value in config.order_fields.items()]
    return body


def cancel_request(config: FixConfig, order: TrackedOrder, cl_ord_id: str) -> Body:
    return [
        (41, order.fix_id),
        (11, cl_ord_id),
        (37, order.venue_order_id),
        (1, order.account or config.account),
        (55, order.symbol),
        (54, SIDE[order.side]),
        (60, transact_time()),
        (38, decimal_text(order.quantity)),
    ]


def replace_request(
    config: FixConfig, order: TrackedOrder, cl_ord_id: str, quantity: Decimal | None,
    price: Decimal | None, stop_price: Decimal | None, extra: Terms = (),
) -> Body:
    """``quantity`` is the new total quantity (filled part included), as in FIX;
    ``extra`` the order's :func:`order_terms`, which a replace repeats."""
    body: Body = [
        (41, order.fix_id),
        (11, cl_ord_id),
        (37, order.venue_order_id),
        (1, order.account or config.account),
        (21, config.handl_inst),
        (55, order.symbol),
        (54, SIDE[order.side]),
        (60, transact_time()),
    ]
    body += _terms(
        order,
        order.quantity if quantity is None else quantity,
        order.price if price is None else price,
        order.stop_price if stop_price is None else stop_price,
        list(extra),
    )
    return body


def status_request(order: TrackedOrder) -> Body:
    return [
        (11, order.fix_id),
        (37, order.venue_order_id),
        (55, order.symbol),
        (54, SIDE[order.side]),
    ]


def market_data_request(
    md_req_id: str, symbol: str, entry_types: tuple[str, ...], depth: int, *,
    subscribe: bool = True,
) -> tuple[Body, list[tuple[int, int, list[list[tuple[int, str]]]]]]:
    """Snapshot plus incremental updates (263=1, 265=1), or the matching unsubscribe.

    ``depth`` 0 asks for the full book, 1 for the top of book.
    """
    body: Body = [
        (262, md_req_id),
        (263, "1" if subscribe else "2"),
        (264, str(depth)),
        (265, "1"),
    ]
    groups = [
        (267, 269, [[(269, t)] for t in entry_types]),
        (146, 55, [[(55, symbol)]]),
    ]
    return body, groups
