"""The simulated IB back end: markets, matching, orders, executions and positions.

Prices come from the core's :class:`~stockfish_core.sim.market.MarketSimulator` (one per
instrument, on the instrument's tick grid) and orders are matched by the core's
:class:`~stockfish_core.sim.matching.MatchingEngine`. This object outlives the gateway's
socket: while the gateway is stopped the market keeps moving and resting orders keep
filling, as they do at IB when TWS is down; the executions are there for
``reqExecutions`` after the restart. Order ids are never reused.

With a ``state_file`` the back end also survives its process, as IB's servers survive a
TWS that is killed: orders, executions, positions and ids are written to the file
(atomically, before any client hears of a change) and read back when a new back end
starts on the same file; open orders rest in the matching engine again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from stockfish_core.plugin_api import (
    Fill,
    OrderSide,
    OrderType,
    Position,
    TimeInForce,
)
from stockfish_core.sim.market import MarketSimulator, MarketStep
from stockfish_core.sim.matching import ExecEvent, ExecKind, MatchingEngine

from .instruments import Instrument, InstrumentBook, default_instruments
from .state import SimExecution, SimOrder

__all__ = ["BrokerListener", "OrderRefused", "SimBroker"]

log = logging.getLogger("stockfish.ibkr.gateway")

_ORDER_TYPES = {
    "MKT": OrderType.MARKET,
    "LMT": OrderType.LIMIT,
    "STP": OrderType.STOP,
    "STP LMT": OrderType.STOP_LIMIT,
    "TRAIL": OrderType.TRAILING_STOP,
}
_TIFS = {"": TimeInForce.DAY, "DAY": TimeInForce.DAY, "GTC": TimeInForce.GTC,
         "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK, "GTD": TimeInForce.GTD}


def good_till_ns(text: str) -> int | None:
    """Nanoseconds since the epoch of a goodTillDate (``20260101 15:04:05 UTC``,
    ``20260101-15:04:05``; a time without a zone is taken as UTC); None if unreadable."""
    value = text.strip()
    for zone in (" UTC", " GMT", " Etc/UTC"):
        if value.endswith(zone):
            value = value[: -len(zone)]
    for layout in ("%Y%m%d %H:%M:%S", "%Y%m%d-%H:%M:%S"):
        try:
            parsed = datetime.strptime(value, layout).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        return int(parsed.timestamp()) * 1_000_000_000
    return None


_ORDER_FIELDS = ("order_id", "client_id", "perm_id", "action", "quantity", "order_type",
                 "lmt_price", "aux_price", "tif", "account", "order_ref", "outside_rth",
                 "parent_id", "status", "filled", "avg_fill_price", "last_fill_price",
                 "why_held", "warning", "completed_time", "completed_status", "engine_id",
                 "commission", "filled_before", "avg_before", "oca_group", "transmitted",
                 "good_till_date", "trailing_percent")
_EXEC_FIELDS = ("exec_id", "shares", "price", "cum_qty", "avg_price", "time_text",
                "timestamp_ns", "commission", "realized_pnl", "liquidity")


class OrderRefused(Exception):
    """An order or cancel the back end refuses outright, with the TWS error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class BrokerListener(Protocol):
    """Told about market steps and order events (the gateway fans them out)."""

    def on_market(self, instrument: Instrument, step: MarketStep) -> None: ...

    def on_order(self, order: SimOrder, execution: SimExecution | None,
                 error: tuple[int, str] | None) -> None: ...


def ib_time(ns: int) -> str:
    """``20240102 15:04:05 UTC``: the time format of executions with a time zone."""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y%m%d %H:%M:%S UTC")


def commission_for(inst: Instrument, quantity: float, price: float, first: bool) -> float:
    """A fixed-rate IB-like schedule: per share, per contract or a fraction of value."""
    value = quantity * price
    if inst.sec_type == "STK":
        fee = min(max(0.005 * quantity, 1.0 if first else 0.0), 0.01 * value)
    elif inst.sec_type == "CASH":
        fee = max(value * 0.00002, 2.0 if first else 0.0)
    elif inst.sec_type == "FUT":
        fee = 0.85 * quantity
    else:
        fee = max(value * 0.0018, 1.75 if first else 0.0)
    return round(fee, 4)


class SimBroker:
    """IB's servers as the gateway sees them. Synchronous; :meth:`run` steps the market."""

    def __init__(
        self,
        instruments: Iterable[Instrument] | None = None,
        *,
        accounts: Sequence[str] = ("DU1234567",),
        seed: int = 7,
        tick_interval: float | None = 0.05,
        max_fill_qty: float | None = None,
        volatility: float = 1.0,
        first_order_id: int = 1,
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        if not accounts:
            raise ValueError("at least one account is needed")
        self.instruments = InstrumentBook(
            instruments if instruments is not None else default_instruments()
        )
        self.accounts = list(accounts)
        self.seed = seed
        #: Seconds between market steps of :meth:`run`; None: only explicit :meth:`step`.
        self.tick_interval = tick_interval
        self.volatility = volatility
        self.engine = MatchingEngine(
            max_fill_qty=None if max_fill_qty is None else Decimal(repr(max_fill_qty)),
            id_prefix="IBSIM",
        )
        self.listeners: list[BrokerListener] = []
        self.orders: dict[int, SimOrder] = {}  # permId -> order
        self.executions: list[SimExecution] = []
        self.positions: dict[tuple[str, int], Position] = {}
        self._by_client: dict[tuple[int, int], SimOrder] = {}
        self._by_engine: dict[str, SimOrder] = {}
        self._max_order_id: dict[int, int] = {}
        self._next_order_id = first_order_id
        self._next_perm_id = 1_000_000_001
        self._exec_seq = 0
        self._exec_prefix = f"{int(time.time()) & 0xFFFFFFFF:08x}"
        self._markets: dict[int, MarketSimulator] = {}
        self._watchers: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None
        self.steps = 0
        self.state_file = None if state_file is None else Path(state_file)
        if self.state_file is not None and self.state_file.exists():
            self._restore(json.loads(self.state_file.read_text()))

    # -- state file --------------------------------------------------------------------
    def save(self) -> None:
        """Write orders, executions, positions and ids to ``state_file`` (atomically)."""
        if self.state_file is None:
            return
        data = {
            "next_order_id": self._next_order_id, "next_perm_id": self._next_perm_id,
            "exec_seq": self._exec_seq, "exec_prefix": self._exec_prefix,
            "max_order_id": {str(k): v for k, v in self._max_order_id.items()},
            "orders": [{**{f: getattr(o, f) for f in _ORDER_FIELDS},
                        "instrument": o.instrument.con_id} for o in self.orders.values()],
            "executions": [{**{f: getattr(e, f) for f in _EXEC_FIELDS},
                            "perm_id": e.order.perm_id} for e in self.executions],
            "positions": [[account, con_id, str(p.symbol), str(p.quantity), str(p.avg_price),
                           str(p.realized_pnl)]
                          for (account, con_id), p in self.positions.items()],
        }
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.state_file)

    def _restore(self, data: dict[str, Any]) -> None:
        self._next_order_id = data["next_order_id"]
        self._next_perm_id = data["next_perm_id"]
        self._exec_seq = data["exec_seq"]
        self._exec_prefix = data["exec_prefix"]
        self._max_order_id = {int(k): v for k, v in data["max_order_id"].items()}
        for row in data["orders"]:
            inst = self.instruments.by_con_id(row.pop("instrument"))
            if inst is None:
                continue
            order = SimOrder(instrument=inst, **row)
            self.orders[order.perm_id] = order
            self._by_client[(order.client_id, order.order_id)] = order
        for row in data["executions"]:
            owner = self.orders.get(row.pop("perm_id"))
            if owner is not None:
                self.executions.append(SimExecution(order=owner, **row))
        for account, con_id, symbol, qty, avg, pnl in data["positions"]:
            self.positions[(account, con_id)] = Position(symbol, Decimal(qty), Decimal(avg),
                                                         Decimal(pnl))
        for order in self.orders.values():  # working orders rest in the engine again
            if order.is_done or not order.engine_id:
                continue
            order.filled_before, order.avg_before = order.filled, order.avg_fill_price
            self._by_engine[order.engine_id] = order
            self.market(order.instrument)
            self._engine_submit(order, order.quantity - order.filled)

    # -- ids -------------------------------------------------------------------------
    @property
    def next_valid_id(self) -> int:
        """What nextValidId reports: above every order id any client ever used."""
        return self._next_order_id

    # -- markets ---------------------------------------------------------------------
    def market(self, inst: Instrument) -> MarketSimulator:
        market = self._markets.get(inst.con_id)
        if market is None:
            lot = 100 if inst.sec_type in ("STK", "IND") else (
                100_000 if inst.sec_type == "CASH" else 1)
            market = MarketSimulator(
                self.seed, tick_size=Decimal(repr(inst.min_tick)),
                start_prices={inst.key: inst.price}, lot_size=lot, max_lots=10,
                volatility=self.volatility,
            )
            market.add_symbol(inst.key)
            self._markets[inst.con_id] = market
            self._quote_engine(inst, market)
        return market

    def watch(self, inst: Instrument) -> None:
        """Keep stepping ``inst`` (a subscription is on it)."""
        self.market(inst)
        self._watchers[inst.con_id] = self._watchers.get(inst.con_id, 0) + 1

    def unwatch(self, inst: Instrument) -> None:
        count = self._watchers.get(inst.con_id, 0) - 1
        if count > 0:
            self._watchers[inst.con_id] = count
        else:
            self._watchers.pop(inst.con_id, None)

    def active(self) -> list[Instrument]:
        """Instruments stepped by :meth:`step`: watched ones and those with open orders."""
        ids = set(self._watchers)
        ids.update(o.instrument.con_id for o in self._by_engine.values() if not o.is_done)
        found = (self.instruments.by_con_id(i) for i in sorted(ids))
        return [inst for inst in found if inst is not None]

    def step(self, instruments: Iterable[Instrument] | None = None) -> None:
        """Move every active instrument's market one step and match against it."""
        self.steps += 1
        for inst in instruments if instruments is not None else self.active():
            market = self.market(inst)
            step = market.step(inst.key)
            self._quote_engine(inst, market)
            for listener in list(self.listeners):
                listener.on_market(inst, step)

    def set_quote(self, inst: Instrument, bid: float, ask: float, bid_size: float,
                  ask_size: float) -> None:
        """Force a quote into the matching engine (a test's way to cross an order).
        Prices are put on the instrument's tick grid."""
        self.market(inst)
        tick = Decimal(repr(inst.min_tick))

        def on_grid(price: float) -> Decimal:
            return (Decimal(repr(price)) / tick).quantize(Decimal(1)) * tick

        self._handle(self.engine.set_quote(inst.key, on_grid(bid), on_grid(ask),
                                           Decimal(repr(bid_size)), Decimal(repr(ask_size))))

    def _quote_engine(self, inst: Instrument, market: MarketSimulator) -> None:
        bid, ask, bid_size, ask_size = market.decimal_quote(inst.key)
        self._handle(self.engine.set_quote(inst.key, bid, ask, bid_size, ask_size))

    async def run(self) -> None:
        """Step the market every ``tick_interval`` seconds until cancelled."""
        interval = self.tick_interval
        if interval is None:
            return
        while True:
            try:
                self.step()
            except Exception:
                log.exception("market step failed")
            await asyncio.sleep(interval)

    def start(self) -> None:
        if self._task is None and self.tick_interval is not None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="ibsim-market")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    # -- account ---------------------------------------------------------------------
    #: Initial margin as a fraction of the value, by security type (maintenance: 80% of
    #: it). Rough figures of IB's; a what-if answer is a simulation, not a margin model.
    MARGIN_RATES = {"STK": 0.25, "CASH": 0.03, "FUT": 0.08, "CRYPTO": 1.0}
    NET_LIQUIDATION = 1_000_000.0

    def mark(self, inst: Instrument) -> float:
        """The price positions and what-if orders are valued at (the mid quote)."""
        return float(self.market(inst).quote(inst.key).mid_price or inst.price)

    def _margin(self, inst: Instrument, quantity: float, price: float) -> float:
        rate = self.MARGIN_RATES.get(inst.sec_type, 0.5)
        return abs(quantity) * price * float(inst.multiplier or 1) * rate

    def account_margin(self, account: str) -> float:
        return sum(self._margin(inst, qty, self.mark(inst))
                   for acct, inst, qty, _cost in self.position_rows() if acct == account)

    def account_values(self, account: str) -> list[tuple[str, str]]:
        """(tag, value) in USD, as account updates and account summaries report them."""
        init = self.account_margin(account)
        net = self.NET_LIQUIDATION
        return [("NetLiquidation", f"{net:.2f}"), ("TotalCashValue", f"{net:.2f}"),
                ("EquityWithLoanValue", f"{net:.2f}"),
                ("BuyingPower", f"{(net - init) * 4:.2f}"),
                ("AvailableFunds", f"{net - init:.2f}"), ("ExcessLiquidity",
                                                        f"{net - init * 0.8:.2f}"),
                ("InitMarginReq", f"{init:.2f}"), ("MaintMarginReq", f"{init * 0.8:.2f}")]

    def what_if(self, inst: Instrument, account: str, action: str, quantity: float,
                price: float | None) -> dict[str, str]:
        """The margin and commission an order would bring, without placing it (IB's
        what-if answer: the order's OrderState)."""
        at = price if price is not None and price > 0 else self.mark(inst)
        held = sum(qty for acct, i, qty, _c in self.position_rows()
                   if acct == account and i.con_id == inst.con_id)
        signed = quantity if action == "BUY" else -quantity
        before = self.account_margin(account)
        change = (self._margin(inst, held + signed, self.mark(inst))
                  - self._margin(inst, held, self.mark(inst)))
        equity = self.NET_LIQUIDATION
        fee = commission_for(inst, quantity, at, True)
        return {
            "initMarginBefore": f"{before:.2f}", "maintMarginBefore": f"{before * 0.8:.2f}",
            "equityWithLoanBefore": f"{equity:.2f}", "initMarginChange": f"{change:.2f}",
            "maintMarginChange": f"{change * 0.8:.2f}", "equityWithLoanChange": "0.00",
            "initMarginAfter": f"{before + change:.2f}",
            "maintMarginAfter": f"{(before + change) * 0.8:.2f}",
            "equityWithLoanAfter": f"{equity:.2f}", "commission": repr(fee),
            "minCommission": repr(fee), "maxCommission": repr(fee),
            "commissionCurrency": inst.currency,
        }

    # -- orders ----------------------------------------------------------------------
    def order(self, client_id: int, order_id: int) -> SimOrder | None:
        return self._by_client.get((client_id, order_id))

    def note_order_id(self, client_id: int, order_id: int) -> None:
        """An order id was used (even by a refused order): it is never valid again."""
        if order_id > self._max_order_id.get(client_id, 0):
            self._max_order_id[client_id] = order_id
        self._next_order_id = max(self._next_order_id, order_id + 1)
        self.save()

    def place(self, client_id: int, order_id: int, inst: Instrument, action: str,
              quantity: float, order_type: str, lmt_price: float | None,
              aux_price: float | None, tif: str, account: str, order_ref: str,
              outside_rth: bool = False, *, oca_group: str = "", transmit: bool = True,
              parent_id: int = 0, good_till_date: str = "",
              trailing_percent: float | None = None) -> SimOrder:
        """A new order (raises OrderRefused for what TWS refuses before accepting).

        ``transmit=False`` holds the order untransmitted until an order of its group
        (itself, its parent or a child of it) is placed with ``transmit=True``. A child
        (``parent_id``) works only once its parent has filled, and is cancelled with it;
        the first fill of one child cancels its siblings (TWS's bracket). The first fill
        of a member of an ``oca_group`` cancels the others."""
        if order_id <= 0:
            raise OrderRefused(103, f"Duplicate order id {order_id}")
        if order_id <= self._max_order_id.get(client_id, 0):
            raise OrderRefused(103, "Duplicate order id")
        kind = _ORDER_TYPES.get(order_type)
        tif_e = _TIFS.get(tif)
        side = OrderSide.BUY if action == "BUY" else OrderSide.SELL if action == "SELL" else None
        account = account or self.accounts[0]
        self.note_order_id(client_id, order_id)
        perm_id = self._next_perm_id
        self._next_perm_id += 1
        order = SimOrder(order_id, client_id, perm_id, inst, action, quantity, order_type,
                         lmt_price, aux_price, tif or "DAY", account, order_ref, outside_rth,
                         parent_id, oca_group=oca_group, transmitted=transmit,
                         good_till_date=good_till_date, trailing_percent=trailing_percent)
        parent = self._by_client.get((client_id, parent_id)) if parent_id else None
        self.orders[perm_id] = order
        self._by_client[(client_id, order_id)] = order
        problem = None
        if side is None:
            problem = f"Invalid action {action!r}"
        elif kind is None:
            problem = f"Order type {order_type!r} is not supported"
        elif tif_e is None:
            problem = f"Time in force {tif!r} is not supported"
        elif tif_e is TimeInForce.GTD and good_till_ns(good_till_date) is None:
            problem = f"Invalid goodTillDate {good_till_date!r} for a GTD order"
        elif kind is OrderType.TRAILING_STOP and not (aux_price or trailing_percent):
            problem = "A TRAIL order needs a trailing amount (auxPrice) or trailingPercent"
        elif inst.sec_type == "IND":
            problem = f"{inst.key} is an index and cannot be traded"
        elif account not in self.accounts:
            problem = f"Account {account!r} is not managed by this login"
        elif parent_id and (parent is None or (parent.is_done and parent.status != "Filled")):
            problem = f"Parent order {parent_id} is not working"
        if problem is not None:
            order.status = "Inactive"
            order.warning = problem
            self._notify(order, None, (201, f"Order rejected - reason:{problem}"))
            return order
        if not transmit:
            order.status = "PreSubmitted"
            self._notify(order, None, None)
            return order
        self._transmit(parent if parent is not None else order)
        return order

    def _children(self, parent: SimOrder) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.parent_id == parent.order_id
                and o.client_id == parent.client_id and o is not parent]

    def _transmit(self, root: SimOrder) -> None:
        """Transmit an order and its children: the root works at once, the children once
        it has filled."""
        root.transmitted = True
        if not root.is_done and not root.engine_id:
            self._work(root)
        for child in self._children(root):
            child.transmitted = True
            if child.is_done or child.engine_id:
                continue
            if root.status == "Filled":
                self._work(child)
            else:
                child.status = "PreSubmitted"
                self._notify(child, None, None)

    def _work(self, order: SimOrder) -> None:
        """Hand a transmitted order to the matching engine."""
        engine_id = str(order.perm_id)
        order.engine_id = engine_id
        self._by_engine[engine_id] = order
        self.market(order.instrument)
        self._engine_submit(order, order.quantity)

    def _engine_submit(self, order: SimOrder, quantity: float) -> None:
        """The order (its ``quantity`` still to fill) into the matching engine: a TRAIL's
        trail from auxPrice or trailingPercent, a GTD's expire time from goodTillDate (the
        engine expires it on the market steps once it has passed)."""
        kind = _ORDER_TYPES[order.order_type]
        price = order.lmt_price if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        stop = order.aux_price if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        trail = percent = None
        if kind is OrderType.TRAILING_STOP:
            if order.trailing_percent:
                percent = Decimal(repr(order.trailing_percent))
            elif order.aux_price:
                trail = Decimal(repr(order.aux_price))
        tif = _TIFS[order.tif]
        self._handle(self.engine.submit(
            order.engine_id, order.instrument.key,
            OrderSide.BUY if order.action == "BUY" else OrderSide.SELL,
            Decimal(repr(quantity)), kind,
            None if price is None else Decimal(repr(price)),
            None if stop is None else Decimal(repr(stop)), tif, trail_amount=trail,
            trail_percent=percent,
            expire_ns=good_till_ns(order.good_till_date) if tif is TimeInForce.GTD else None,
        ))

    def _drop(self, order: SimOrder, why: str) -> None:
        """Cancel an order the engine does not hold (untransmitted or waiting for its
        parent)."""
        order.status = "Cancelled"
        self._complete(order, why)
        self._notify(order, None, (202, f"Order Canceled - reason:{why}"))

    def _stop(self, order: SimOrder, why: str) -> None:
        if order.is_done:
            return
        if order.engine_id:
            self._handle(self.engine.cancel(order.engine_id))
        else:
            self._drop(order, why)

    def _family_done(self, order: SimOrder) -> None:
        """After an order's fill or end: children of a filled parent work; children of a
        parent that ended unfilled are cancelled; a fill cancels the rest of its OCA
        group."""
        if order.filled > 0 and order.oca_group:
            for other in list(self.orders.values()):
                if other is not order and other.oca_group == order.oca_group \
                        and other.account == order.account:
                    self._stop(other, f"OCA group {order.oca_group} filled")
        parent = self._by_client.get((order.client_id, order.parent_id)) \
            if order.parent_id else None
        if order.filled > 0 and parent is not None:  # a bracket's children: one cancels all
            for sibling in self._children(parent):
                if sibling is not order:
                    self._stop(sibling, f"bracket sibling {order.order_id} filled")
        if order.status == "Filled":
            for child in self._children(order):
                if child.transmitted and not child.is_done and not child.engine_id:
                    self._work(child)
        elif order.is_done:
            for child in self._children(order):
                self._stop(child, f"parent {order.order_id} {order.status}")

    def modify(self, order: SimOrder, quantity: float, lmt_price: float | None,
               aux_price: float | None) -> None:
        """placeOrder with an existing id: a modification (engine replace)."""
        if order.is_done or not order.engine_id:
            raise OrderRefused(104, f"Cannot modify a filled order. Order {order.order_id} "
                                    f"is {order.status}")
        qty = None if quantity == order.quantity else Decimal(repr(quantity))
        price = None if lmt_price in (None, order.lmt_price) else Decimal(repr(lmt_price))
        stop = None if aux_price in (None, order.aux_price) else Decimal(repr(aux_price))
        if qty is None and price is None and stop is None:
            self._notify(order, None, None)
            return
        self._handle(self.engine.replace(order.engine_id, qty, price, stop))

    def cancel(self, client_id: int, order_id: int) -> None:
        order = self._by_client.get((client_id, order_id))
        if order is None:
            raise OrderRefused(10147, f"OrderId {order_id} that needs to be cancelled is "
                                      "not found.")
        if order.is_done:
            raise OrderRefused(161, "Cancel attempted when order is not in a cancellable "
                                    f"state. Order permId ={order.perm_id}")
        if not order.engine_id:  # held: untransmitted or waiting for its parent
            self._drop(order, "Cancelled by API")
            for child in self._children(order):
                self._stop(child, f"parent {order.order_id} cancelled")
            return
        self._handle(self.engine.cancel(order.engine_id))

    def cancel_all(self) -> None:
        for order in list(self._by_engine.values()):
            if not order.is_done:
                self._handle(self.engine.cancel(order.engine_id))

    def open_orders(self, client_id: int | None = None) -> list[SimOrder]:
        return [o for o in self.orders.values()
                if not o.is_done and (client_id is None or o.client_id == client_id)]

    def completed_orders(self) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.is_done]

    def executions_for(self, client_id: int | None) -> list[SimExecution]:
        """Executions of one client's orders (all of them for client 0 / None)."""
        if not client_id:
            return list(self.executions)
        return [e for e in self.executions if e.order.client_id == client_id]

    # -- engine events -----------------------------------------------------------------
    def _handle(self, events: list[ExecEvent]) -> None:
        for event in events:
            order = self._by_engine.get(event.order_id)
            if order is None:
                continue
            try:
                self._apply(order, event)
            except Exception:
                log.exception("applying %s to %s failed", event.kind.value, order.describe())

    def _apply(self, order: SimOrder, event: ExecEvent) -> None:
        kind = event.kind
        if kind is ExecKind.NEW:
            order.status = "Submitted" if self._triggered(order) else "PreSubmitted"
            self._notify(order, None, None)
        elif kind is ExecKind.REPLACED:
            order.quantity = float(event.quantity)
            order.lmt_price = float(event.price) if event.price is not None else order.lmt_price
            if order.order_type != "TRAIL":  # a TRAIL's auxPrice is its trail, not its stop
                order.aux_price = (float(event.stop_price) if event.stop_price is not None
                                   else order.aux_price)
            order.status = "Submitted" if self._triggered(order) else "PreSubmitted"
            self._notify(order, None, None)
        elif event.is_fill:
            self._fill(order, event)
        elif kind is ExecKind.CANCELLED:
            order.status = "ApiCancelled" if order.status == "PreSubmitted" else "Cancelled"
            self._complete(order, "Cancelled by API")
            self._notify(order, None, (202, "Order Canceled - reason:"))
            self._family_done(order)
        elif kind is ExecKind.EXPIRED:
            order.status = "Cancelled"
            self._complete(order, event.reason or "expired")
            self._notify(order, None, (202, f"Order Canceled - reason:{event.reason or ''}"))
            self._family_done(order)
        elif kind is ExecKind.REJECTED:
            order.status = "Inactive"
            order.warning = event.reason or ""
            self._complete(order, f"Rejected: {event.reason}")
            self._notify(order, None, (201, f"Order rejected - reason:{event.reason}"))
            self._family_done(order)
        elif kind is ExecKind.CANCEL_REJECTED:
            self._notify(order, None, (161, "Cancel attempted when order is not in a "
                                            f"cancellable state. Order permId ={order.perm_id}"))
        elif kind is ExecKind.REPLACE_REJECTED:
            self._notify(order, None, (105, "Order being modified does not match original "
                                            f"order: {event.reason}"))

    def _triggered(self, order: SimOrder) -> bool:
        view = self.engine.order(order.engine_id)
        return view is None or view.triggered

    def _fill(self, order: SimOrder, event: ExecEvent) -> None:
        assert event.last_px is not None
        inst = order.instrument
        shares = float(event.last_qty)
        price = float(event.last_px)
        first = order.filled == 0
        cum = float(event.cum_qty)
        avg = float(event.avg_px) if event.avg_px is not None else price
        order.filled = order.filled_before + cum
        order.avg_fill_price = ((order.avg_before * order.filled_before + avg * cum)
                                / order.filled)
        order.last_fill_price = price
        order.status = "Filled" if event.kind is ExecKind.FILL else "Submitted"
        commission = commission_for(inst, shares, price, first)
        order.commission += commission
        self._exec_seq += 1
        exec_id = f"{self._exec_prefix}.{self._exec_seq:08x}.01.01"
        realized = self._book_position(order, exec_id, event, commission)
        execution = SimExecution(
            exec_id, order, shares, price, order.filled, order.avg_fill_price,
            ib_time(event.timestamp_ns), event.timestamp_ns, commission, realized,
        )
        self.executions.append(execution)
        if order.status == "Filled":
            self._complete(order, "Filled")
        self._notify(order, execution, None)
        self._family_done(order)

    def _book_position(self, order: SimOrder, exec_id: str, event: ExecEvent,
                       commission: float) -> float | None:
        key = (order.account, order.instrument.con_id)
        position = self.positions.get(key)
        if position is None:
            position = self.positions[key] = Position(order.instrument.key)
        before = position.realized_pnl
        assert event.last_px is not None
        position.apply(Fill(str(order.perm_id), exec_id, order.instrument.key, event.side,
                            event.last_qty, event.last_px))
        gained = position.realized_pnl - before
        if gained == 0:
            return None
        multiplier = float(order.instrument.multiplier or 1)
        return round(float(gained) * multiplier - commission, 4)

    def _complete(self, order: SimOrder, why: str) -> None:
        order.completed_time = ib_time(time.time_ns())
        order.completed_status = why

    def _notify(self, order: SimOrder, execution: SimExecution | None,
                error: tuple[int, str] | None) -> None:
        self.save()  # on disk before any client hears of it
        for listener in list(self.listeners):
            listener.on_order(order, execution, error)

    # -- positions -------------------------------------------------------------------
    def position_rows(self) -> list[tuple[str, Instrument, float, float]]:
        """(account, instrument, quantity, average cost incl. multiplier) for every
        position ever held (flat ones with quantity 0, as TWS reports them)."""
        rows = []
        for (account, con_id), pos in self.positions.items():
            inst = self.instruments.by_con_id(con_id)
            if inst is None:
                continue
            multiplier = float(inst.multiplier or 1)
            rows.append((account, inst, float(pos.quantity), float(pos.avg_price) * multiplier))
        return rows
