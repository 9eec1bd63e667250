"""Brackets and one-cancels-other groups: the venue's own bracket where its capabilities
say ``brackets`` (IBKR: the three orders sent at once with parent_id, oca_group and
transmit in their OrderRequests), emulated by the core elsewhere.

A bracket is an entry order with two exits, a take profit and a stop loss. Emulated, the
exits are held by the core and submitted only once the entry has filled (to the entry's venue, for
the quantity that filled); from then on they form a one-cancels-other pair: the first
fill of either cancels the other. An OCO pair sent on its own behaves the same from the
start.

Limits of the emulation (stated in docs/orders.md): the held exits and the group exist
in this process only. They are not journaled: after a restart the held exits of an entry
not yet filled are gone, and exits already sent are independent orders (nothing cancels
one when the other fills). Between a fill at the venue and the cancel of the sibling
there is one round trip, during which both may fill.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from .errors import InvalidOrderError, OrderRejected
from .orders import Order, OrderAction, OrderStatus, OrderType

if TYPE_CHECKING:
    from .execution import OrderService

log = logging.getLogger("stockfish.manager")

#: The order types a take profit may have, and those a stop loss may have.
TAKE_PROFIT_TYPES = frozenset({OrderType.LIMIT})
STOP_LOSS_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
#: How many exits cancelled before they were sent ``get_order`` still knows (the latest).
KEEP_UNSENT = 1000


@attrs.define
class OrderGroup:
    """A bracket (``parent`` set) or an OCO pair, as the core emulates it."""

    #: "bracket" or "oco".
    kind: str
    #: The entry's client order id (a bracket), else None.
    parent: str | None
    #: The two one-cancels-other orders' client order ids.
    siblings: tuple[str, str]
    #: Exits not yet sent (the entry has not filled), by client order id.
    held: dict[str, Order] = attrs.Factory(dict)
    #: The sibling whose fill cancelled the other, once one filled.
    triggered: str | None = None


def _check_pending(order: Order, role: str) -> None:
    if order.status is not OrderStatus.PENDING:
        raise InvalidOrderError(f"the {role} must be a PENDING order, not {order.status.value}")


class OrderGroups:
    """The emulation: built by the order part, told of every order change."""

    def __init__(self, service: OrderService) -> None:
        self.service = service
        self.groups: dict[str, OrderGroup] = {}
        #: Exits cancelled before they were sent (never journaled), the latest KEEP_UNSENT.
        self.unsent: OrderedDict[str, Order] = OrderedDict()
        #: Counters for ``manager.get_stats()``.
        self.stats = {"brackets": 0, "native_brackets": 0, "oco_groups": 0, "exits_released": 0,
                      "siblings_cancelled": 0, "exits_dropped": 0}

    # ------------------------------------------------------------------ building
    def send_bracket(self, entry: Order, take_profit: Order, stop_loss: Order,
                     connector: str | None) -> tuple[str, str, str]:
        _check_pending(entry, "entry")
        _check_pending(take_profit, "take profit")
        _check_pending(stop_loss, "stop loss")
        for role, exit_ in (("take profit", take_profit), ("stop loss", stop_loss)):
            if exit_.symbol != entry.symbol:
                raise InvalidOrderError(f"the {role} is for {exit_.symbol}, the entry for "
                                        f"{entry.symbol}")
            if exit_.side is entry.side:
                raise InvalidOrderError(f"the {role} must be on the other side of the entry "
                                        f"({entry.side.value})")
            if exit_.quantity != entry.quantity:
                raise InvalidOrderError(f"the {role} quantity {exit_.quantity} is not the "
                                        f"entry's {entry.quantity}")
        if take_profit.order_type not in TAKE_PROFIT_TYPES:
            raise InvalidOrderError("the take profit must be a LIMIT order, not "
                                    f"{take_profit.order_type.value}")
        if stop_loss.order_type not in STOP_LOSS_TYPES:
            raise InvalidOrderError("the stop loss must be a STOP or STOP_LIMIT order, not "
                                    f"{stop_loss.order_type.value}")
        self._name(take_profit, stop_loss)
        venue = self.service.route(entry, connector)
        for role, exit_ in (("take profit", take_profit), ("stop loss", stop_loss)):
            why = self.service.router.eligible(venue.connector, exit_)
            if why is not None:  # found now, not once the entry has filled
                raise OrderRejected(f"the {role} cannot go to {venue.name}, the entry's "
                                    f"connector: {why}")
        if venue.connector.capabilities.brackets:
            return self._native_bracket(entry, take_profit, stop_loss, venue.name)
        entry_id = self.service.submit(entry, venue.name)
        assert take_profit.client_order_id and stop_loss.client_order_id
        group = OrderGroup("bracket", entry_id,
                           (take_profit.client_order_id, stop_loss.client_order_id),
                           {take_profit.client_order_id: take_profit,
                            stop_loss.client_order_id: stop_loss})
        for cid in (entry_id, *group.siblings):
            self.groups[cid] = group
        self.stats["brackets"] += 1
        if entry.is_final:  # refused at once (the venue's answer came while sending)
            self.on_order(entry)
        return entry_id, group.siblings[0], group.siblings[1]

    def _native_bracket(self, entry: Order, take_profit: Order, stop_loss: Order,
                        venue: str) -> tuple[str, str, str]:
        """The venue's own bracket: all three sent now, the last one transmitting the
        group; the venue activates the exits and cancels one when the other fills."""
        entry_id = self.service.submit(entry, venue, transmit=False)
        oca = f"OCA-{entry_id}"
        ids = [entry_id]
        for exit_, transmit in ((take_profit, False), (stop_loss, True)):
            try:
                ids.append(self.service.submit(exit_, venue, parent_id=entry_id,
                                               oca_group=oca, transmit=transmit))
            except OrderRejected:
                log.warning("bracket %s: exit %s refused before sending; cancelling the "
                            "bracket", entry_id, exit_.client_order_id)
                for sent in ids:
                    self.service.request(sent, OrderAction.CANCEL)
                raise
        self.stats["native_brackets"] += 1
        log.info("bracket %s sent to %s natively (exits %s, %s)", entry_id, venue, ids[1],
                 ids[2])
        return ids[0], ids[1], ids[2]

    def send_oco(self, first: Order, second: Order,
                 connector: str | None) -> tuple[str, str]:
        _check_pending(first, "first order")
        _check_pending(second, "second order")
        if first.symbol != second.symbol:
            raise InvalidOrderError(f"an OCO pair is for one symbol, not {first.symbol} and "
                                    f"{second.symbol}")
        self._name(first, second)
        first_id = self.service.submit(first, connector)
        try:
            second_id = self.service.submit(second, connector or first.connector)
        except OrderRejected:
            log.warning("OCO pair: %s refused, %s left working alone",
                        second.client_order_id, first_id)
            raise
        group = OrderGroup("oco", None, (first_id, second_id))
        self.groups[first_id] = self.groups[second_id] = group
        self.stats["oco_groups"] += 1
        for order in (first, second):
            if order.filled_quantity:
                self.on_order(order)
        return first_id, second_id

    def _name(self, *orders: Order) -> None:
        for order in orders:
            if order.client_order_id is None:
                order.client_order_id = self.service.orders.next_id()
            elif order.client_order_id in self.service.orders.orders \
                    or order.client_order_id in self.groups:
                raise ValueError(f"order {order.client_order_id} was already sent")

    # ------------------------------------------------------------------ events
    def held(self, order_id: str) -> Order | None:
        """An exit the core holds (not sent yet, or dropped before it was sent)."""
        group = self.groups.get(order_id)
        held = None if group is None else group.held.get(order_id)
        return held if held is not None else self.unsent.get(order_id)

    def on_order(self, order: Order) -> None:
        """Every change of an order (a fill, a new status): releases a bracket's exits
        when its entry is done, cancels a sibling when the other fills."""
        cid = order.client_order_id or ""
        group = self.groups.get(cid)
        if group is None:
            return
        if cid == group.parent:
            self._entry_changed(group, order)
        elif order.filled_quantity > 0 and group.triggered is None:
            group.triggered = cid
            other = group.siblings[1] if cid == group.siblings[0] else group.siblings[0]
            self._cancel(group, other, f"{cid} filled")
        if order.is_final and all(self._final(c) for c in group.siblings) \
                and (group.parent is None or self._final(group.parent)):
            for member in (group.parent, *group.siblings):
                if member is not None:
                    self.groups.pop(member, None)

    def _final(self, cid: str) -> bool:
        order = self.service.orders.get(cid)
        if order is None:
            group = self.groups.get(cid)
            held = None if group is None else group.held.get(cid)
            return held is None or held.is_final
        return order.is_final

    def _entry_changed(self, group: OrderGroup, entry: Order) -> None:
        if not group.held or not entry.is_final:
            return
        filled = entry.filled_quantity
        if filled <= 0:
            for exit_id in list(group.held):
                self._drop(group, exit_id, f"entry {entry.client_order_id} "
                                           f"{entry.status.value} without a fill")
            return
        exits = [group.held[c] for c in group.siblings if c in group.held]
        for exit_ in exits:
            if filled != exit_.quantity:
                exit_.quantity = Decimal(filled)
        released = 0
        for exit_ in exits:
            exit_id = exit_.client_order_id or ""
            if group.triggered is not None:
                self._drop(group, exit_id, f"{group.triggered} filled")
                continue
            del group.held[exit_id]
            try:
                self.service.submit(exit_, entry.connector)
            except (OrderRejected, ValueError) as exc:
                log.warning("bracket exit %s for entry %s refused: %s", exit_id,
                            entry.client_order_id, exc)
                continue
            released += 1
        self.stats["exits_released"] += released
        log.info("bracket entry %s filled %s on %s: %d exit(s) sent", entry.client_order_id,
                 filled, entry.connector, released)

    def _cancel(self, group: OrderGroup, cid: str, why: str) -> None:
        if cid in group.held:
            self._drop(group, cid, why)
            return
        order = self.service.orders.get(cid)
        if order is None or order.is_final:
            return
        self.stats["siblings_cancelled"] += 1
        log.info("order %s cancelled: one-cancels-other, %s", cid, why)
        self.service.request(cid, OrderAction.CANCEL)

    def _drop(self, group: OrderGroup, cid: str, why: str) -> None:
        order = group.held[cid]
        if order.is_final:
            return
        order.reason = f"not sent: {why}"
        order.transition(OrderStatus.CANCELLED)
        self.stats["exits_dropped"] += 1
        self.unsent[cid] = order
        if len(self.unsent) > KEEP_UNSENT:
            self.unsent.popitem(last=False)
        log.info("bracket exit %s cancelled before it was sent: %s", cid, why)
        self.service.notify(order)

