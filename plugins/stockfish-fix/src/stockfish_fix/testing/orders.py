"""The order side of the FIX exchange simulator: NewOrderSingle, OrderCancelRequest,
OrderCancelReplaceRequest and OrderStatusRequest, handled by the core's matching engine
and answered with execution reports and cancel rejects.

The engine knows an order by one id (``<session>|<first ClOrdID>``); FIX moves it to a new
ClOrdID with every accepted cancel or replace. :class:`OrderDesk` keeps that chain, so
reports carry the ClOrdID the client expects, and a status request may name any ClOrdID
of the chain. It is a part of :class:`~stockfish_fix.testing.FixExchange` and runs under
its lock.
"""

from __future__ import annotations

import collections
import itertools
import time
from decimal import Decimal
from typing import Any

import attrs

from stockfish_core.plugin_api import (
    Fill,
    OrderSide,
    OrderType,
    Position,
    TimeInForce,
    to_decimal,
)
from stockfish_core.sim import ExecEvent, ExecKind, MatchingEngine

from ..messages import (
    ORD_TYPE_FROM_FIX,
    SIDE_FROM_FIX,
    TIME_IN_FORCE_FROM_FIX,
    decimal_text,
    utc_timestamp_ns,
)
from ..requests import Body
from . import reports

__all__ = ["OrderDesk", "Owner"]

Trades = list[tuple[str, str, str]]
_ORD_STATUS_OF_KIND = {ExecKind.EXPIRED: "C"}


@attrs.define(slots=True, eq=False)
class Owner:
    """Who an engine order belongs to, and the ClOrdID it goes by now."""

    session: str
    cl_ord_id: str
    tif: TimeInForce | None


class OrderDesk:
    """Order requests against the matching engine (mixed into FixExchange)."""

    engine: MatchingEngine
    symbols: set[str]
    replenish: bool
    orders_received: collections.deque[tuple[str, str]]
    _owners: dict[str, Owner]
    _aliases: dict[tuple[str, str], str]
    _ids: itertools.count[int]
    _cancel_rejects: int
    _last_trade: dict[str, tuple[str, str]]
    #: Positions of each session's account (session key -> symbol -> position).
    positions: dict[str, dict[str, Position]]

    def _send(self, key: str, mtype: str, body: Body, groups: Any = ()) -> None:
        raise NotImplementedError

    def _publish(self, symbol: str, book: Any, trades: Trades) -> None:
        raise NotImplementedError

    def _after(self, events: list[ExecEvent], trades: dict[str, Trades] | None, *,
               book_changed: set[str]) -> None:
        raise NotImplementedError

    def _expire_at(self, expire_ns: int) -> None:
        raise NotImplementedError

    @staticmethod
    def _begin(key: str) -> str:
        return key.split(":", 1)[0]

    def _new_order(self, key: str, f: dict[str, str]) -> None:
        cl_ord_id = f.get("11", "")
        symbol = f.get("55", "")
        self.orders_received.append((key, cl_ord_id))
        order_id = f"{key}|{cl_ord_id}"
        tif = TIME_IN_FORCE_FROM_FIX.get(f.get("59", "0"))
        if symbol not in self.symbols:
            event = self._refusal(order_id, f, f"unknown symbol {symbol!r}")
            self._report(key, [event], cl_ord_id, None, tif)
            return
        known = order_id in self._owners
        trail: dict[str, Any] = {}
        if f.get("40") == "P":  # pegged: only the trailing stop peg
            if "a" not in f.get("18", "").split() or self._begin(key) == "FIX.4.2":
                event = self._refusal(order_id, f, "a pegged order needs ExecInst a "
                                                   "(trailing stop peg), FIX 4.4 or later")
                self._report(key, [event], cl_ord_id, None, tif)
                return
            offset = abs(to_decimal(f.get("211") or 0))
            trail = ({"trail_percent": offset / 100} if f.get("836") == "1"
                     else {"trail_amount": offset})
        events = self.engine.submit(
            order_id, symbol, SIDE_FROM_FIX.get(f.get("54", ""), f.get("54")),  # type: ignore[arg-type]
            f.get("38"),  # type: ignore[arg-type]
            ORD_TYPE_FROM_FIX.get(f.get("40", ""), f.get("40")),  # type: ignore[arg-type]
            f.get("44"), f.get("99"),  # type: ignore[arg-type]
            tif or f.get("59", "?"),  # type: ignore[arg-type]
            expire_ns=(utc_timestamp_ns(f["126"]) or -1) if f.get("126") else None,
            **trail,
        )
        if events[-1].kind is not ExecKind.REJECTED and f.get("126"):
            self._expire_at(utc_timestamp_ns(f["126"]))
        if not known:
            self._owners[order_id] = Owner(key, cl_ord_id, tif)
            self._aliases[(key, cl_ord_id)] = order_id
        trades = self._report(key, events, cl_ord_id, None, tif)
        if trades:
            self._publish(symbol, None, trades)
        if self.replenish:
            quote = self.engine.quote(symbol)
            if quote is not None:
                events = self.engine.set_quote(symbol, quote.bid, quote.ask, quote.bid_size,
                                               quote.ask_size)
                self._after(events, None, book_changed=set())

    def _refusal(self, order_id: str, f: dict[str, str], reason: str) -> ExecEvent:
        return ExecEvent(
            order_id, ExecKind.REJECTED, f.get("55", ""),
            SIDE_FROM_FIX.get(f.get("54", ""), OrderSide.BUY), "NONE",
            f"{self.engine.id_prefix}-R{next(self._ids)}",
            ORD_TYPE_FROM_FIX.get(f.get("40", ""), OrderType.MARKET),
            to_decimal(f.get("38") or 0), None, None, Decimal(0), None, Decimal(0),
            Decimal(0), None, Decimal(0), reason, time.time_ns(),
        )

    def _cancel_or_replace(self, key: str, f: dict[str, str], *, replace: bool) -> None:
        cl_ord_id, orig = f.get("11", ""), f.get("41", "")
        order_id = self._aliases.get((key, orig), f"{key}|{orig}")
        owner = self._owners.get(order_id)
        if self._cancel_rejects:
            self._cancel_rejects -= 1
            view = self.engine.order(order_id)
            placeholder = self._refusal(order_id, f, "")
            event = attrs.evolve(placeholder, venue_order_id=view.venue_order_id) if view \
                else placeholder
            status = reports.ORD_STATUS[view.status] if view else "8"
            self._send(key, "9", reports.cancel_reject(event, cl_ord_id, orig, replace, status,
                                                       "refused on demand"))
            return
        if replace:
            events = self.engine.replace(order_id, **self._changes(order_id, f))
        else:
            events = self.engine.cancel(order_id)
        trades: list[tuple[str, str, str]] = []
        for event in events:
            if event.kind in (ExecKind.CANCEL_REJECTED, ExecKind.REPLACE_REJECTED):
                view = self.engine.order(order_id)
                status = "8" if view is None else _ORD_STATUS_OF_KIND.get(
                    view.last_kind, reports.ORD_STATUS[view.status])
                self._send(key, "9", reports.cancel_reject(event, cl_ord_id, orig, replace,
                                                           status, event.reason))
                continue
            request_orig = None
            if owner is not None and event.kind in (ExecKind.CANCELLED, ExecKind.REPLACED):
                request_orig = owner.cl_ord_id
                owner.cl_ord_id = cl_ord_id
                self._aliases[(key, cl_ord_id)] = order_id
            trades += self._report(key, [event], owner.cl_ord_id if owner else cl_ord_id,
                                   request_orig, owner.tif if owner else None)
        if trades and owner is not None:
            view = self.engine.order(order_id)
            if view is not None:
                self._publish(view.symbol, None, trades)

    def _changes(self, order_id: str, f: dict[str, str]) -> dict[str, Decimal | None]:
        """What a replace request changes (the engine refuses to "change" a field to the
        value it has, or a price the order type does not have)."""
        view = self.engine.order(order_id)
        changes: dict[str, Decimal | None] = {}
        for name, tag in (("quantity", "38"), ("price", "44"), ("stop_price", "99")):
            value = to_decimal(f[tag]) if f.get(tag) else None
            current = getattr(view, name) if view is not None else None
            if value is not None and value != current:
                changes[name] = value
        return changes

    def _status(self, key: str, f: dict[str, str]) -> None:
        cl_ord_id = f.get("11", "")
        order_id = self._aliases.get((key, cl_ord_id))
        view = self.engine.order(order_id) if order_id else None
        exec_id = f"{self.engine.id_prefix}-S{next(self._ids)}"
        begin = self._begin(key)
        if view is None or order_id is None:
            body = reports.unknown_order_report(begin, cl_ord_id, f.get("55", ""),
                                                f.get("54", "1"), exec_id)
        else:
            body = reports.status_report(begin, view, self._owners[order_id].cl_ord_id, exec_id)
        self._send(key, "8", body)

    def _report(self, key: str, events: list[ExecEvent], cl_ord_id: str,
                orig: str | None, tif: TimeInForce | None) -> list[tuple[str, str, str]]:
        """Send execution reports; return the fills among them as trades to publish."""
        trades = []
        begin = self._begin(key)
        for event in events:
            self._send(key, "8", reports.execution_report(begin, event, cl_ord_id, orig, tif))
            if event.is_fill and event.last_px is not None:
                self._book(key, Fill(cl_ord_id, event.exec_id, event.symbol, event.side,
                                     event.last_qty, event.last_px))
                trade = (decimal_text(event.last_px), decimal_text(event.last_qty),
                         event.exec_id)
                self._last_trade[event.symbol] = trade[:2]
                trades.append(trade)
        return trades

    # -- the account -------------------------------------------------------------------
    def _book(self, key: str, fill: Fill) -> None:
        held = self.positions.setdefault(key, {})
        position = held.get(fill.symbol)
        if position is None:
            position = held[fill.symbol] = Position(fill.symbol)
        position.apply(fill)

    def _positions_request(self, key: str, f: dict[str, str]) -> None:
        """RequestForPositions (AN): an AO with the count, then one AP per position."""
        req_id, account = f.get("710", ""), f.get("1", "")
        held = [p for p in self.positions.get(key, {}).values() if p.quantity]
        self._send(key, "AO", reports.positions_ack(req_id, f"P{next(self._ids)}",
                                                    len(held), account))
        day = time.strftime("%Y%m%d", time.gmtime())
        for position in held:
            body, groups = reports.position_report(
                req_id, f"P{next(self._ids)}", len(held), account, position.symbol,
                position.quantity, position.avg_price, day)
            self._send(key, "AP", body, groups)

    def _mass_status(self, key: str, f: dict[str, str]) -> None:
        """OrderMassStatusRequest (AF): a status ExecutionReport of every order of the
        session, each with the MassStatusReqID, TotNumReports and LastRptRequested."""
        req_id = f.get("584", "")
        mine = [(order_id, owner) for order_id, owner in self._owners.items()
                if owner.session == key]
        begin = self._begin(key)
        for n, (order_id, owner) in enumerate(mine, 1):
            view = self.engine.order(order_id)
            if view is None:
                continue
            body = reports.status_report(begin, view, owner.cl_ord_id,
                                         f"{self.engine.id_prefix}-S{next(self._ids)}")
            body += [(584, req_id), (911, str(len(mine))),
                     (912, "Y" if n == len(mine) else "N")]
            self._send(key, "8", body)
