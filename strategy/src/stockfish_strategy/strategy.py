"""The Strategy API: one class, run unchanged in a backtest, on paper and live.

::

    class Crossover(Strategy):
        def on_start(self) -> None:
            self.every("1d", self.rebalance)

        def on_bar(self, bar: OHLCVBar) -> None:
            closes = self.history(bar.symbol, 30)["close"]
            if closes.tail(10).mean() > closes.mean():
                self.order_target(bar.symbol, 10)
            else:
                self.order_target(bar.symbol, 0)

        def on_fill(self, fill: Fill) -> None:
            self.log.info("filled %s %s @ %s", fill.side.value, fill.quantity, fill.price)

A :class:`StrategyRunner` attaches a strategy to an ``ExchangeManager`` as a subscriber:
it keeps the :class:`~.portfolio.Portfolio` from the strategy's fills, checks buying
power before an order leaves (an order that fails is REJECTED with the reason and comes
back through ``on_order_update``), keeps the recent bars for :meth:`Strategy.history`,
fires timers, and isolates the strategy's errors: an exception in a callback is logged
with its traceback, counted and listed; after ``max_consecutive_errors`` in a row, or when
the daily loss or drawdown limit is reached, the strategy is stopped and its open orders
cancelled. The clock is the market's in a backtest (the time of the update being
delivered) and the wall clock live.
"""

from __future__ import annotations

import collections
import itertools
import logging
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from stockfish_core.errors import OrderRejected, StockfishError
from stockfish_core.models import (
    MarketUpdate,
    NewsEvent,
    OHLCVBar,
    OrderBookSnapshot,
    PriceTick,
    Trade,
)
from stockfish_core.orders import (
    Fill,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    to_decimal,
)
from stockfish_core.plugin_api import RateLimitedLog

from .calendar import MarketHours
from .portfolio import DecimalCache, Portfolio

if TYPE_CHECKING:
    import pandas as pd

    from stockfish_core.manager import ExchangeManager

__all__ = ["ErrorRecord", "RiskLimits", "Strategy", "StrategyRunner", "parse_duration"]

_ZERO = Decimal(0)
_BAR_COLUMNS = ["open", "high", "low", "close", "volume"]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | float | timedelta) -> int:
    """Nanoseconds from ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``, seconds or a timedelta."""
    if isinstance(text, timedelta):
        seconds = text.total_seconds()
    elif isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    elif isinstance(text, str) and text[:-1].replace(".", "", 1).isdigit() \
            and text[-1:] in _UNITS:
        seconds = float(text[:-1]) * _UNITS[text[-1]]
    else:
        raise ValueError(f"an interval is a number of seconds or 30s, 5m, 1h, 1d, 1w; "
                         f"got {text!r}")
    if seconds <= 0:
        raise ValueError(f"an interval must be positive, got {text!r}")
    return int(seconds * 1e9)


@attrs.define
class ErrorRecord:
    """One exception raised by a strategy callback."""

    timestamp: datetime
    callback: str
    error: str
    traceback: str


def _optional_decimal(value: object) -> Decimal | None:
    return None if value is None else to_decimal(value, field="limit")


@attrs.frozen
class RiskLimits:
    """Limits that stop the strategy and cancel its open orders when reached."""

    #: Loss since the start of the (UTC) day, in account currency, that stops the strategy.
    daily_loss: Decimal | None = attrs.field(default=None, converter=_optional_decimal)
    #: Drawdown from the highest equity, as a fraction (0.2: 20%), that stops it.
    max_drawdown: Decimal | None = attrs.field(default=None, converter=_optional_decimal)
    #: Callback exceptions in a row that stop it.
    max_consecutive_errors: int = 10


class Strategy:
    """Base class of a strategy: override the callbacks you need; trade with its methods.

    Callbacks (all optional): ``on_start``, ``on_stop``, ``on_bar(bar)``,
    ``on_tick(tick)``, ``on_book(book)``, ``on_trade(trade)``, ``on_news(news)``,
    ``on_order_update(order)``, ``on_fill(fill)``. ``symbols`` (a class attribute or set in
    ``__init__``) names what the strategy trades, when the engine is not told otherwise.
    """

    symbols: list[str] = []
    _runner: StrategyRunner | None = None
    #: How ``stockfish run --strategy`` runs this class (``module:function``).
    stockfish_runtime = "stockfish_strategy.live:attach"

    # -- callbacks -------------------------------------------------------------------
    def on_start(self) -> None:
        """Called once before the first update."""

    def on_stop(self) -> None:
        """Called once at the end (or when the strategy is stopped)."""

    def on_bar(self, bar: OHLCVBar) -> None:
        """A bar closed."""

    def on_tick(self, tick: PriceTick) -> None:
        """A price tick (quote or last price)."""

    def on_book(self, book: OrderBookSnapshot) -> None:
        """An order book snapshot."""

    def on_trade(self, trade: Trade) -> None:
        """A trade printed on the market."""

    def on_news(self, news: NewsEvent) -> None:
        """A news item."""

    def on_order_update(self, order: Order) -> None:
        """One of the strategy's orders changed (acknowledged, filled, rejected...)."""

    def on_fill(self, fill: Fill) -> None:
        """One of the strategy's orders filled (in part)."""

    # -- methods ----------------------------------------------------------------------
    @property
    def runner(self) -> StrategyRunner:
        if self._runner is None:
            raise StockfishError("the strategy is not attached to an engine yet (its "
                                 "methods work from on_start on)")
        return self._runner

    @property
    def log(self) -> logging.Logger:
        """The strategy's logger (``stockfish.strategy.<ClassName>``)."""
        return logging.getLogger(f"stockfish.strategy.{type(self).__name__}")

    @property
    def portfolio(self) -> Portfolio:
        """Cash, equity, positions, realized and unrealized PnL, commissions."""
        return self.runner.portfolio

    def now(self) -> datetime:
        """The time: the market's in a backtest, the wall clock live (UTC)."""
        return self.runner.now()

    def buy(self, symbol: str, quantity: Any, price: Any = None, *, stop_price: Any = None,
            time_in_force: TimeInForce | str = TimeInForce.DAY) -> Order:
        """Buy: a market order, a limit order with ``price``, a stop with ``stop_price``."""
        return self.order(symbol, quantity, price, stop_price=stop_price,
                          time_in_force=time_in_force)

    def sell(self, symbol: str, quantity: Any, price: Any = None, *, stop_price: Any = None,
             time_in_force: TimeInForce | str = TimeInForce.DAY) -> Order:
        """Sell (see :meth:`buy`)."""
        return self.order(symbol, -to_decimal(quantity, field="quantity"), price,
                          stop_price=stop_price, time_in_force=time_in_force)

    def order(self, symbol: str, quantity: Any, price: Any = None, *, stop_price: Any = None,
              time_in_force: TimeInForce | str = TimeInForce.DAY) -> Order:
        """An order of signed ``quantity`` (positive buys, negative sells). Returns the
        order: REJECTED, with its reason, if a risk rule refused it (``on_order_update``
        hears of it too)."""
        qty = to_decimal(quantity, field="quantity")
        if not qty:
            raise ValueError("order quantity must not be 0")
        side = OrderSide.BUY if qty > 0 else OrderSide.SELL
        order_type = (OrderType.STOP_LIMIT if price is not None and stop_price is not None
                      else OrderType.LIMIT if price is not None
                      else OrderType.STOP if stop_price is not None else OrderType.MARKET)
        order = Order(symbol, side, abs(qty), order_type, price=price, stop_price=stop_price,
                      time_in_force=time_in_force)
        return self.runner.send(order)

    def order_target(self, symbol: str, quantity: Any) -> Order | None:
        """Trade towards holding ``quantity`` of ``symbol`` (counting the open orders);
        None if nothing is needed."""
        target = to_decimal(quantity, field="quantity")
        delta = target - self.position(symbol) - self.runner.pending(symbol)
        return self.order(symbol, delta) if delta else None

    def cancel(self, order: Order | str) -> bool:
        """Cancel an open order; False if it is already final."""
        return self.runner.cancel(order if isinstance(order, str) else order.client_order_id)

    def is_market_open(self, exchange: str | None = None) -> bool:
        """Whether ``exchange`` (an exchange_calendars code, e.g. ``"XNYS"``; default the
        engine's ``session``) is in a regular session now (by :meth:`now`)."""
        return self.runner.market_hours(exchange).is_open(self.runner.now_ns())

    def position(self, symbol: str) -> Decimal:
        """The signed quantity held of ``symbol``."""
        return self.runner.portfolio.quantity(symbol)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.runner.open_orders.values()
                if symbol is None or o.symbol == symbol]

    def history(self, symbol: str, n: int | None = None, interval: str | None = None
                ) -> pd.DataFrame:
        """The last ``n`` bars of ``symbol`` seen so far (all of them with no ``n``), as a
        DataFrame indexed by bar time: open, high, low, close, volume."""
        return self.runner.history(symbol, n, interval)

    def every(self, interval: str | float | timedelta,
              callback: Callable[[], Any] | None = None) -> None:
        """Call ``callback`` (default ``self.on_timer``) every ``interval`` of the clock."""
        self.runner.add_timer(parse_duration(interval), callback or self._on_timer)

    def at(self, when: datetime, callback: Callable[[], Any] | None = None) -> None:
        """Call ``callback`` (default ``self.on_timer``) once, when the clock reaches
        ``when`` (a naive datetime is UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        self.runner.add_timer(0, callback or self._on_timer,
                              due_ns=int(when.timestamp() * 1e9))

    def _on_timer(self) -> None:
        self.on_timer()

    def on_timer(self) -> None:
        """The default target of :meth:`every` and :meth:`at`."""


@attrs.define(eq=False)
class _Timer:
    due_ns: int
    interval_ns: int
    callback: Callable[[], Any]


class StrategyRunner:
    """Runs one strategy on a manager (a subscriber); see the module docs.

    ``backtest=True``: the clock is the market's and order ids are numbered from
    ``id_prefix`` (so that two runs are identical); otherwise the wall clock and the
    manager's ids. ``connector``: where orders go (the paper venue in ``--paper``).
    """

    def __init__(self, strategy: Strategy, manager: ExchangeManager, *,
                 portfolio: Portfolio | None = None, backtest: bool = False,
                 connector: str | None = None, limits: RiskLimits | None = None,
                 id_prefix: str = "BT", history_size: int = 10_000,
                 equity_every_ns: int = 60_000_000_000, session: str | None = None) -> None:
        self.strategy = strategy
        self.manager = manager
        self.portfolio = portfolio if portfolio is not None else Portfolio()
        self.backtest = backtest
        self.connector = connector
        self.limits = limits or RiskLimits()
        self.id_prefix = id_prefix
        self.history_size = history_size
        self.equity_every_ns = equity_every_ns
        #: Trade only while this exchange is in session (an exchange_calendars code).
        self.session = session
        self._hours: dict[str, MarketHours] = {}
        if session is not None:
            self.market_hours(session)  # an unknown exchange is an error now, not later
        self.market_ns = 0
        self.orders: dict[str, Order] = {}
        self.open_orders: dict[str, Order] = {}
        self.fills: list[dict[str, Any]] = []
        self.order_log: list[dict[str, Any]] = []
        #: (time ns, equity, cash) points: on every bar, every fill, and at most once per
        #: ``equity_every_ns`` of market time otherwise.
        self.equity: list[tuple[int, Decimal, Decimal]] = []
        self.errors: list[ErrorRecord] = []
        self.consecutive_errors = 0
        self.stopped_reason: str | None = None
        self.running = False
        self._bars: dict[tuple[str, str], collections.deque[OHLCVBar]] = {}
        #: Marks as Decimals, each price converted once.
        self._decimal = DecimalCache()
        self._timers: list[_Timer] = []
        self._seq = 0
        self._peak = self.portfolio.initial_cash
        self._day: int | None = None
        self._day_start = self.portfolio.initial_cash
        self._last_equity_ns = 0
        self.log = logging.getLogger("stockfish.strategy")
        #: Tracebacks are logged at most 5 a second per callback and error type; every
        #: error is counted and listed all the same.
        self._error_log = RateLimitedLog(self.log, interval=1.0, burst=5)
        strategy._runner = self

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self.running = True
        self.manager.add_subscriber(self)
        self._call("on_start")

    def stop(self, reason: str | None = None) -> None:
        """Stop the strategy: no more callbacks; with a reason, its open orders are
        cancelled (a limit was reached, too many errors)."""
        if not self.running:
            return
        if reason is not None:
            self.stopped_reason = reason
            self.log.error("strategy %s stopped: %s; cancelling %d open order(s)",
                           type(self.strategy).__name__, reason, len(self.open_orders))
            for order_id in list(self.open_orders):
                self.cancel(order_id)
        self._call("on_stop")
        self.running = False
        self._record_equity(force=True)

    # -- clock -----------------------------------------------------------------------
    def now_ns(self) -> int:
        return self.market_ns if self.backtest else time.time_ns()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ns() / 1e9, tz=timezone.utc)

    def add_timer(self, interval_ns: int, callback: Callable[[], Any], *,
                  due_ns: int | None = None) -> None:
        start = self.now_ns()
        self._timers.append(_Timer(due_ns if due_ns is not None else start + interval_ns,
                                   interval_ns, callback))

    def _fire_timers(self, now: int) -> None:
        for timer in list(self._timers):
            while self.running and timer.due_ns <= now:
                self._call_fn(getattr(timer.callback, "__name__", "timer"), timer.callback)
                if not timer.interval_ns:
                    self._timers.remove(timer)
                    break
                timer.due_ns += timer.interval_ns

    def market_hours(self, exchange: str | None) -> MarketHours:
        name = exchange or self.session
        if name is None:
            raise ValueError("which exchange? is_market_open(\"XNYS\"), or give the engine "
                             "a session")
        hours = self._hours.get(name)
        if hours is None:
            hours = self._hours[name] = MarketHours(name)
        return hours

    # -- orders ----------------------------------------------------------------------
    def send(self, order: Order) -> Order:
        if not self.running:
            raise StockfishError(f"the strategy is stopped ({self.stopped_reason or 'ended'})"
                                 "; it sends no more orders")
        if self.backtest:
            self._seq += 1
            order.client_order_id = f"{self.id_prefix}{self._seq:08d}"
            order.created_ns = order.updated_ns = self.market_ns
        position = self.portfolio.positions.get(order.symbol)
        reason = None
        if self.session is not None and not self.market_hours(None).is_open(self.now_ns()):
            reason = f"market closed: {self.session} is not in session at {self.now():%c} UTC"
        reason = reason or self.portfolio.check_buying_power(
            order, None if position is None else position.last_price,
            self.open_orders.values())
        if reason is not None:
            order.reason = reason
            order.transition(OrderStatus.REJECTED, at_ns=self.now_ns() or None)
            self._log_order(order)
            self.log.warning("order %s %s %s refused before it left: %s", order.side.value,
                             order.quantity, order.symbol, reason)
            self._call("on_order_update", order)
            return order
        try:
            order_id = self.manager.send_order(order, self.connector)
        except OrderRejected as exc:  # the manager's own risk checks; the order is REJECTED
            order.reason = order.reason or exc.reason
            self._log_order(order)
            self._call("on_order_update", order)
            return order
        self.orders[order_id] = order
        self.open_orders[order_id] = order
        return order

    def cancel(self, order_id: str | None) -> bool:
        if order_id is None or order_id not in self.open_orders:
            return False
        return bool(self.manager.cancel_order(order_id))

    def pending(self, symbol: str) -> Decimal:
        """The signed quantity still to fill of the open orders of ``symbol``."""
        total = _ZERO
        for order in self.open_orders.values():
            if order.symbol == symbol:
                left = order.quantity - order.filled_quantity
                total += left if order.side is OrderSide.BUY else -left
        return total

    # -- subscriber methods (the manager calls these) --------------------------------
    def on_price_tick(self, update: MarketUpdate) -> None:
        tick: PriceTick = update.payload
        self._advance(update)
        price = tick.last if tick.last is not None else tick.mid_price
        if price is not None:
            self.portfolio.mark(tick.symbol, self._decimal(price))
        self._after_mark(bar=False)
        self._call("on_tick", tick)

    def on_bar(self, update: MarketUpdate) -> None:
        bar: OHLCVBar = update.payload
        self._advance(update)
        key = (bar.symbol, bar.interval)
        bars = self._bars.get(key)
        if bars is None:
            bars = self._bars[key] = collections.deque(maxlen=self.history_size)
        bars.append(bar)
        self.portfolio.mark(bar.symbol, self._decimal(bar.close))
        self._after_mark(bar=True)
        self._call("on_bar", bar)

    def on_orderbook(self, update: MarketUpdate) -> None:
        self._advance(update)
        self._call("on_book", update.payload)

    def on_trade(self, update: MarketUpdate) -> None:
        self._advance(update)
        self._call("on_trade", update.payload)

    def on_news(self, update: MarketUpdate) -> None:
        self._advance(update)
        self._call("on_news", update.payload)

    def on_order_update(self, order: Order) -> None:
        cid = order.client_order_id
        if cid is None or cid not in self.orders:
            return  # another subscriber's order
        if order.is_final:
            self.open_orders.pop(cid, None)
        self._log_order(order)
        self._call("on_order_update", order)

    def on_fill(self, fill: Fill, order: Order) -> None:
        if fill.client_order_id not in self.orders:
            return
        realized = self.portfolio.apply(fill)
        self.fills.append({
            "time": fill.timestamp_ns, "order_id": fill.client_order_id,
            "execution_id": fill.execution_id, "symbol": fill.symbol,
            "side": fill.side.value, "quantity": fill.quantity, "price": fill.price,
            "commission": fill.commission, "realized_pnl": realized,
            "position": self.portfolio.quantity(fill.symbol),
        })
        self._record_equity(force=True, at=fill.timestamp_ns)
        self._check_limits()
        self._call("on_fill", fill)

    # -- internals -------------------------------------------------------------------
    def _advance(self, update: MarketUpdate) -> None:
        ts = update.venue_ts_ns or update.recv_ts_ns
        if ts > self.market_ns:
            self.market_ns = ts
        if self._timers:
            self._fire_timers(self.now_ns())

    def _after_mark(self, *, bar: bool) -> None:
        self._record_equity(force=bar)
        self._check_limits()

    def _record_equity(self, *, force: bool = False, at: int | None = None) -> None:
        now = at if at is not None else self.now_ns()
        if not force and now - self._last_equity_ns < self.equity_every_ns:
            return
        self._last_equity_ns = now
        point = (now, self.portfolio.equity, self.portfolio.cash)
        if self.equity and self.equity[-1][0] == now:
            self.equity[-1] = point
        else:
            self.equity.append(point)

    def _check_limits(self) -> None:
        limits = self.limits
        if not self.running or (limits.daily_loss is None and limits.max_drawdown is None):
            return  # the equity is worked out only when a limit needs it
        equity = self.portfolio.equity
        if equity > self._peak:
            self._peak = equity
        day = self.now_ns() // 86_400_000_000_000
        if day != self._day:
            self._day, self._day_start = day, equity
        if limits.daily_loss is not None and self._day_start - equity >= limits.daily_loss:
            self.stop(f"daily loss limit {limits.daily_loss} reached (equity {equity:.2f}, "
                      f"{self._day_start:.2f} at the start of the day)")
        elif limits.max_drawdown is not None and self._peak > 0 and \
                (self._peak - equity) / self._peak >= limits.max_drawdown:
            self.stop(f"drawdown limit {limits.max_drawdown:%} reached (equity {equity:.2f}, "
                      f"peak {self._peak:.2f})")

    def _log_order(self, order: Order) -> None:
        self.order_log.append({
            "time": self.now_ns(), "order_id": order.client_order_id, "symbol": order.symbol,
            "side": order.side.value, "type": order.order_type.value,
            "quantity": order.quantity, "price": order.price, "stop_price": order.stop_price,
            "status": order.status.value, "filled": order.filled_quantity,
            "reason": order.reason,
        })

    def _call(self, name: str, *args: Any) -> None:
        if not self.running:
            return
        self._call_fn(name, getattr(self.strategy, name), *args)

    def _call_fn(self, name: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - a strategy error costs only its callback
            self.consecutive_errors += 1
            record = ErrorRecord(self.now(), name, f"{type(exc).__name__}: {exc}",
                                 traceback.format_exc())
            self.errors.append(record)
            self._error_log.log(logging.ERROR, f"{name}:{type(exc).__name__}",
                                "strategy %s: %s raised (error %d, %d in a row):\n%s",
                                type(self.strategy).__name__, name, len(self.errors),
                                self.consecutive_errors, record.traceback.rstrip())
            if self.consecutive_errors >= self.limits.max_consecutive_errors:
                self.stop(f"{self.consecutive_errors} errors in a row")
            return
        self.consecutive_errors = 0

    def history(self, symbol: str, n: int | None, interval: str | None) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        if interval is None:
            intervals = [i for (s, i) in self._bars if s == symbol]
            interval = intervals[0] if intervals else "1m"
        held = self._bars.get((symbol, interval), ())
        if n is not None:
            bars = list(itertools.islice(reversed(held), n))[::-1] if n > 0 else []
        else:
            bars = list(held)
        # One float block and an index from int64 nanoseconds: a frame on every bar is
        # what a strategy asks for most, and building it column by column from lists cost
        # more than the rest of the bar's path.
        values = np.array([(b.open, b.high, b.low, b.close, b.volume) for b in bars],
                          dtype=np.float64).reshape(-1, 5)
        index = pd.DatetimeIndex(
            np.array([b.timestamp_ns for b in bars], dtype="datetime64[ns]"),
            dtype=pd.DatetimeTZDtype("ns", "UTC"), name="time")
        return pd.DataFrame(values, columns=_BAR_COLUMNS, index=index)
