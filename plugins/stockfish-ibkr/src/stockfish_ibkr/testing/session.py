"""One API client connection to the simulated gateway: its requests and subscriptions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import outgoing as out
from .broker import OrderRefused
from .feeds import (
    NOT_FOUND,
    STREAM_REQUEST,
    BarSub,
    DepthSub,
    MarketDataRequests,
    MktSub,
    TickStream,
    parse_end,
)
from .history import REQ_HISTORICAL_TICKS, HistoricalPacing, req_historical_ticks
from .instruments import Instrument
from .outgoing import IN
from .state import SimExecution, SimOrder
from .wire import FieldReader, WireContract, encode

if TYPE_CHECKING:
    from .gateway import GatewaySimulator

__all__ = ["Session"]

log = logging.getLogger("stockfish.ibkr.gateway")


class Session(MarketDataRequests):
    """Serves one client from handshake to close."""

    def __init__(self, gateway: GatewaySimulator, transport: asyncio.Transport) -> None:
        self.gateway = gateway
        self.broker = gateway.broker
        self.transport = transport
        self.client_id: int | None = None
        self.market_data_type = 1
        self.mkt: dict[int, MktSub] = {}
        self.depth: dict[int, DepthSub] = {}
        self.bars: dict[int, BarSub] = {}
        self.tick_stream: TickStream | None = None
        self.positions_subscribed = False
        self.account_subscribed = False
        self.account = ""
        #: Requests answered "not supported" (error 321).
        self.unsupported = 0
        self._msg_times: deque[float] = deque()
        self.hist_pacing = HistoricalPacing(gateway)
        self._handlers: dict[int, Callable[[FieldReader], None]] = {
            IN.REQ_MKT_DATA: self._req_mkt_data,
            IN.CANCEL_MKT_DATA: self._cancel_mkt_data,
            IN.PLACE_ORDER: self._place_order,
            IN.CANCEL_ORDER: self._cancel_order,
            IN.REQ_OPEN_ORDERS: lambda r: self._open_orders(self.client_id),
            IN.REQ_ALL_OPEN_ORDERS: lambda r: self._open_orders(None),
            IN.REQ_AUTO_OPEN_ORDERS: lambda r: None,
            IN.REQ_ACCT_DATA: self._req_account_updates,
            IN.REQ_EXECUTIONS: self._req_executions,
            IN.REQ_IDS: lambda r: self.send(out.next_valid_id(self.broker.next_valid_id)),
            IN.REQ_CONTRACT_DATA: self._req_contract_details,
            IN.REQ_MKT_DEPTH: self._req_mkt_depth,
            IN.CANCEL_MKT_DEPTH: self._cancel_mkt_depth,
            IN.REQ_MANAGED_ACCTS: lambda r: self.send(out.managed_accounts(self.broker.accounts)),
            IN.REQ_HISTORICAL_DATA: self._req_historical_data,
            IN.CANCEL_HISTORICAL_DATA: self._cancel_bars,
            REQ_HISTORICAL_TICKS: lambda r: req_historical_ticks(self, r),
            IN.REQ_CURRENT_TIME: lambda r: self.send(out.current_time(int(time.time()))),
            IN.REQ_REAL_TIME_BARS: self._req_real_time_bars,
            IN.CANCEL_REAL_TIME_BARS: self._cancel_bars,
            IN.REQ_GLOBAL_CANCEL: lambda r: self.broker.cancel_all(),
            IN.REQ_MARKET_DATA_TYPE: self._req_market_data_type,
            IN.REQ_POSITIONS: self._req_positions,
            IN.CANCEL_POSITIONS: self._cancel_positions,
            IN.REQ_ACCOUNT_UPDATES_MULTI: self._req_account_updates_multi,
            IN.CANCEL_ACCOUNT_UPDATES_MULTI: lambda r: None,
            IN.REQ_COMPLETED_ORDERS: self._req_completed_orders,
            IN.REQ_ACCOUNT_SUMMARY: self._req_account_summary,
            IN.CANCEL_ACCOUNT_SUMMARY: lambda r: None,
        }

    def __repr__(self) -> str:
        return f"<Session client {self.client_id}>"

    # -- output ----------------------------------------------------------------------
    def send(self, fields: list[Any]) -> None:
        if not self.transport.is_closing():
            self.transport.write(encode(fields))

    def send_all(self, messages: Iterable[list[Any]]) -> None:
        if not self.transport.is_closing():
            self.transport.write(b"".join(encode(m) for m in messages))

    def error(self, req_id: int, code: int, message: str) -> None:
        self.gateway.errors_sent.append((self.client_id, req_id, code))
        self.send(out.error(req_id, code, message))

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def release(self) -> None:
        """Give back every market watch (the connection is gone)."""
        subs: list[MktSub | DepthSub | BarSub] = [
            *self.mkt.values(), *self.depth.values(), *self.bars.values()]
        for sub in subs:
            self.broker.unwatch(sub.inst)
        self.mkt.clear()
        self.depth.clear()
        self.bars.clear()
        self.tick_stream = None

    # -- input -----------------------------------------------------------------------
    def start_api(self, fields: list[str]) -> bool:
        """Handle startApi; False if the client id is taken (error 326 sent)."""
        reader = FieldReader(fields)
        reader.skip()  # version
        client_id = reader.integer()
        if client_id in self.gateway.sessions:
            self.error(-1, 326, "Unable to connect as the client id is already in use. "
                                "Retry with a unique client id.")
            return False
        self.client_id = client_id
        self.gateway.sessions[client_id] = self
        self.send_all([out.managed_accounts(self.broker.accounts),
                       out.next_valid_id(self.broker.next_valid_id)])
        for code, message in self.gateway.farm_notices():
            self.error(-1, code, message)
        return True

    def handle(self, fields: list[str], arrived: float) -> None:
        """Dispatch one message (after the pacing check on its arrival time).

        With the gateway's ``stream`` on, the benchmarks' stream request (no TWS
        message) is served first and is not counted against the pacing limit: it is the
        stream's flow control, one per tick."""
        msg_id = int(fields[0])
        if msg_id == STREAM_REQUEST and self.gateway.stream:
            try:
                self._stream_request(FieldReader(fields))
            except (ValueError, IndexError) as exc:
                self.error(-1, 320, f"Error reading request: {exc}")
            return
        if self._paced_out(arrived):
            return
        self.gateway.message_counts[msg_id] += 1
        handler = self._handlers.get(msg_id)
        if handler is None:
            # Answered, never dropped: a client waiting on the request id is released.
            log.info("client %s: request %s is not simulated; answered with an error",
                     self.client_id, msg_id)
            self.unsupported += 1
            self.error(_request_id(fields), 321,
                       f"Error validating request.-'{msg_id}' : cause - request {msg_id} is "
                       "not supported by the gateway simulator")
            return
        try:
            handler(FieldReader(fields))
        except (ValueError, IndexError) as exc:
            log.warning("client %s: bad message %s: %s", self.client_id, fields[:4], exc)
            self.error(-1, 320, f"Error reading request: {exc}")

    def _paced_out(self, now: float) -> bool:
        """IB's limit of 50 messages per second per client: error 100, message dropped.

        Counted over one second of arrival times, less ``pacing_jitter`` (20 ms): a client
        that spaces its batches exactly one second apart sees them arrive a fraction of a
        millisecond closer together, which is not a violation.
        """
        times = self._msg_times
        times.append(now)
        window = 1.0 - self.gateway.pacing_jitter
        while times and now - times[0] >= window:
            times.popleft()
        rate = len(times)
        gateway = self.gateway
        gateway.max_rate_seen = max(gateway.max_rate_seen, rate)
        if rate <= gateway.pacing_limit:
            return False
        gateway.pacing_violations += 1
        self.error(-1, 100, f"Max rate of messages per second has been exceeded:"
                            f"max={gateway.pacing_limit} rec={rate} (1)")
        return True

    # -- contracts -------------------------------------------------------------------
    def _resolve(self, req_id: int, contract: WireContract) -> Instrument | None:
        inst = self.broker.instruments.resolve(contract)
        if inst is None:
            self.error(req_id, 200, NOT_FOUND)
        return inst

    def _req_contract_details(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.integer()
        contract = r.contract()
        found = self.broker.instruments.find(contract)
        if not found:
            self.error(req_id, 200, NOT_FOUND)
            return
        self.send_all([*(out.contract_details(req_id, i) for i in found),
                       out.contract_details_end(req_id)])

    # -- orders ----------------------------------------------------------------------
    def _place_order(self, r: FieldReader) -> None:
        assert self.client_id is not None
        order_id = r.integer()
        contract = r.contract()
        r.skip(2)  # secIdType, secId
        action = r.text()
        quantity = r.number()
        order_type = r.text()
        lmt = r.text()
        aux = r.text()
        tif = r.text()
        oca_group = r.text()
        account = r.text()
        r.skip(2)  # openClose, origin
        order_ref = r.text()
        lmt_price = float(lmt) if lmt else None
        aux_price = float(aux) if aux else None
        transmit = r.text() != "0"  # an absent flag transmits, as TWS's default does
        parent_id = r.integer()
        r.skip(4)  # blockOrder, sweepToFill, displaySize, triggerMethod
        outside_rth = r.flag()
        terms = _OrderTerms()
        if _read_terms(r, contract.sec_type, terms):
            self._what_if(order_id, contract, action, quantity, order_type, lmt_price,
                          aux_price, tif, account, order_ref)
            return
        existing = self.broker.order(self.client_id, order_id)
        try:
            if existing is not None:
                self.broker.modify(existing, quantity, lmt_price, aux_price)
                return
            inst = self.broker.instruments.resolve(contract)
            if inst is None:
                self.broker.note_order_id(self.client_id, order_id)
                self.error(order_id, 200, NOT_FOUND)
                return
            self.broker.place(self.client_id, order_id, inst, action, quantity, order_type,
                              lmt_price, aux_price, tif, account, order_ref, outside_rth,
                              oca_group=oca_group, transmit=transmit, parent_id=parent_id,
                              good_till_date=terms.good_till_date,
                              trailing_percent=terms.trailing_percent)
        except OrderRefused as exc:
            self.error(order_id, exc.code, exc.message)

    def _what_if(self, order_id: int, contract: WireContract, action: str, quantity: float,
                 order_type: str, lmt_price: float | None, aux_price: float | None, tif: str,
                 account: str, order_ref: str) -> None:
        """A what-if order: answered with its margin and commission, never placed."""
        assert self.client_id is not None
        inst = self._resolve(order_id, contract)
        if inst is None:
            return
        account = account or self.broker.accounts[0]
        if action not in ("BUY", "SELL") or quantity <= 0:
            self.error(order_id, 110, "The price does not conform to the minimum price "
                                      f"variation or the order is invalid: {action} {quantity}")
            return
        self.broker.note_order_id(self.client_id, order_id)
        figures = self.broker.what_if(inst, account, action, quantity, lmt_price)
        order = SimOrder(order_id, self.client_id, 0, inst, action, quantity, order_type,
                         lmt_price, aux_price, tif or "DAY", account, order_ref,
                         status="PreSubmitted")
        self.send(out.open_order(order, what_if=figures))

    def _cancel_order(self, r: FieldReader) -> None:
        assert self.client_id is not None
        r.skip()
        order_id = r.integer()
        try:
            self.broker.cancel(self.client_id, order_id)
        except OrderRefused as exc:
            self.error(order_id, exc.code, exc.message)

    def _open_orders(self, client_id: int | None) -> None:
        orders = self.broker.open_orders(client_id)
        msgs: list[list[Any]] = []
        for order in orders:
            msgs += [out.open_order(order), out.order_status(order)]
        self.send_all([*msgs, out.open_order_end()])

    def _req_completed_orders(self, r: FieldReader) -> None:
        self.send_all([*(out.completed_order(o) for o in self.broker.completed_orders()),
                       out.completed_orders_end()])

    def _req_executions(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.integer()
        client_filter = r.integer()
        account = r.text()
        since = r.text()
        symbol = r.text()
        sec_type = r.text()
        r.skip()  # exchange
        side = r.text()
        since_ns = parse_end(since) * 1_000_000_000 if since else 0
        msgs: list[list[Any]] = []
        for ex in self.broker.executions_for(client_filter or self.client_id):
            order = ex.order
            if ((account and order.account != account) or ex.timestamp_ns < since_ns
                    or (symbol and order.instrument.symbol != symbol)
                    or (sec_type and order.instrument.sec_type != sec_type)
                    or (side and side[0] != ("B" if order.action == "BUY" else "S"))):
                continue
            msgs += [out.exec_details(req_id, ex), out.commission_report(ex)]
        self.send_all([*msgs, out.exec_details_end(req_id)])

    def on_order(self, order: SimOrder, execution: SimExecution | None,
                 error: tuple[int, str] | None) -> None:
        msgs: list[list[Any]] = []
        if execution is not None:
            msgs.append(out.exec_details(-1, execution))
        msgs += [out.open_order(order), out.order_status(order)]
        if execution is not None:
            msgs.append(out.commission_report(execution))
        self.send_all(msgs)
        if error is not None:
            self.error(order.order_id, *error)

    # -- account and positions -----------------------------------------------------------
    def _req_positions(self, r: FieldReader) -> None:
        self.positions_subscribed = True
        rows = self.broker.position_rows()
        self.send_all([*(out.position(a, i, q, c) for a, i, q, c in rows), out.position_end()])

    def _cancel_positions(self, r: FieldReader) -> None:
        self.positions_subscribed = False

    def on_position(self, account: str, inst: Instrument, qty: float, avg_cost: float) -> None:
        if self.positions_subscribed:
            self.send(out.position(account, inst, qty, avg_cost))

    def _req_account_updates(self, r: FieldReader) -> None:
        r.skip()
        subscribe = r.flag()
        account = r.text() or self.broker.accounts[0]
        self.account_subscribed = subscribe
        self.account = account
        if not subscribe:
            return
        msgs = [out.account_value(k, v, "USD", account)
                for k, v in self.broker.account_values(account)]
        for acct, inst, qty, cost in self.broker.position_rows():
            if acct == account and qty:
                msgs.append(self._portfolio_row(account, inst, qty, cost))
        msgs += [out.account_update_time(time.strftime("%H:%M")),
                 out.account_download_end(account)]
        self.send_all(msgs)

    def _portfolio_row(self, account: str, inst: Instrument, qty: float,
                       cost: float) -> list[Any]:
        price = self.broker.mark(inst)
        mult = float(inst.multiplier or 1)
        return out.portfolio_value(inst, qty, price, qty * price * mult, cost,
                                   qty * price * mult - qty * cost, 0.0, account)

    def on_portfolio(self, account: str, inst: Instrument, qty: float, cost: float) -> None:
        """A fill moved a position: subscribers to the account get its portfolio row (a
        flat position too, which clients drop) and the account values."""
        if self.account_subscribed and account == self.account:
            self.send_all([self._portfolio_row(account, inst, qty, cost),
                           *(out.account_value(k, v, "USD", account)
                             for k, v in self.broker.account_values(account)),
                           out.account_update_time(time.strftime("%H:%M"))])

    def _req_account_summary(self, r: FieldReader) -> None:
        r.skip()  # version
        req_id = r.integer()
        group = r.text()
        tags = {t.strip() for t in r.text().split(",") if t.strip()}
        if group not in ("All", ""):
            self.error(req_id, 321, f"Error validating request.-'{group}' : cause - the "
                                    "gateway simulator knows only the group All")
            return
        msgs = []
        for account in self.broker.accounts:
            for tag, value in self.broker.account_values(account):
                if not tags or "All" in tags or tag in tags:
                    msgs.append(out.account_summary(req_id, account, tag, value, "USD"))
        self.send_all([*msgs, out.account_summary_end(req_id)])

    def _req_account_updates_multi(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.integer()
        account = r.text() or self.broker.accounts[0]
        self.send_all([*(out.account_update_multi(req_id, account, k, v, "USD")
                         for k, v in self.broker.account_values(account)),
                       out.account_update_multi_end(req_id)])


def _request_id(fields: list[str]) -> int:
    """The request id of a message the simulator does not know: the field after a version
    (small number) if there is one, else the first field; -1 if neither is a number."""
    candidates = fields[2:3] if len(fields) > 2 and fields[1] in ("1", "2", "3") else []
    candidates += fields[1:2]
    for value in candidates:
        if value.lstrip("-").isdigit():
            return int(value)
    return -1


_UNSET = 1.7976931348623157e308


class _OrderTerms:
    """The terms of placeOrder read after ``outsideRth``: goodTillDate (a GTD order's)
    and trailingPercent (a TRAIL order's, instead of the amount in auxPrice)."""

    __slots__ = ("good_till_date", "trailing_percent")

    def __init__(self) -> None:
        self.good_till_date = ""
        self.trailing_percent: float | None = None


def _read_terms(r: FieldReader, sec_type: str, terms: _OrderTerms) -> bool:
    """Read placeOrder on from ``hidden`` up to ``whatIf`` (server version 176, as
    ib_insync and ib_async write it) into ``terms``; returns whatIf, False if the message
    has another shape."""
    try:
        r.skip()  # hidden
        if sec_type == "BAG":
            return False
        r.skip(3)  # sharesAllocation, discretionaryAmt, goodAfterTime
        terms.good_till_date = r.text()
        r.skip(26)  # faGroup .. volatilityType
        delta_neutral = r.text()  # deltaNeutralOrderType
        r.skip(1)  # deltaNeutralAuxPrice
        if delta_neutral:
            r.skip(8)
        r.skip(3)  # continuousUpdate, referencePriceType, trailStopPrice
        percent = r.number(0.0)
        if 0 < percent < _UNSET:
            terms.trailing_percent = percent
        r.skip(2)  # scaleInitLevelSize, scaleSubsLevelSize
        increment = r.number(0.0)
        if 0 < increment < _UNSET:
            r.skip(7)
        r.skip(3)  # scaleTable, activeStartTime, activeStopTime
        if r.text():  # hedgeType
            r.skip(1)
        r.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
        if r.flag():  # deltaNeutralContract
            r.skip(3)
        if r.text():  # algoStrategy
            r.skip(2 * r.integer())
        r.skip(1)  # algoId
        return r.flag()
    except (ValueError, IndexError):
        return False
