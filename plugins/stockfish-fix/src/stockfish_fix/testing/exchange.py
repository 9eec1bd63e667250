"""A FIX exchange simulator: a QuickFIX acceptor on 127.0.0.1 in front of the core's
matching engine and random-walk market (:mod:`stockfish_core.sim`).

One acceptor port serves a FIX.4.2, a FIX.4.4 and a FIXT.1.1 (FIX 5.0SP2) session
(``EXCH`` -> ``CLIENT`` by default). It answers NewOrderSingle, OrderCancelRequest,
OrderCancelReplaceRequest and OrderStatusRequest with execution reports and cancel
rejects, RequestForPositions (AN) with a RequestForPositionsAck and PositionReports and
OrderMassStatusRequest (AF) with a status report of every order of the session (FIX 4.4
and 5.0; every fill moves its session's positions, :meth:`adjust_position` moves them
from elsewhere), SecurityDefinitionRequest (c) with a SecurityDefinition (d) of the
symbol (FIX 4.4 and 5.0; :meth:`define` sets what it says; MinPriceIncrement only in 5.0,
whose dictionary has it), GTD orders (TimeInForce 6) expired at their ExpireTime (126),
trailing stop pegs (OrdType P, ExecInst a, PegOffsetValue 211; FIX 4.4 and 5.0),
and MarketDataRequest with a snapshot and incremental updates (or a reject for a
symbol it does not list). Sequence numbers live in a FileStore, so :meth:`FixExchange.stop`
and :meth:`FixExchange.start` again (or a new exchange on the same ``store_path``)
continue them; the matching engine lives in the object, so a restart of the FIX side keeps
the book and the orders.

Prices move when :meth:`FixExchange.step` is called (or every ``tick_interval`` seconds),
or are set exactly with :meth:`FixExchange.set_quote` / :meth:`FixExchange.set_book`. A
quote's sizes are taken once (the engine's rule); ``replenish=True`` restores them after
every order, for benchmarks that need endless liquidity.
Failures on demand: :meth:`reject_orders`, :meth:`reject_cancels`,
:meth:`business_reject_next`, :meth:`session_reject_next`, :meth:`ignore_next`,
:meth:`drop_before_reports` and :meth:`disconnect`; a ``password`` makes it refuse a
Logon that does not carry it.

Threads: QuickFIX calls back on one thread per connection (a ThreadedSocketAcceptor);
:meth:`step` and the setters may be called from any thread. One lock guards the engine and
is held while reports go out, so reports leave in the order things happened. QuickFIX
holds a session lock while it calls toApp, toAdmin and onLogout: those never take the
exchange's lock.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import quickfix

from stockfish_core.plugin_api import Fill, OrderBookLevel, OrderBookSnapshot, to_decimal
from stockfish_core.sim import ExecEvent, MarketSimulator, MatchingEngine

from ..messages import (
    fields,
    flat,
    new_message,
)
from ..requests import Body
from ..settings import QuickFixSettings, dictionary_settings
from . import reports
from .orders import OrderDesk, Owner
from .publisher import MdSub, Publisher, level_text

__all__ = ["DEFAULT_BEGIN_STRINGS", "FixExchange", "free_port"]

log = logging.getLogger("stockfish.fix.exchange")

DEFAULT_BEGIN_STRINGS = ("FIX.4.2", "FIX.4.4", "FIXT.1.1")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _Application(quickfix.Application):  # type: ignore[misc]
    def __init__(self, exchange: FixExchange) -> None:
        super().__init__()
        self.exchange = exchange

    def onCreate(self, session_id: Any) -> None:
        pass

    def onLogon(self, session_id: Any) -> None:
        self.exchange._on_logon(session_id.toString())

    def onLogout(self, session_id: Any) -> None:
        self.exchange._logged_on.discard(session_id.toString())
        self.exchange._changed.set()

    def toAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def toApp(self, message: Any, session_id: Any) -> None:
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        if message.getHeader().getField(35) == "A":
            self.exchange._check_logon(message)

    def fromApp(self, message: Any, session_id: Any) -> None:
        try:
            self.exchange._on_message(session_id.toString(), message.toString())
        except Exception:
            log.exception("exchange failed to handle %r", message.toString())


class FixExchange(OrderDesk):
    """The simulator (see the module docs). Use as a context manager or start()/close()."""

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        sender_comp_id: str = "EXCH",
        target_comp_id: str = "CLIENT",
        begin_strings: Sequence[str] = DEFAULT_BEGIN_STRINGS,
        symbols: Iterable[str] = ("SPY", "QQQ", "AAPL"),
        start_prices: Mapping[str, float] | None = None,
        seed: int = 0,
        tick_interval: float | None = None,
        book_depth: int = 10,
        max_fill_qty: Decimal | int | None = None,
        commission_per_unit: Decimal | int = 0,
        username: str | None = None,
        password: str | None = None,
        store_path: str | None = None,
        log_path: str | None = None,
        replenish: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.sender_comp_id = sender_comp_id
        self.target_comp_id = target_comp_id
        self.begin_strings = tuple(begin_strings)
        self.tick_interval = tick_interval
        self.book_depth = book_depth
        self.username = username
        self.password = password
        #: Restore the quote's sizes after every new order: liquidity never runs out.
        self.replenish = replenish
        self._own_store = store_path is None
        self.store_path = store_path or tempfile.mkdtemp(prefix="fix-exchange-")
        self.log_path = log_path
        self.engine = MatchingEngine(
            max_fill_qty=None if max_fill_qty is None else Decimal(max_fill_qty),
            commission_per_unit=Decimal(commission_per_unit),
            # Differs between runs, so execution ids never repeat across restarts.
            id_prefix=f"{sender_comp_id}-{time.time_ns() // 1_000_000:x}{os.getpid() % 4096:03x}",
        )
        self.market = MarketSimulator(seed, start_prices=start_prices)
        self.publisher = Publisher()
        self.symbols: set[str] = set()
        #: What a SecurityDefinition says of each symbol (see :meth:`define`).
        self.definitions: dict[str, dict[int, str]] = {}
        self._books: dict[str, OrderBookSnapshot] = {}
        self._last_trade: dict[str, tuple[str, str]] = {}
        self._owners: dict[str, Owner] = {}
        self._aliases: dict[tuple[str, str], str] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._session_ids = {
            quickfix.SessionID(b, sender_comp_id, target_comp_id).toString():
                quickfix.SessionID(b, sender_comp_id, target_comp_id)
            for b in self.begin_strings
        }
        self._logged_on: set[str] = set()
        self.positions = {}
        #: When Logons were refused (time.monotonic()).
        self.logon_refusals: list[float] = []
        self._changed = threading.Event()
        self._logon_count = 0
        self._app = _Application(self)
        self._acceptor: Any = None
        self._ticker: threading.Thread | None = None
        self._stop_ticker = threading.Event()
        self._expiry_timer: threading.Timer | None = None
        self._expiry_at: int | None = None
        #: The NewOrderSingles processed (the latest 100,000): (session, ClOrdID).
        self.orders_received: collections.deque[tuple[str, str]] = collections.deque(
            maxlen=100_000)
        #: The latest application messages received: (session, FIX string).
        self.messages: collections.deque[tuple[str, str]] = collections.deque(maxlen=10_000)
        # Behaviour on demand (counts of messages still to treat so).
        self._cancel_rejects = 0
        self._business_rejects = 0
        self._session_rejects = 0
        self._ignore = 0
        self._drop_before_reports = 0
        for symbol in symbols:
            self.add_symbol(symbol)

    # -- lifecycle ---------------------------------------------------------------------
    def settings(self) -> QuickFixSettings:
        defaults = {
            "ConnectionType": "acceptor",
            "SenderCompID": self.sender_comp_id,
            "TargetCompID": self.target_comp_id,
            "SocketAcceptHost": self.host,
            "SocketAcceptPort": str(self.port),
            "SocketReuseAddress": "Y",
            "SocketNodelay": "Y",
            "FileStorePath": self.store_path,
            "NonStopSession": "Y",
            "PersistMessages": "Y",
            "ValidateUserDefinedFields": "N",
        }
        if self.log_path:
            defaults["FileLogPath"] = self.log_path
        sessions = []
        for begin in self.begin_strings:
            session = {"BeginString": begin, **dictionary_settings(begin, "FIX.5.0SP2")}
            if begin == "FIXT.1.1":
                session["DefaultApplVerID"] = "FIX.5.0SP2"
            if begin == "FIX.4.2":
                session["AllowUnknownMsgFields"] = "Y"  # Username/Password came with 4.3
            sessions.append(session)
        return QuickFixSettings(defaults, tuple(sessions))

    def start(self) -> FixExchange:
        """Start accepting (again, after :meth:`stop`: sequence numbers continue)."""
        if self._acceptor is not None:
            return self
        for key, sid in self._session_ids.items():
            if quickfix.Session.doesSessionExist(sid):
                raise RuntimeError(f"a FIX session {key} already exists in this process")
        settings = self.settings().session_settings()
        logs = quickfix.FileLogFactory(settings) if self.log_path else None
        # The threaded acceptor: SocketAcceptor.stop() in QuickFIX 1.16 races with its own
        # thread (both close the socket server) and crashes now and then.
        acceptor = quickfix.ThreadedSocketAcceptor(
            self._app, quickfix.FileStoreFactory(settings), settings, logs)
        acceptor.start()
        self._acceptor = acceptor
        with self._lock:
            upcoming = self.engine.next_expiry()
            if upcoming is not None:
                self._expire_at(upcoming)
        if self.tick_interval:
            self._stop_ticker.clear()
            self._ticker = threading.Thread(target=self._tick, name="fix-exchange-ticker",
                                            daemon=True)
            self._ticker.start()
        log.info("FIX exchange on %s:%d (%s)", self.host, self.port, ", ".join(self._session_ids))
        return self

    def stop(self, *, kill: bool = False, timeout: float = 3.0) -> None:
        """Stop accepting: log the sessions out (``kill``: drop them without a Logout, as
        a crash would). The matching engine and the FileStore stay for :meth:`start`."""
        if self._ticker is not None:
            self._stop_ticker.set()
            self._ticker.join()
            self._ticker = None
        with self._lock:
            timer, self._expiry_timer, self._expiry_at = self._expiry_timer, None, None
        if timer is not None:  # GTD orders expire (on the next quote) while stopped
            timer.cancel()
            if timer is not threading.current_thread():
                timer.join()
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is None:
            return
        if not kill and self._logged_on:
            for key in list(self._logged_on):
                session = quickfix.Session.lookupSession(self._session_ids[key])
                if session is not None:
                    session.logout("exchange closing")
            deadline = time.monotonic() + timeout
            while self._logged_on and time.monotonic() < deadline:
                self._changed.wait(0.05)
                self._changed.clear()
        # The acceptor's stop() waits for logged-on sessions: drop what is left first.
        for sid in self._session_ids.values():
            session = quickfix.Session.lookupSession(sid)
            if session is not None:
                session.disconnect()
        acceptor.stop(True)
        del acceptor  # the C++ sessions go with it; a restart registers new ones
        self._logged_on.clear()

    def close(self) -> None:
        """Stop, and delete the FileStore if the exchange made it."""
        self.stop()
        if self._own_store:
            shutil.rmtree(self.store_path, ignore_errors=True)

    def __enter__(self) -> FixExchange:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connector_settings(self, begin_string: str = "FIX.4.4", **extra: Any) -> dict[str, Any]:
        """Settings of a ``fix`` connector for one of this exchange's sessions."""
        settings: dict[str, Any] = {
            "host": self.host, "port": self.port, "begin_string": begin_string,
            "sender_comp_id": self.target_comp_id, "target_comp_id": self.sender_comp_id,
        }
        if self.password is not None:
            settings["password"] = self.password
        if self.username is not None:
            settings["username"] = self.username
        settings.update(extra)
        return settings

    # -- sessions ------------------------------------------------------------------------
    def session_key(self, begin_string: str) -> str:
        return str(quickfix.SessionID(begin_string, self.sender_comp_id,
                                      self.target_comp_id).toString())

    def logged_on(self, begin_string: str | None = None) -> bool:
        if begin_string is None:
            return bool(self._logged_on)
        return self.session_key(begin_string) in self._logged_on

    @property
    def logon_count(self) -> int:
        """How many Logons the exchange accepted, all sessions together."""
        return self._logon_count

    def sequence_numbers(self, begin_string: str) -> tuple[int, int]:
        """(next MsgSeqNum the exchange sends, next one it expects) of one session."""
        if self._acceptor is None:
            raise RuntimeError("the exchange is stopped")
        session = quickfix.Session.lookupSession(self._session_ids[self.session_key(begin_string)])
        return int(session.getExpectedSenderNum()), int(session.getExpectedTargetNum())

    def disconnect(self) -> None:
        """Drop every connection now, without a Logout."""
        for sid in self._session_ids.values():
            session = quickfix.Session.lookupSession(sid)
            if session is not None:
                session.disconnect()

    def _on_logon(self, key: str) -> None:
        with self._lock:
            self.publisher.drop_session(key)  # a new session starts with no subscriptions
            self._logged_on.add(key)
            self._logon_count += 1
        self._changed.set()

    def _check_logon(self, message: Any) -> None:
        if self.password is None:
            return
        given = message.getField(554) if message.isSetField(554) else None
        user = message.getField(553) if message.isSetField(553) else None
        if given != self.password or (self.username is not None and user != self.username):
            log.warning("exchange: logon refused (user %r)", user)
            self.logon_refusals.append(time.monotonic())
            raise quickfix.RejectLogon("invalid username or password")

    # -- behaviour on demand -----------------------------------------------------------
    def reject_orders(self, count: int = 1) -> None:
        """Reject the next ``count`` new orders ("rejected on demand")."""
        with self._lock:
            self.engine.reject_next += count

    def reject_cancels(self, count: int = 1) -> None:
        """Answer the next ``count`` cancel/replace requests with an OrderCancelReject."""
        with self._lock:
            self._cancel_rejects += count

    def business_reject_next(self, count: int = 1) -> None:
        """Answer the next ``count`` application messages with a BusinessMessageReject."""
        with self._lock:
            self._business_rejects += count

    def session_reject_next(self, count: int = 1) -> None:
        """Answer the next ``count`` application messages with a session Reject."""
        with self._lock:
            self._session_rejects += count

    def ignore_next(self, count: int = 1) -> None:
        """Say nothing at all about the next ``count`` application messages."""
        with self._lock:
            self._ignore += count

    def drop_before_reports(self, count: int = 1) -> None:
        """Process the next ``count`` application messages, then drop the connection
        before the reports go out: they are resent (PossDupFlag) after the reconnect."""
        with self._lock:
            self._drop_before_reports += count

    def adjust_position(self, begin_string: str, symbol: str, quantity: Any,
                        price: Any) -> None:
        """A trade in the account of ``begin_string``'s session made elsewhere (another
        front end, a give-up): it moves the position the PositionReports show."""
        with self._lock:
            qty = to_decimal(quantity)
            self._book(self.session_key(begin_string), Fill(
                "", f"X{next(self._ids)}", symbol, "BUY" if qty > 0 else "SELL", abs(qty),
                price))

    def request_resend(self, begin_string: str, begin: int, end: int = 0) -> None:
        """Ask the client for its messages ``begin``..``end`` again (0: up to its latest),
        as a counterparty does when it finds a gap in the sequence."""
        self._send(self.session_key(begin_string), "2", [(7, str(begin)), (16, str(end))])

    # -- market ------------------------------------------------------------------------
    def add_symbol(self, symbol: str, price: float | None = None) -> None:
        with self._lock:
            self.market.add_symbol(symbol, price)
            self.symbols.add(symbol)
            if symbol not in self.definitions:
                self.define(symbol)
            self._set_market(symbol, trade=None, publish=False)

    def define(self, symbol: str, *, tick_size: Any = None, round_lot: Any = 1,
               min_trade_vol: Any = None, multiplier: Any = 1, currency: str = "USD",
               exchange: str | None = None, security_id: str | None = None) -> None:
        """What the SecurityDefinition of ``symbol`` says (None: the field is left out);
        the tick size defaults to the market's price grid, the exchange to the
        exchange's SenderCompID. Every listed symbol starts with these defaults."""
        with self._lock:
            tick = self.market.tick_size if tick_size is None else to_decimal(tick_size)
            values = {969: tick, 561: round_lot, 562: min_trade_vol, 231: multiplier,
                      15: currency, 207: exchange or self.sender_comp_id,
                      48: security_id or f"{symbol}.{self.sender_comp_id}"}
            self.definitions[symbol] = {
                tag: (format(to_decimal(v), "f") if tag in (969, 561, 562, 231) else str(v))
                for tag, v in values.items() if v is not None}

    def step(self, symbol: str | None = None) -> None:
        """Move one symbol (or all) one random-walk step, fill what it crosses, publish."""
        with self._lock:
            for sym in [symbol] if symbol else sorted(self.symbols):
                step = self.market.step(sym)
                trade = None
                if step.trade is not None:
                    trade = (level_text(step.trade.price), level_text(step.trade.size),
                             step.trade.trade_id or f"T{next(self._ids)}")
                self._set_market(sym, trade=trade, publish=True)

    def set_quote(self, symbol: str, bid: Any, ask: Any, bid_size: Any = 100,
                  ask_size: Any = 100) -> None:
        """Set an exact top of book (one level a side)."""
        self.set_book(symbol, [(bid, bid_size)], [(ask, ask_size)])

    def set_book(self, symbol: str, bids: Sequence[tuple[Any, Any]],
                 asks: Sequence[tuple[Any, Any]]) -> None:
        """Set an exact book, best first; its top is the engine's quote."""
        if not bids or not asks:
            raise ValueError("a book needs at least one bid and one ask")
        with self._lock:
            self.symbols.add(symbol)
            (bid, bid_size), (ask, ask_size) = bids[0], asks[0]
            events = self.engine.set_quote(symbol, to_decimal(bid), to_decimal(ask),
                                           to_decimal(bid_size), to_decimal(ask_size))
            self._books[symbol] = OrderBookSnapshot(
                symbol,
                [OrderBookLevel(float(to_decimal(p)), float(to_decimal(s))) for p, s in bids],
                [OrderBookLevel(float(to_decimal(p)), float(to_decimal(s))) for p, s in asks],
            )
            self._after(events, None, book_changed={symbol})

    def _set_market(self, symbol: str, *, trade: tuple[str, str, str] | None,
                    publish: bool) -> None:
        bid, ask, bid_size, ask_size = self.market.decimal_quote(symbol)
        events = self.engine.set_quote(symbol, bid, ask, bid_size, ask_size)
        self._books[symbol] = self.market.book(symbol, self.book_depth)
        if not publish:
            return
        trades = {symbol: [trade]} if trade is not None else None
        self._after(events, trades, book_changed={symbol})

    def expire_due(self) -> None:
        """Expire the GTD orders whose ExpireTime has come (a timer calls this at the
        earliest one's time; any thread may)."""
        with self._lock:
            self._after(self.engine.expire_due(), None, book_changed=set())
            self._expiry_at = None
            upcoming = self.engine.next_expiry()
            if upcoming is not None and self._acceptor is not None:
                self._expire_at(upcoming)

    def _expire_at(self, expire_ns: int) -> None:
        """One timer, for the earliest ExpireTime of the open GTD orders."""
        if self._expiry_at is not None and self._expiry_at <= expire_ns:
            return
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
        delay = max(0.0, (expire_ns - time.time_ns()) / 1e9)
        timer = threading.Timer(delay + 0.001, self.expire_due)
        timer.daemon = True
        self._expiry_timer, self._expiry_at = timer, expire_ns
        timer.start()

    def _tick(self) -> None:
        assert self.tick_interval
        while not self._stop_ticker.wait(self.tick_interval):
            try:
                self.step()
            except Exception:
                log.exception("exchange: market step failed")

    # -- requests ----------------------------------------------------------------------
    def _on_message(self, key: str, raw: str) -> None:
        f = flat(raw)
        mtype = f.get("35", "")
        self.messages.append((key, raw))
        with self._lock:
            if self._ignore:
                self._ignore -= 1
                log.info("exchange: ignoring %s %s on demand", mtype, f.get("11", ""))
                return
            if self._session_rejects:
                self._session_rejects -= 1
                self._send(key, "3", reports.session_reject(
                    f.get("34", "0"), mtype, 44 if "44" in f else 11, "rejected on demand"))
                return
            if self._business_rejects:
                self._business_rejects -= 1
                self._send(key, "j", reports.business_reject(
                    f.get("34", "0"), mtype, f.get("11") or f.get("262"), "rejected on demand"))
                return
            if self._drop_before_reports:
                self._drop_before_reports -= 1
                session = quickfix.Session.lookupSession(self._session_ids[key])
                if session is not None:
                    session.disconnect()
            if mtype == "D":
                self._new_order(key, f)
            elif mtype in ("F", "G"):
                self._cancel_or_replace(key, f, replace=mtype == "G")
            elif mtype == "H":
                self._status(key, f)
            elif mtype == "V":
                self._market_data_request(key, raw, f)
            elif mtype == "AN" and self._begin(key) != "FIX.4.2":
                self._positions_request(key, f)
            elif mtype == "AF" and self._begin(key) != "FIX.4.2":
                self._mass_status(key, f)
            elif mtype == "c" and self._begin(key) != "FIX.4.2":
                self._security_definition(key, f)
            else:
                self._send(key, "j", reports.business_reject(
                    f.get("34", "0"), mtype, None, f"unsupported message type {mtype}"))

    def _security_definition(self, key: str, f: dict[str, str]) -> None:
        """SecurityDefinitionRequest (c): the symbol's definition (SecurityResponseType
        1, accept as is), or 6 (cannot match) for a symbol the exchange does not list."""
        symbol = f.get("55", "")
        body: Body = [(320, f.get("320", "")), (322, f"S{next(self._ids)}"), (55, symbol)]
        definition = self.definitions.get(symbol) if symbol in self.symbols else None
        if definition is None:
            body += [(323, "6"), (58, f"unknown symbol {symbol!r}")]
        else:
            body.append((323, "1"))
            fix5 = self._begin(key) == "FIXT.1.1"
            body += [(tag, value) for tag, value in definition.items()
                     if tag != 969 or fix5]  # MinPriceIncrement came with FIX 5.0
        self._send(key, "d", body)

    def _market_data_request(self, key: str, raw: str, f: dict[str, str]) -> None:
        md_req_id = f.get("262", "")
        request_type = f.get("263", "1")
        if request_type == "2":
            self.publisher.remove(key, md_req_id)
            return
        items = fields(raw)
        symbols = [v for t, v in items if t == "55"]
        entry_types = frozenset(v for t, v in items if t == "269")
        symbol = symbols[0] if symbols else ""
        if symbol not in self.symbols:
            self._send(key, "Y", reports.md_reject(md_req_id, "0", f"unknown symbol {symbol!r}"))
            return
        depth = int(f.get("264", "0") or 0)
        sub = MdSub(key, md_req_id, symbol, entry_types, depth)
        body, groups = self.publisher.snapshot(sub, self._books[symbol],
                                               self._last_trade.get(symbol),
                                               self._begin(key) == "FIXT.1.1")
        self._send(key, "W", body, groups)
        if request_type == "1":
            self.publisher.add(sub)

    # -- reports and publishing --------------------------------------------------------
    def _after(self, events: list[ExecEvent], trades: dict[str, list[tuple[str, str, str]]]
               | None, *, book_changed: set[str]) -> None:
        """Report what a quote change did to resting orders, then publish."""
        trades = {k: list(v) for k, v in (trades or {}).items()}
        for event in events:
            owner = self._owners.get(event.order_id)
            if owner is None:
                continue
            fills = self._report(owner.session, [event], owner.cl_ord_id, None, owner.tif)
            trades.setdefault(event.symbol, []).extend(fills)
        for symbol in book_changed | set(trades):
            if trades.get(symbol):
                self._last_trade[symbol] = trades[symbol][-1][:2]
            self._publish(symbol, self._books.get(symbol) if symbol in book_changed else None,
                          trades.get(symbol, []))

    def _publish(self, symbol: str, book: OrderBookSnapshot | None,
                 trades: list[tuple[str, str, str]]) -> None:
        for sub in self.publisher.for_symbol(symbol):
            if sub.session not in self._logged_on:
                continue
            update = self.publisher.update(sub, book, trades,
                                           self._begin(sub.session) == "FIXT.1.1")
            if update is not None:
                self._send(sub.session, "X", *update)

    def _send(self, key: str, mtype: str, body: Body, groups: Any = ()) -> None:
        message = new_message(quickfix, mtype, body, groups)
        try:
            quickfix.Session.sendToTarget(message, self._session_ids[key])
        except quickfix.SessionNotFound:
            log.warning("exchange: session %s is gone; %s not sent", key, mtype)
