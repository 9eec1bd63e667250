"""The fill engine's execution reports as the core's order updates: what a venue built on
the engine (``sim``, ``paper``) hands to ``connector.report_order``."""

from __future__ import annotations

from ..orders import Fill, OrderUpdate
from .events import ExecEvent, ExecKind, OrderView

__all__ = ["order_update", "view_update"]


def order_update(ev: ExecEvent, connector: str) -> OrderUpdate | None:
    """The OrderUpdate of one execution report (None for a cancel/replace reject)."""
    kind = ev.kind
    status = ev.order_status
    if status is None:
        return None
    if ev.is_fill:
        assert ev.last_px is not None
        fill = Fill(
            ev.order_id, ev.exec_id, ev.symbol, ev.side, ev.last_qty, ev.last_px,
            ev.commission, connector, ev.venue_order_id, ev.timestamp_ns,
        )
        return OrderUpdate(ev.order_id, status, ev.venue_order_id, fill=fill,
                           timestamp_ns=ev.timestamp_ns)
    if kind is ExecKind.REPLACED:
        return OrderUpdate(ev.order_id, status, ev.venue_order_id, replaced=True,
                           quantity=ev.quantity, price=ev.price, stop_price=ev.stop_price,
                           timestamp_ns=ev.timestamp_ns)
    reason = ev.reason
    if kind is ExecKind.EXPIRED:
        reason = f"expired: {reason}"
    return OrderUpdate(ev.order_id, status, ev.venue_order_id, reason=reason,
                       timestamp_ns=ev.timestamp_ns)


def view_update(view: OrderView) -> OrderUpdate:
    """An order's current state as an update (the answer to a STATUS query)."""
    reason = view.reason
    if view.last_kind is ExecKind.EXPIRED and reason:
        reason = f"expired: {reason}"
    return OrderUpdate(view.order_id, view.status, view.venue_order_id, reason=reason,
                       possible_duplicate=True)
