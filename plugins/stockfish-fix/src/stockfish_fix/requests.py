"""The bodies of the requests the connector sends: NewOrderSingle (D),
OrderCancelRequest (F), OrderCancelReplaceRequest (G), OrderStatusRequest (H) and
MarketDataRequest (V), for FIX 4.2, 4.4 and 5.0 alike (the fields used are the same
tags in all three; 4.2 additionally requires HandlInst).

Each builder returns ``[(tag, value), ...]`` with string values; None values are left
out. Decimals are written with :func:`~stockfish_fix.messages.decimal_text`.
"""

from __future__ import annotations

from decimal import Decimal

from stockfish_core.plugin_api import DataType

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

#: MDEntryType (269) asked for per data type: 0 bid, 1 offer, 2 trade.
MD_ENTRY_TYPES: dict[DataType, tuple[str, ...]] = {
    DataType.PRICE_TICK: ("0", "1", "2"),
    DataType.ORDERBOOK_SNAPSHOT: ("0", "1"),
    DataType.TRADE: ("2",),
}


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def _terms(order: TrackedOrder, quantity: Decimal, price: Decimal | None,
           stop_price: Decimal | None, expire_ns: int | None) -> Body:
    return [
        (38, decimal_text(quantity)),
        (40, ORD_TYPE[order.order_type]),
        (44, _opt(price)),
        (99, _opt(stop_price)),
        (59, TIME_IN_FORCE[order.time_in_force]),
        (126, None if expire_ns is None else transact_time(expire_ns)),
    ]


def new_order_single(config: FixConfig, order: TrackedOrder, *,
                     expire_ns: int | None = None) -> Body:
    """``expire_ns``: a GTD order's expire time (ExpireTime 126)."""
    body: Body = [
        (11, order.fix_id),
        (1, order.account or config.account),
        (21, config.handl_inst),
        (55, order.symbol),
        (54, SIDE[order.side]),
        (60, transact_time()),
    ]
    body += _terms(order, order.quantity, order.price, order.stop_price, expire_ns)
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
    price: Decimal | None, stop_price: Decimal | None, *, expire_ns: int | None = None,
) -> Body:
    """``quantity`` is the new total quantity (filled part included), as in FIX;
    ``expire_ns`` a GTD order's expire time, which a replace repeats."""
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
        expire_ns,
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
