"""The ``paper`` venue: an execution-only connector that fills orders against the market
the manager delivers from the configured feeds, on the core's shared fill engine
(:class:`stockfish_core.fills.MatchingEngine`, the one ``sim`` and the backtester use)::

    connectors:
      ibkr:   {primary: true, ...}           # live data
      paper:
        commission: "per_share:0.005,min=1,max=0.01"
        slippage: "spread:0.5"
        latency: 0.05

Market orders fill at the touch plus slippage, limit orders when the market crosses them,
stops when the market triggers them; by default an order takes at most the size displayed
on its side of the quote (the rest on later quotes). The quote of a symbol is its latest
price tick (bid/ask; the last price when it has no bid/ask), order book (best levels) or
bar (its close), whichever the manager delivered last. Time is the market's: a fill is
stamped with the time of the update it filled against, and ``latency`` is counted in that
time (an order reaches the engine with the first update at least ``latency`` seconds after
the one before it was sent), so the same data give the same fills, replayed or live.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from stockfish_core.__about__ import API_VERSION
from stockfish_core.accounts import AccountValues, VenuePosition
from stockfish_core.connector import Capabilities, Connector, PluginSpec, Subscription
from stockfish_core.errors import OrderRejected, VenueUnavailable
from stockfish_core.fills import (
    NO_ORDER_ID,
    ExecEvent,
    ExecKind,
    MatchingEngine,
    order_update,
    parse_commission,
    parse_slippage,
    view_update,
)
from stockfish_core.models import DataType, MarketUpdate
from stockfish_core.orders import (
    Fill,
    OrderAction,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    TimeInForce,
)
from stockfish_core.plugins import hookimpl

from .portfolio import DecimalCache, Portfolio

__all__ = ["CAPABILITIES", "PaperConfig", "PaperVenue", "venue_of"]

log = logging.getLogger("stockfish.paper")

#: The size of a quote side when fills are not limited by displayed size.
UNLIMITED = Decimal(10) ** 15


def _commission(_: Any, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    parse_commission(value)


def _slippage(_: Any, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    parse_slippage(value)


def _not_negative(_: Any, attribute: attrs.Attribute, value: float) -> None:  # type: ignore[type-arg]
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def _positive(_: Any, attribute: attrs.Attribute, value: float) -> None:  # type: ignore[type-arg]
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value}")


@attrs.frozen
class PaperConfig:
    """Settings of a ``paper`` connector (all optional)."""

    #: Commission model: ``per_unit:RATE``, ``per_share:RATE,min=M,max=FRACTION`` (IB's
    #: fixed schedule: ``per_share:0.005,min=1,max=0.01``), ``bps:BPS`` or ``per_order:FEE``.
    commission: str = attrs.field(default="per_unit:0", validator=_commission)
    #: Slippage model of marketable orders: ``bps:BPS`` (fixed basis points) or
    #: ``spread:FRACTION`` (a fraction of the bid-ask spread).
    slippage: str = attrs.field(default="bps:0", validator=_slippage)
    #: Fill by displayed size: an order takes at most the size quoted on its side, the rest
    #: on later quotes. false: the whole order fills at the touch (bars have no sizes but
    #: their volume).
    partial_fills: bool = True
    #: Delay, in seconds of market time, before an order request reaches the engine.
    latency: float = attrs.field(default=0.0, validator=_not_negative)
    #: Symbols to keep quotes of (default: every symbol delivered).
    symbols: list[str] | None = None
    #: Prefix of venue order ids and execution ids (default: the connector name).
    id_prefix: str | None = None
    #: Starting cash of the paper account, which the account and positions hooks report
    #: with what its fills did to it.
    capital: float = attrs.field(default=100_000.0, validator=_positive)


CAPABILITIES = Capabilities(
    order_types=frozenset(OrderType),  # type: ignore[arg-type]
    time_in_force=frozenset(TimeInForce),  # type: ignore[arg-type]
    replace=True,
)


class PaperVenue:
    """The fill engine behind one ``paper`` connector (``connector.state``)."""

    def __init__(self, connector: Connector, config: PaperConfig) -> None:
        self.connector = connector
        self.config = config
        self.now_ns = 0
        self.engine = MatchingEngine(
            commission=parse_commission(config.commission),
            slippage=parse_slippage(config.slippage),
            clock=self._clock,
            id_prefix=config.id_prefix or connector.name,
        )
        self._symbols = None if config.symbols is None else frozenset(config.symbols)
        self._latency_ns = int(config.latency * 1e9)
        #: Requests waiting for their latency to pass: (due in market time, request).
        self._queued: collections.deque[tuple[int, OrderRequest]] = collections.deque()
        self.fills: dict[str, list[ExecEvent]] = {}
        self.connected = False
        #: Batches of reports handed to the loop and not yet delivered (0 or 1).
        self.in_flight = 0
        #: Those reports, in order.
        self._pending: list[OrderUpdate] = []
        #: Quote prices and sizes as Decimals, each float converted once.
        self._decimal = DecimalCache()
        #: The paper account: cash and positions from the fills (marked when asked).
        self.account_book = Portfolio(self._decimal(config.capital, "capital"))
        #: Quotes the engine refused (crossed, non-positive): counted, logged, left out.
        self.bad_quotes = 0

    def _clock(self) -> int:
        return self.now_ns

    # -- session ---------------------------------------------------------------------
    def connect(self) -> None:
        self.connected = True
        self.connector.report_connected()

    def disconnect(self) -> None:
        self.connected = False
        self.connector.report_closed("disconnected on request")

    # -- the market ------------------------------------------------------------------
    def on_update(self, update: MarketUpdate) -> None:
        """An update the manager delivered: the reports still held for earlier ones,
        the symbol's quote, then what it fills."""
        if self._pending:
            self._report()
        quote = self._quote(update)
        if quote is None:
            return
        symbol, bid, ask, bid_size, ask_size = quote
        self.now_ns = max(self.now_ns, update.venue_ts_ns or update.recv_ts_ns
                          or getattr(update.payload, "timestamp_ns", 0))
        try:
            events = self.engine.set_quote(symbol, bid, ask, bid_size, ask_size)
        except ValueError as exc:
            self.bad_quotes += 1
            self.connector.report_error(f"paper: quote left out: {exc}", symbol=symbol,
                                        data=True)
            return
        self._deliver(events)
        if self._queued:
            self._release()

    def _quote(self, update: MarketUpdate) -> tuple[str, Decimal, Decimal, Decimal,
                                                    Decimal] | None:
        data_type = update.data_type
        payload = update.payload
        symbol = getattr(payload, "symbol", None)
        if symbol is None or (self._symbols is not None and symbol not in self._symbols):
            return None
        unlimited = not self.config.partial_fills
        if data_type is DataType.PRICE_TICK:
            bid, ask = payload.bid, payload.ask
            if bid is None or ask is None:
                if payload.last is None:
                    return None
                bid = ask = payload.last
                bid_size = ask_size = payload.last_size
            else:
                bid_size, ask_size = payload.bid_size, payload.ask_size
        elif data_type is DataType.ORDERBOOK_SNAPSHOT:
            if not payload.bids or not payload.asks:
                return None
            bid, bid_size = payload.bids[0].price, payload.bids[0].size
            ask, ask_size = payload.asks[0].price, payload.asks[0].size
        elif data_type is DataType.OHLCV_BAR:
            bid = ask = payload.close
            bid_size = ask_size = payload.volume or None
        else:
            return None
        big = UNLIMITED
        dec = self._decimal
        return (symbol, dec(bid, "bid"), dec(ask, "ask"),
                big if unlimited or bid_size is None else dec(bid_size, "size"),
                big if unlimited or ask_size is None else dec(ask_size, "size"))

    # -- orders ----------------------------------------------------------------------
    def execute(self, request: OrderRequest) -> None:
        if not self.connected:
            raise VenueUnavailable(f"paper connector {self.connector.name} is not connected")
        if not request.order.client_order_id:
            raise OrderRejected("the order has no client_order_id")
        if self._latency_ns and request.action is not OrderAction.STATUS:
            self._queued.append((self.now_ns + self._latency_ns, request))
            return
        self._apply(request)

    def _release(self) -> None:
        queued = self._queued
        while queued and queued[0][0] <= self.now_ns:
            self._apply(queued.popleft()[1])

    def _apply(self, request: OrderRequest) -> None:
        order = request.order
        coid = order.client_order_id or ""
        action = request.action
        engine = self.engine
        if action is OrderAction.SUBMIT:
            events = engine.submit(coid, order.symbol, order.side, order.quantity,
                                   order.order_type, order.price, order.stop_price,
                                   order.time_in_force, trail_amount=order.trail_amount,
                                   trail_percent=order.trail_percent,
                                   expire_ns=order.expire_ns)
        elif action is OrderAction.CANCEL:
            events = engine.cancel(coid)
        elif action is OrderAction.REPLACE:
            events = engine.replace(coid, quantity=request.quantity, price=request.price,
                                    stop_price=request.stop_price)
        else:
            self._later(self._status(coid))
            return
        self._deliver(events)

    def _status(self, coid: str) -> list[OrderUpdate]:
        view = self.engine.order(coid)
        if view is None:
            return [OrderUpdate(coid, OrderStatus.REJECTED, reason="unknown order")]
        updates: list[OrderUpdate] = []
        for ev in self.fills.get(coid, ()):
            update = order_update(ev, self.connector.name)
            if update is not None:
                update.possible_duplicate = True
                updates.append(update)
        updates.append(view_update(view))
        return updates

    def _deliver(self, events: list[ExecEvent]) -> None:
        if not events:
            return
        updates: list[OrderUpdate] = []
        for ev in events:
            if ev.is_fill:
                self.fills.setdefault(ev.order_id, []).append(ev)
                self.account_book.apply(Fill(
                    ev.order_id, ev.exec_id, ev.symbol, ev.side, ev.last_qty,
                    ev.last_px, ev.commission, self.connector.name, ev.venue_order_id,
                    ev.timestamp_ns))
            if ev.kind in (ExecKind.CANCEL_REJECTED, ExecKind.REPLACE_REJECTED) or (
                    ev.kind is ExecKind.REJECTED and ev.venue_order_id == NO_ORDER_ID):
                update = self._refusal(ev)
            else:
                update = order_update(ev, self.connector.name)
            if update is not None:
                updates.append(update)
        self._later(updates)

    def _refusal(self, ev: ExecEvent) -> OrderUpdate | None:
        what = {ExecKind.CANCEL_REJECTED: "cancel", ExecKind.REPLACE_REJECTED: "replace"}.get(
            ev.kind, "submit")
        self.connector.report_error(
            f"{what} of order {ev.order_id} rejected by the venue: {ev.reason}",
            symbol=ev.symbol or None, code=ev.kind.value)
        view = self.engine.order(ev.order_id)
        if view is None:
            return None
        update = view_update(view)
        update.reason = f"{what} rejected: {ev.reason}"
        update.rejected_request = {"cancel": OrderAction.CANCEL,
                                   "replace": OrderAction.REPLACE}.get(what, OrderAction.SUBMIT)
        return update

    def _later(self, updates: list[OrderUpdate]) -> None:
        """Reports go to the manager never inside a hook call: on the loop's next turn,
        or before the next market update if that comes first (a feed that hands over a
        batch of updates in one turn), so a fill is reported before the market moves on,
        as a venue with no latency would."""
        if not updates:
            return
        if not self._pending:
            self.in_flight += 1
            asyncio.get_running_loop().call_soon(self._report)
        self._pending.extend(updates)

    def _report(self) -> None:
        pending = self._pending
        if not pending:
            return  # delivered already, before a market update
        self._pending = []
        self.in_flight -= 1
        for update in pending:
            self.connector.report_order(update)


    # -- the account -----------------------------------------------------------------
    def _mark(self, symbol: str) -> Decimal:
        """The mid of the symbol's latest quote, else the last fill's price."""
        quote = self.engine.quote(symbol)
        if quote is not None:
            return (quote.bid + quote.ask) / 2
        position = self.account_book.positions[symbol]
        return position.last_price if position.last_price is not None else position.avg_cost

    def account(self) -> AccountValues:
        """Cash and equity (positions at the mid quote); buying power is the cash, as
        the strategy's buying-power rule counts it (no margin)."""
        book = self.account_book
        value = Decimal(0)
        for symbol, position in book.positions.items():
            if position.quantity:
                value += position.quantity * self._mark(symbol)
        equity = book.cash + value
        return AccountValues("PAPER", "USD", cash=book.cash,
                             buying_power=max(book.cash, Decimal(0)), equity=equity,
                             raw={"cash": book.cash, "equity": equity,
                                  "positions_value": value,
                                  "commissions": book.commissions})

    def venue_positions(self) -> list[VenuePosition]:
        """The account's positions; reports of fills made before are delivered first."""
        if self._pending:
            self._report()
        return [VenuePosition(s, p.quantity, p.avg_cost, p.quantity * self._mark(s), "PAPER")
                for s, p in sorted(self.account_book.positions.items()) if p.quantity]


def venue_of(connector: Connector) -> PaperVenue:
    """The connector's :class:`PaperVenue`, created on first use (it survives reconnects)."""
    venue = connector.state
    if not isinstance(venue, PaperVenue):
        config = connector.config if isinstance(connector.config, PaperConfig) else PaperConfig()
        venue = connector.state = PaperVenue(connector, config)
    return venue


@hookimpl
def stockfish_plugin_spec() -> PluginSpec:
    return PluginSpec(
        api_version=API_VERSION,
        config_class=PaperConfig,
        capabilities=CAPABILITIES,
        description="Paper trading: fills against the market of the configured feeds.",
    )


@hookimpl
def stockfish_market_listener(connector: Connector) -> Callable[[MarketUpdate], None]:
    return venue_of(connector).on_update


@hookimpl
def stockfish_connect(connector: Connector) -> None:
    venue_of(connector).connect()


@hookimpl
def stockfish_account(connector: Connector) -> AccountValues:
    """The paper account: cash, equity and buying power at the latest quotes."""
    return venue_of(connector).account()


@hookimpl
def stockfish_positions(connector: Connector) -> list[VenuePosition]:
    """The paper account's positions (reports not yet delivered are delivered first)."""
    return venue_of(connector).venue_positions()


@hookimpl
def stockfish_disconnect(connector: Connector) -> None:
    venue = connector.state
    if isinstance(venue, PaperVenue):
        venue.disconnect()


@hookimpl
def stockfish_subscribe(connector: Connector, subscription: Subscription) -> None:
    raise ValueError(f"paper connector {connector.name} takes orders only; its market is "
                     "what the other connectors deliver")


@hookimpl
def stockfish_execute(connector: Connector, request: OrderRequest) -> None:
    venue_of(connector).execute(request)
