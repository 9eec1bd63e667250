"""One simulated venue session: the object a ``sim`` connector keeps in ``connector.state``.

A :class:`SimVenue` owns a :class:`~.market.MarketSimulator` and a
:class:`~.matching.MatchingEngine`. While connected, a task on the event loop steps the
market for the active symbols every ``tick_interval``, feeds the quotes to the engine and
the subscribed data to ``connector.feed``. Order reports are delivered later on the loop
(after ``latency``), in order, never inside the execute call.

Switches for tests and demos
----------------------------
* :meth:`SimVenue.drop` -- the connection is lost: status DISCONNECTED, market data stops,
  reports not yet delivered are lost, and requests raise ``VenueUnavailable``. The venue
  itself lives on: its orders are remembered (and may still fill while the market task
  runs), so a STATUS query after reconnecting finds them. Reconnect with the usual
  ``stockfish_disconnect`` + ``stockfish_connect``; as with a real venue, the new session
  has no subscriptions until they are made again (the manager does so on reconnect).
* :meth:`SimVenue.drop_on_next_submit` -- the next submit reaches the engine, then the
  connection drops before any report of it is delivered: the order's outcome is unknown
  to the client until a STATUS query after reconnecting ("order in flight during the
  drop"). Optionally the execute call raises ``ConnectionError`` as well.
* :meth:`SimVenue.reject_orders` -- the next N submits are rejected "rejected on demand".
* :meth:`SimVenue.fail_connects` -- the next N connect attempts raise ``ConnectionError``.
* :meth:`SimVenue.trade_elsewhere` -- a trade in the account that did not come through
  this connector (another front end): it changes the positions and is listed among the
  executions with no client order id.
* :meth:`SimVenue.set_quote` -- set a symbol's quote now: open orders fill against it,
  also while no client is connected (their reports are then lost, as a venue's are for
  a client that is away; the executions and positions keep them).
* :meth:`SimVenue.attach` -- hand the venue, with its orders and account, to another
  connector (a manager restarted against the same venue).

The account: ``cash`` and ``positions`` at start come from the config; every fill moves
them. ``stockfish_account``, ``stockfish_positions`` and ``stockfish_executions`` answer
from it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..accounts import AccountValues, VenuePosition
from ..connector import Connector, Subscription
from ..errors import OrderRejected, VenueUnavailable
from ..fills.reports import order_update, view_update
from ..models import DataType
from ..orders import (
    Fill,
    OrderAction,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderUpdate,
    Position,
    to_decimal,
)
from ..tasks import cancel_and_wait
from .market import MarketSimulator, parse_interval
from .matching import NO_ORDER_ID, ExecEvent, ExecKind, MatchingEngine, OrderView

if TYPE_CHECKING:
    from .plugin import SimConfig

__all__ = ["SUPPORTED_DATA", "SimVenue"]

log = logging.getLogger("stockfish.sim")

SUPPORTED_DATA: frozenset[DataType] = frozenset(
    {DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.OHLCV_BAR, DataType.TRADE}
)
_MAX_DEPTH = 1000


def _session_token() -> str:
    """A short token that differs between runs, so execution ids never repeat."""
    n = time.time_ns() // 1_000_000
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out


class SimVenue:
    """The simulated venue behind one ``sim`` connector (see the module docs)."""

    def __init__(self, connector: Connector, config: SimConfig) -> None:
        self.connector = connector
        self.config = config
        prefix = config.id_prefix or f"{connector.name}-{_session_token()}"
        self.engine = MatchingEngine(
            commission_per_unit=config.commission_per_unit,
            slippage_bps=config.slippage_bps,
            max_fill_qty=config.max_fill_qty,
            id_prefix=prefix,
        )
        self.market = MarketSimulator(
            config.seed,
            tick_size=config.tick_size,
            start_prices=config.start_prices,
            default_price=config.default_price,
            volatility=config.volatility,
            trade_probability=config.trade_probability,
        )
        self.subscriptions: set[Subscription] = set()
        #: Symbols the market steps: subscribed ones and every symbol ever ordered.
        self.active: dict[str, None] = {}
        self._ticks: set[str] = set()
        self._trades: set[str] = set()
        self._books: dict[str, int] = {}
        self._bars: dict[str, set[str]] = {}
        self._traded: set[str] = set()
        self.sequences: dict[str, int] = {}
        #: Every fill report per order, for STATUS queries (reconciliation).
        self.fills: dict[str, list[ExecEvent]] = {}
        self.connected = False
        self.dropped = False
        self._drop_next_submit: bool | None = None  # None: off; else raise or not
        self._fail_connects = 0
        self._task: asyncio.Task[None] | None = None
        self._pending: collections.deque[tuple[float, list[OrderUpdate]]] = collections.deque()
        self._last_due = 0.0
        self.steps = 0
        #: The account: cash, positions, and every execution, oldest first.
        self.cash = Decimal(config.cash)
        self.holdings: dict[str, Position] = {}
        self.execution_log: list[Fill] = []
        self._elsewhere = 0
        for symbol, qty in config.positions.items():
            quantity = to_decimal(qty, field=f"positions.{symbol}")
            price = to_decimal(config.start_prices.get(symbol, config.default_price))
            self.holdings[symbol] = Position(symbol, quantity, price)
            self.cash -= quantity * price

    # -- switches ----------------------------------------------------------------------
    def drop(self, reason: str = "simulated connection loss") -> None:
        """Lose the connection now (see the module docs)."""
        if not self.connected:
            return
        log.warning("sim connector %s: %s", self.connector.name, reason)
        self.connected = False
        self.dropped = True
        self._pending.clear()
        self.connector.report_lost(reason)

    def drop_on_next_submit(self, *, raise_error: bool = False) -> None:
        """The next submit reaches the venue, then the connection drops before its ack."""
        self._drop_next_submit = raise_error

    def reject_orders(self, n: int) -> None:
        """Reject the next ``n`` submits with reason "rejected on demand"."""
        self.engine.reject_next = n

    def fail_connects(self, n: int) -> None:
        """Make the next ``n`` connect attempts fail with ``ConnectionError``."""
        self._fail_connects = n

    def trade_elsewhere(self, symbol: str, side: str | OrderSide, quantity: Any,
                        price: Any) -> Fill:
        """A trade in the account placed elsewhere (not through this connector)."""
        self._elsewhere += 1
        fill = Fill("", f"{self.engine.id_prefix}-X{self._elsewhere}", symbol, side, quantity,
                    price, connector=self.connector.name)
        self._book(fill)
        return fill

    def set_quote(self, symbol: str, bid: Any, ask: Any, size: Any = 1_000_000) -> None:
        """Set ``symbol``'s quote now; open orders fill against it (see the module docs)."""
        self._ensure_market(symbol)
        events = self.engine.set_quote(symbol, to_decimal(bid), to_decimal(ask),
                                       to_decimal(size), to_decimal(size))
        self._record(events)
        if self.connected:
            self._schedule(events)

    def attach(self, connector: Connector) -> None:
        """Serve ``connector`` from now on (its ``state``), with this venue's orders and
        account; the connector named before is let go."""
        if self.connected:
            raise RuntimeError("disconnect the venue before attaching it to another connector")
        self.connector = connector
        connector.state = self

    # -- account -----------------------------------------------------------------------
    def _book(self, fill: Fill) -> None:
        position = self.holdings.get(fill.symbol)
        if position is None:
            position = self.holdings[fill.symbol] = Position(fill.symbol)
        position.apply(fill)
        self.cash -= fill.quantity * fill.price * fill.side.sign + fill.commission
        self.execution_log.append(fill)

    def _mark(self, symbol: str) -> Decimal:
        quote = self.engine.quote(symbol)
        if quote is not None:
            return (quote.bid + quote.ask) / 2
        held = self.holdings.get(symbol)
        return held.avg_price if held is not None else Decimal(0)

    def account(self) -> AccountValues:
        """Cash, margin, buying power and equity, positions valued at the mid quote."""
        value = sum((p.quantity * self._mark(s) for s, p in self.holdings.items()),
                    Decimal(0))
        gross = sum((abs(p.quantity) * self._mark(s) for s, p in self.holdings.items()),
                    Decimal(0))
        margin = gross * self.config.margin_rate
        equity = self.cash + value
        rate = self.config.margin_rate
        buying = (equity - margin) / rate if rate else equity - margin
        return AccountValues("SIM", "USD", cash=self.cash, buying_power=max(buying, Decimal(0)),
                             margin=margin, equity=equity,
                             raw={"cash": self.cash, "margin": margin, "equity": equity,
                                  "positions_value": value})

    def venue_positions(self) -> list[VenuePosition]:
        """The account's positions; reports of fills made before are delivered first."""
        if self.connected:
            self._drain(flush=True)
        return [VenuePosition(s, p.quantity, p.avg_price, p.quantity * self._mark(s), "SIM")
                for s, p in self.holdings.items() if p.quantity]

    def executions(self, since_ns: int) -> list[Fill]:
        """The account's executions at or after ``since_ns``, oldest first."""
        return [f for f in self.execution_log if f.timestamp_ns >= since_ns]

    # -- session -----------------------------------------------------------------------
    async def connect(self) -> None:
        conn = self.connector
        conn.report_connecting()
        if self._fail_connects > 0:
            self._fail_connects -= 1
            conn.report_failed("simulated connect failure")
            raise ConnectionError(f"sim connector {conn.name}: simulated connect failure")
        await self._stop_task()
        loop = asyncio.get_running_loop()
        self.connected = True
        self.dropped = False
        self._task = loop.create_task(self._run(), name=f"sim-market-{conn.name}")
        conn.report_connected()

    async def disconnect(self) -> None:
        if self.connected:
            self._drain(flush=True)
        self.connected = False
        await self._stop_task()
        # Like a real venue, a new session starts with no subscriptions: the manager
        # subscribes again after every reconnect. Orders live on in the engine.
        for sub in list(self.subscriptions):
            self.unsubscribe(sub)
        self.connector.report_closed()

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait([task])

    # -- subscriptions -----------------------------------------------------------------
    def subscribe(self, sub: Subscription) -> None:
        self._check(sub)
        if sub.data_type is DataType.OHLCV_BAR:
            self.market.add_bars(sub.symbol, self._interval(sub))
        self.subscriptions.add(sub)
        self.market.add_symbol(sub.symbol)
        self._reindex()

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)
        self._reindex()
        if sub.data_type is DataType.OHLCV_BAR:
            interval = self._interval(sub)
            if interval not in self._bars.get(sub.symbol, ()):
                self.market.remove_bars(sub.symbol, interval)

    def _check(self, sub: Subscription) -> None:
        if not isinstance(sub.symbol, str) or not sub.symbol.strip():
            raise ValueError(f"sim: symbol must be a non-empty string, got {sub.symbol!r}")
        if sub.data_type not in SUPPORTED_DATA:
            supported = ", ".join(sorted(d.value for d in SUPPORTED_DATA))
            raise ValueError(f"sim serves {supported}; not {sub.data_type.value}")
        if sub.depth is not None and not 1 <= sub.depth <= _MAX_DEPTH:
            raise ValueError(f"sim: depth must be 1..{_MAX_DEPTH}, got {sub.depth}")
        if sub.data_type is DataType.OHLCV_BAR:
            parse_interval(self._interval(sub))

    @staticmethod
    def _interval(sub: Subscription) -> str:
        return sub.interval or "1m"

    def _reindex(self) -> None:
        ticks: set[str] = set()
        trades: set[str] = set()
        books: dict[str, int] = {}
        bars: dict[str, set[str]] = {}
        for sub in self.subscriptions:
            sym = sub.symbol
            if sub.data_type is DataType.PRICE_TICK:
                ticks.add(sym)
            elif sub.data_type is DataType.TRADE:
                trades.add(sym)
            elif sub.data_type is DataType.ORDERBOOK_SNAPSHOT:
                books[sym] = max(books.get(sym, 0), sub.depth or self.config.depth)
            else:
                bars.setdefault(sym, set()).add(self._interval(sub))
        self._ticks, self._trades, self._books, self._bars = ticks, trades, books, bars
        wanted = {s.symbol: None for s in sorted(self.subscriptions, key=str)}
        wanted.update(dict.fromkeys(sorted(self._traded)))
        self.active = wanted

    # -- market loop -------------------------------------------------------------------
    async def _run(self) -> None:
        interval = self.config.tick_interval
        while True:
            await asyncio.sleep(interval)
            try:
                self.step()
            except Exception:  # one bad tick must not stop the market
                log.exception("sim connector %s: market step failed", self.connector.name)

    def step(self) -> None:
        """One tick: move every active symbol, match, and feed the subscribed data."""
        self.steps += 1
        now = time.time_ns()
        market, engine = self.market, self.engine
        batch: list[Any] = []
        reports: list[ExecEvent] = []
        feeding = self.connected
        for sym in self.active:
            result = market.step(sym, now)
            bid, ask, bid_size, ask_size = market.decimal_quote(sym)
            reports.extend(engine.set_quote(sym, bid, ask, bid_size, ask_size))
            if not feeding:
                continue
            if sym in self._ticks:
                batch.append(result.tick)
            depth = self._books.get(sym)
            if depth:
                batch.append(market.book(sym, depth))
            if result.trade is not None and sym in self._trades:
                batch.append(result.trade)
            if result.bars:
                wanted = self._bars.get(sym, ())
                batch.extend(b for b in result.bars if b.interval in wanted)
        if reports:
            self._record(reports)
            if feeding:
                self._schedule(reports)
        if batch:
            self.connector.feed(batch)

    # -- orders ------------------------------------------------------------------------
    def execute(self, request: OrderRequest) -> None:
        conn = self.connector
        if not self.connected:
            state = "dropped" if self.dropped else "not connected"
            raise VenueUnavailable(f"sim connector {conn.name} is {state}; reconnect first")
        order = request.order
        coid = order.client_order_id
        if not coid:
            raise OrderRejected("the order has no client_order_id")
        action = request.action
        if action is OrderAction.SUBMIT:
            self._ensure_market(order.symbol)
            events = self.engine.submit(
                coid, order.symbol, order.side, order.quantity, order.order_type,
                order.price, order.stop_price, order.time_in_force,
                trail_amount=order.trail_amount, trail_percent=order.trail_percent,
                expire_ns=order.expire_ns,
            )
            self._record(events)
            drop_mode, self._drop_next_submit = self._drop_next_submit, None
            if drop_mode is not None:
                self.drop("simulated connection loss with an order in flight")
                if drop_mode:
                    raise ConnectionError(
                        f"sim connector {conn.name}: connection lost while sending {coid}"
                    )
                return
            self._schedule(events)
        elif action is OrderAction.CANCEL:
            self._schedule(self.engine.cancel(coid))
        elif action is OrderAction.REPLACE:
            events = self.engine.replace(
                coid, quantity=request.quantity, price=request.price,
                stop_price=request.stop_price,
            )
            self._record(events)
            self._schedule(events)
        elif action is OrderAction.STATUS:
            self._enqueue(self._status_updates(request))
        else:  # pragma: no cover - OrderAction is closed
            raise OrderRejected(f"sim does not support {action!r}")

    def _ensure_market(self, symbol: str) -> None:
        if symbol in self._traded or not isinstance(symbol, str) or not symbol.strip():
            return
        self._traded.add(symbol)
        self.market.add_symbol(symbol)
        if self.engine.quote(symbol) is None:
            bid, ask, bid_size, ask_size = self.market.decimal_quote(symbol)
            events = self.engine.set_quote(symbol, bid, ask, bid_size, ask_size)
            self._record(events)
            self._schedule(events)
        self._reindex()

    def _record(self, events: list[ExecEvent]) -> None:
        for ev in events:
            if ev.is_fill:
                self.fills.setdefault(ev.order_id, []).append(ev)
                update = self._update(ev)
                if update is not None and update.fill is not None:
                    self._book(update.fill)

    def _status_updates(self, request: OrderRequest) -> list[OrderUpdate]:
        coid = request.order.client_order_id or ""
        view = self.engine.order(coid)
        if view is None:
            return [OrderUpdate(coid, OrderStatus.REJECTED, reason="unknown order")]
        order = request.order
        updates: list[OrderUpdate] = []
        if (view.quantity, view.price, view.stop_price) != (
            order.quantity, order.price, order.stop_price
        ) and view.status is not OrderStatus.REJECTED:
            updates.append(OrderUpdate(
                coid, OrderStatus.SUBMITTED if view.cum_qty == 0 else
                OrderStatus.PARTIALLY_FILLED, view.venue_order_id, replaced=True,
                quantity=view.quantity, price=view.price, stop_price=view.stop_price,
                possible_duplicate=True,
            ))
        for ev in self.fills.get(coid, ()):
            update = self._update(ev)
            if update is not None:
                update.possible_duplicate = True
                updates.append(update)
        last = updates[-1].status if updates else None
        if last is not view.status or not updates:
            updates.append(self._view_update(view))
        return updates

    def _view_update(self, view: OrderView) -> OrderUpdate:
        return view_update(view)

    def _update(self, ev: ExecEvent) -> OrderUpdate | None:
        """The OrderUpdate of one execution report (None for a cancel/replace reject)."""
        return order_update(ev, self.connector.name)

    @staticmethod
    def _is_refusal(ev: ExecEvent) -> bool:
        """A reject that leaves an existing order as it was: a cancel/replace reject, or a
        submit refused because its order id is already taken."""
        return ev.kind in (ExecKind.CANCEL_REJECTED, ExecKind.REPLACE_REJECTED) or (
            ev.kind is ExecKind.REJECTED and ev.venue_order_id == NO_ORDER_ID
        )

    def _reject_update(self, ev: ExecEvent) -> OrderUpdate | None:
        """A refusal (see :meth:`_is_refusal`): an error report, plus the unchanged status
        of the order it concerned, if the venue knows it."""
        what = {ExecKind.CANCEL_REJECTED: "cancel", ExecKind.REPLACE_REJECTED: "replace"}.get(
            ev.kind, "submit"
        )
        self.connector.report_error(
            f"{what} of order {ev.order_id} rejected by the venue: {ev.reason}",
            symbol=ev.symbol or None, code=ev.kind.value,
        )
        view = self.engine.order(ev.order_id)
        if view is None:
            return None
        update = self._view_update(view)
        update.reason = f"{what} rejected: {ev.reason}"
        update.rejected_request = {"cancel": OrderAction.CANCEL, "replace": OrderAction.REPLACE
                                   }.get(what, OrderAction.SUBMIT)
        return update

    # -- delivery ----------------------------------------------------------------------
    def _schedule(self, events: list[ExecEvent]) -> None:
        updates: list[OrderUpdate | ExecEvent] = []
        for ev in events:
            if self._is_refusal(ev):
                updates.append(ev)  # turned into reports at delivery time
                continue
            update = self._update(ev)
            if update is not None:
                updates.append(update)
        self._enqueue(updates)

    def _enqueue(self, updates: list[Any]) -> None:
        if not updates:
            return
        loop = asyncio.get_running_loop()
        due = max(loop.time() + self.config.latency, self._last_due)
        self._last_due = due
        self._pending.append((due, updates))
        if self.config.latency > 0:
            loop.call_at(due, self._drain)
        else:
            loop.call_soon(self._drain)

    def _drain(self, flush: bool = False) -> None:
        if not self.connected:
            self._pending.clear()
            return
        pending = self._pending
        now = asyncio.get_running_loop().time()
        while pending and (flush or pending[0][0] <= now):
            _, items = pending.popleft()
            for item in items:
                update = self._reject_update(item) if isinstance(item, ExecEvent) else item
                if update is not None:
                    self.connector.report_order(update)
                if not self.connected:  # a listener dropped us mid-delivery
                    pending.clear()
                    return

    # -- normalize ---------------------------------------------------------------------
    def next_sequence(self, symbol: str) -> int:
        seq = self.sequences.get(symbol, 0) + 1
        self.sequences[symbol] = seq
        return seq
