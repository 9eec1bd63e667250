"""One API session with TWS / IB Gateway: connect, events, health, requests.

Health follows what TWS says: ``1100`` (TWS lost IB) and a broken data farm
(``2103``/``2105``/``2157``) make the connector RECONNECTING until ``1101``/``1102`` and
the farm's OK notice (``2104``/``2106``/``2158``); on ``1101`` TWS has dropped the market
data, so every subscription is requested again. Losing the socket itself is DISCONNECTED:
the manager then calls disconnect and connect again with backoff, and subscribes again.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from stockfish_core.plugin_api import (
    AccountValues,
    Fill,
    Instrument,
    OrderSide,
    Position,
    VenuePosition,
    to_decimal,
)

from . import errors as codes
from .config import MarketDataType
from .errors import (
    ClientIdInUse,
    ConnectTimeout,
    GatewayNotListening,
    IBKRConnectError,
    IBKRError,
)
from .marketdata import FeedKind, Feeds, FeedSub, _ns

if TYPE_CHECKING:
    from .state import IBKRState

__all__ = ["IBSession"]

log = logging.getLogger("stockfish.ibkr")


class IBSession:
    """One connection's ``IB`` object and what hangs on it."""

    def __init__(self, state: IBKRState) -> None:
        self.state = state
        self.connector = state.connector
        self.config = state.config
        self.lib = state.lib
        self.endpoint = state.config.endpoint()
        self.ib: Any = self.lib.IB()
        self.feeds = Feeds(self)
        self.market_data_type = self.config.market_data_type
        self.link_up = True
        self.broken_farms: dict[str, int] = {}
        self._connected = False
        self._closing = False
        self._refused: asyncio.Future[Exception] | None = None
        #: id(contract object of a one-off request) -> the errors IB gave for it.
        self._request_errors: dict[int, list[tuple[int, str]]] = {}
        self._request_refused: dict[int, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"<IBSession {self.endpoint} {self.state.library_name}>"

    @property
    def is_connected(self) -> bool:
        return self._connected and bool(self.ib.isConnected())

    # -- connect / close ---------------------------------------------------------------
    async def connect(self) -> None:
        ib = self.ib
        ep = self.endpoint
        # The library's own throttle, a little above the connector's pacer, is a backstop
        # for what the library sends by itself (the startup synchronisation); everything
        # the connector sends is paced first and never reaches it.
        ib.client.MaxRequests = min(49, self.config.pacing.max_messages_per_second + 5)
        ib.client.RequestsInterval = 1.0
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected
        ib.pendingTickersEvent += self._on_tickers
        ib.barUpdateEvent += self.feeds.on_bar_update
        orders = self.state.orders
        ib.orderStatusEvent += orders.on_status
        ib.openOrderEvent += orders.on_open_order
        ib.execDetailsEvent += orders.on_exec
        ib.commissionReportEvent += orders.on_commission
        self._catch_orphan_executions()
        loop = asyncio.get_running_loop()
        self._refused = loop.create_future()
        attempt = loop.create_task(ib.connectAsync(
            ep.host, ep.port, clientId=ep.client_id, timeout=self.config.connect_timeout,
            readonly=self.config.readonly, account=ep.account))
        try:
            done, _ = await asyncio.wait({attempt, self._refused},
                                         return_when=asyncio.FIRST_COMPLETED)
            if attempt not in done:
                attempt.cancel()
                await asyncio.gather(attempt, return_exceptions=True)
                raise self._refused.result()
            attempt.result()
        except IBKRConnectError:
            raise
        except ConnectionRefusedError:
            raise GatewayNotListening(
                f"nothing is listening at {ep.host}:{ep.port}: start TWS or IB Gateway with the "
                "API enabled (Configure > API > Settings), or fix host/port (TWS 7497 paper / "
                "7496 live, IB Gateway 4002 paper / 4001 live)") from None
        except asyncio.TimeoutError:
            raise ConnectTimeout(
                f"{ep.host}:{ep.port} accepted the connection but the API session was not "
                f"ready within {self.config.connect_timeout}s: is it TWS/IB Gateway, is the "
                "API enabled and this host trusted? (connect_timeout)") from None
        except OSError as exc:
            raise IBKRConnectError(f"cannot connect to {ep.host}:{ep.port}: {exc}") from None
        finally:
            self._refused = None
        self._connected = True
        # The library's startup requests count against this second's budget too.
        self.state.pacer.record(ib.client.connectionStats().numMsgSent)
        log.info("%s: connected to %s with %s (server version %s, accounts %s)",
                 self.connector.name, ep, self.state.library_name, ib.client.serverVersion(),
                 ",".join(ib.managedAccounts()))
        if self.market_data_type is not MarketDataType.LIVE:
            await self.set_market_data_type(self.market_data_type)
        # Open orders are reconciled by the core (a STATUS query for each, see orders.py).
        self.update_status()

    def _catch_orphan_executions(self) -> None:
        """Hand a live execution the library has no trade for (one of an order that left
        memory, see orders.py) to the orders: the library stores it and emits nothing."""
        wrapper = self.ib.wrapper
        library_exec_details = wrapper.execDetails
        orders = self.state.orders

        def exec_details(req_id: int, contract: Any, execution: Any) -> None:
            live = req_id not in wrapper._futures
            new = execution.execId not in wrapper.fills
            attached = orders.exec_events
            library_exec_details(req_id, contract, execution)
            if live and new and orders.exec_events == attached:
                fill = wrapper.fills.get(execution.execId)
                if fill is not None:
                    orders.on_orphan_exec(fill)

        wrapper.execDetails = exec_details

    async def close(self) -> None:
        """Disconnect and release everything; safe to call twice."""
        self._closing = True
        self._connected = False
        for task in list(self._tasks):
            task.cancel()
        ib = self.ib
        for event, handler in ((ib.errorEvent, self._on_error),
                               (ib.disconnectedEvent, self._on_disconnected),
                               (ib.pendingTickersEvent, self._on_tickers),
                               (ib.barUpdateEvent, self.feeds.on_bar_update)):
            event.disconnect(handler)
        orders = self.state.orders
        ib.orderStatusEvent.disconnect(orders.on_status)
        ib.openOrderEvent.disconnect(orders.on_open_order)
        ib.execDetailsEvent.disconnect(orders.on_exec)
        ib.commissionReportEvent.disconnect(orders.on_commission)
        orders.detach()
        self.feeds.clear()
        ib.disconnect()

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"ibkr-{what}")
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.connector.report_error(f"{what} failed: {t.exception()}")

        task.add_done_callback(done)

    # -- health ------------------------------------------------------------------------
    def update_status(self) -> None:
        if not self._connected:
            return
        if not self.link_up:
            self.connector.report_reconnecting(
                f"TWS at {self.endpoint.host}:{self.endpoint.port} lost its connection to IB "
                "(1100); waiting for TWS to restore it")
        elif self.broken_farms:
            farms = ", ".join(f"{name} ({code})"
                              for name, code in sorted(self.broken_farms.items()))
            self.connector.report_reconnecting(
                f"IB data farm connection broken: {farms}")
        else:
            self.connector.report_connected(f"connected to {self.endpoint}")

    def _on_disconnected(self) -> None:
        if self._closing:
            return
        self._connected = False
        self.state.orders.detach()
        self.feeds.clear()
        ep = self.endpoint
        log.warning("%s: connection to TWS/IB Gateway at %s:%s lost", self.connector.name,
                    ep.host, ep.port)
        self.connector.report_lost(
            f"connection to TWS/IB Gateway at {ep.host}:{ep.port} lost")

    # -- events ------------------------------------------------------------------------
    def _on_tickers(self, tickers: Any) -> None:
        self.connector.feed(list(tickers))

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        try:
            self._handle_error(req_id, code, message, contract)
        except Exception:
            log.exception("%s: handling IB message %s failed", self.connector.name, code)

    def _handle_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if code == codes.CLIENT_ID_IN_USE and self._refused is not None:
            if not self._refused.done():
                ep = self.endpoint
                self._refused.set_result(ClientIdInUse(
                    f"client id {ep.client_id} is already in use at {ep.host}:{ep.port} "
                    "(326): another session holds it; set a different client_id"))
            return
        if req_id > 0 and self.state.orders.on_error(req_id, code, message):
            return
        if code in codes.CONNECTIVITY:
            self._connectivity(code, message)
            return
        if code in codes.FARM_BROKEN or code in codes.FARM_OK:
            farm = message.rsplit(":", 1)[-1].strip() or str(code)
            if code in codes.FARM_BROKEN:
                self.broken_farms[farm] = code
                log.warning("%s: %s (%s)", self.connector.name, message, code)
            else:
                self.broken_farms.pop(farm, None)
            self.update_status()
            return
        request_errors = self._request_errors.get(id(contract)) if contract is not None else None
        if request_errors is not None:
            request_errors.append((code, message))
            if code not in codes.INFO_CODES:
                self._request_refused[id(contract)].set()
            return
        sub = self.feeds.by_contract.get(id(contract)) if contract is not None else None
        if sub is not None:
            self._feed_error(sub, code, message)
            return
        if code in codes.INFO_CODES or code in codes.NO_CONTRACT:
            # 200 for a lookup is answered by the lookup itself (UnknownSymbol).
            log.debug("%s: IB %s (request %s): %s", self.connector.name, code, req_id, message)
            return
        if code == 100:
            message = f"pacing violation reported by TWS: {message}"
        log.warning("%s: IB %s (request %s): %s", self.connector.name, code, req_id, message)
        self.connector.report_error(f"IB {code}: {message}", code=code)

    def _connectivity(self, code: int, message: str) -> None:
        log.warning("%s: %s (%s)", self.connector.name, message, code)
        if code == 1100:
            self.link_up = False
        else:
            self.link_up = True
            if code == 1101:
                # TWS dropped every market-data request: ask again.
                self._spawn(self.feeds.rerequest_all(), "re-requesting market data")
        self.update_status()

    def _feed_error(self, sub: FeedSub, code: int, message: str) -> None:
        name = self.connector.name
        if code in codes.NOT_SUBSCRIBED:
            delayed = self.market_data_type.delayed_equivalent
            if (self.config.fallback_to_delayed and sub.kind is FeedKind.PRICE
                    and not sub.delayed):
                sub.delayed = True
                self.connector.report_error(
                    f"{sub.symbol}: no live market-data subscription at IB ({code}); falling "
                    f"back to {delayed.value} data", symbol=sub.symbol, code=code)
                self._spawn(self._fall_back(sub, delayed), f"delayed data for {sub.symbol}")
            else:
                self.connector.report_error(
                    f"{sub.symbol}: no market-data subscription at IB ({code}): {message}; "
                    "subscribe at IB or set fallback_to_delayed: true", symbol=sub.symbol,
                    code=code)
            return
        if code == 10167:
            sub.delayed = True
            log.info("%s: %s: delayed market data (10167)", name, sub.symbol)
            self.connector.report_error(f"{sub.symbol}: IB sends delayed market data (10167)",
                                        symbol=sub.symbol, code=code)
            return
        log.warning("%s: %s: IB %s: %s", name, sub.symbol, code, message)
        self.connector.report_error(f"{sub.symbol}: IB {code}: {message}", symbol=sub.symbol,
                                    code=code)

    async def _fall_back(self, sub: FeedSub, data_type: MarketDataType) -> None:
        if self.market_data_type is not data_type:
            await self.set_market_data_type(data_type)
        await self.feeds.rerequest(sub)

    # -- requests ----------------------------------------------------------------------
    async def set_market_data_type(self, data_type: MarketDataType) -> None:
        await self.state.pacer.acquire()
        self.ib.reqMarketDataType(data_type.code)
        self.market_data_type = data_type

    async def contract(self, symbol: str) -> Any:
        """The qualified contract of a symbol (cached; UnknownSymbol if IB has none)."""
        return await self.state.contracts.resolve(symbol, self._details)

    async def _details(self, contract: Any) -> list[Any]:
        await self.state.pacer.acquire()
        return await asyncio.wait_for(self.ib.reqContractDetailsAsync(contract),  # type: ignore[no-any-return]
                                      self.config.request_timeout)

    async def historical(self, contract: Any, end: str, duration: str, bar_size: str,
                         what: str, *, keep_up_to_date: bool = False) -> Any:
        """reqHistoricalData within IB's historical pacing rules (identical requests
        within the cache time share one answer; live ``keep_up_to_date`` ones never)."""
        key: Any = (contract.conId, end, duration, bar_size, what)
        if keep_up_to_date:
            key = (*key, object())

        async def fetch() -> Any:  # the pacer below took its message slot
            if keep_up_to_date:  # errors go to the subscription's contract
                return await self.ib.reqHistoricalDataAsync(
                    contract, end, duration, bar_size, what, False, formatDate=2,
                    keepUpToDate=True, timeout=self.config.request_timeout)
            return await self._refusable(contract, f"historical {bar_size} bars", lambda own: (
                self.ib.reqHistoricalDataAsync(own, end, duration, bar_size, what, False,
                                               formatDate=2,
                                               timeout=self.config.request_timeout)))

        return await self.state.historical.request(key, _pacing_key(contract, what), fetch)

    async def historical_ticks(self, contract: Any, start: str, what: str,
                               count: int) -> list[Any]:
        """reqHistoricalTicks from ``start`` on (at most ``count``, IB: 1000), within the
        same pacing rules as historical bars."""
        key = (contract.conId, "ticks", start, what, count)

        async def fetch() -> Any:
            return await self._refusable(contract, f"historical {what} ticks", lambda own: (
                asyncio.wait_for(self.ib.reqHistoricalTicksAsync(own, start, "", count, what,
                                                                 False),
                                 self.config.request_timeout)))

        return await self.state.historical.request(key, _pacing_key(contract, what),  # type: ignore[no-any-return]
                                                   fetch)

    async def _refusable(self, contract: Any, what: str,
                         send: Callable[[Any], Awaitable[Any]]) -> Any:
        """``send(own)`` with a copy of ``contract`` that IB's errors about this request
        name; the first error for it ends the wait (an IBKRError when nothing came)."""
        own = copy.copy(contract)  # errors about this request name this object
        errors = self._request_errors[id(own)] = []
        refused = asyncio.Event()
        self._request_refused[id(own)] = refused
        request = asyncio.ensure_future(send(own))
        waiter = asyncio.ensure_future(refused.wait())
        try:
            # ib_async takes some refusals (321) for warnings and would wait for the
            # timeout: the first error ends the wait.
            await asyncio.wait({request, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            self._request_errors.pop(id(own), None)
            self._request_refused.pop(id(own), None)
        if not request.done():
            request.cancel()
            await asyncio.gather(request, return_exceptions=True)
            result: Any = []
        else:
            result = request.result()
        if not result and errors:
            code, message = errors[-1]
            name = contract.localSymbol or contract.symbol
            raise IBKRError(f"{what} of {name}: IB {code}: {message}")
        return result

    async def refresh_orders(self) -> None:
        """Open orders, completed orders and executions, fresh from TWS."""
        timeout = self.config.request_timeout
        ib = self.ib
        for request in (ib.reqOpenOrdersAsync, lambda: ib.reqCompletedOrdersAsync(False),
                        ib.reqExecutionsAsync):
            await self.state.pacer.acquire()
            await asyncio.wait_for(request(), timeout)

    async def positions(self) -> list[Position]:
        """The account's positions at IB, named by this connector's symbols where known."""
        await self.state.pacer.acquire()
        rows = await asyncio.wait_for(self.ib.reqPositionsAsync(), self.config.request_timeout)
        names = {c.conId: s for s, c in self.state.contracts.cache_items()}
        out = []
        for row in rows:
            c = row.contract
            multiplier = float(c.multiplier or 1)
            out.append(Position(names.get(c.conId, c.localSymbol or c.symbol),
                                to_decimal(float(row.position)),
                                to_decimal(float(row.avgCost) / multiplier)))
        return out

    # -- venue state -------------------------------------------------------------------
    def _account(self) -> str:
        return self.endpoint.account or next(iter(self.ib.managedAccounts()), "")

    async def account_values(self) -> AccountValues:
        """The account's summary (reqAccountSummary): cash, buying power, margin and
        net liquidation, every tag in ``raw``."""
        account = self._account()
        await self.state.pacer.acquire()
        rows = await asyncio.wait_for(self.ib.accountSummaryAsync(account),
                                      self.config.request_timeout)
        raw = {row.tag: row.value for row in rows if not account or row.account == account}
        currency = next((row.currency for row in rows if row.tag == "NetLiquidation"
                         and (not account or row.account == account)), "") or "USD"

        def amount(tag: str) -> Decimal | None:
            value = raw.get(tag)
            try:
                return None if value in (None, "") else to_decimal(value, field=tag)
            except ValueError:
                return None

        return AccountValues(account, currency, cash=amount("TotalCashValue"),
                             buying_power=amount("BuyingPower"),
                             margin=amount("InitMarginReq"), equity=amount("NetLiquidation"),
                             raw=raw)

    async def venue_positions(self) -> list[VenuePosition]:
        """The account's positions (reqPositions), with the market value of the
        portfolio rows where TWS sent them; fills IB reported before are reported to
        the core first."""
        account = self._account()
        await self.state.pacer.acquire()
        rows = await asyncio.wait_for(self.ib.reqPositionsAsync(), self.config.request_timeout)
        names = {c.conId: s for s, c in self.state.contracts.cache_items()}
        values = {item.contract.conId: item.marketValue for item in self.ib.portfolio()
                  if not account or item.account == account}
        out = []
        for row in rows:
            if account and row.account != account:
                continue
            c = row.contract
            quantity = to_decimal(float(row.position))
            if not quantity:
                continue
            multiplier = float(c.multiplier or 1)
            value = values.get(c.conId)
            out.append(VenuePosition(
                names.get(c.conId, c.localSymbol or c.symbol), quantity,
                to_decimal(float(row.avgCost) / multiplier),
                None if value is None else to_decimal(float(value)), row.account))
        await self.state.orders.settled(self.config.commission_wait + 1.0)
        return out

    async def executions(self, since_ns: int) -> list[Fill]:
        """This client's executions since ``since_ns`` (reqExecutions with a time
        filter), oldest first; ``client_order_id`` is the order's orderRef."""
        flt = self.lib.ExecutionFilter()
        if since_ns > 0:
            moment = datetime.fromtimestamp(since_ns / 1e9, tz=timezone.utc)
            flt.time = moment.strftime("%Y%m%d-%H:%M:%S")
        await self.state.pacer.acquire()
        rows = await asyncio.wait_for(self.ib.reqExecutionsAsync(flt),
                                      self.config.request_timeout)
        names = {c.conId: s for s, c in self.state.contracts.cache_items()}
        out = []
        for row in rows:
            ex = row.execution
            try:
                report = row.commissionReport
                commission = Decimal(0)
                if report is not None and report.execId and \
                        type(report.commission) in (float, int) and \
                        0 <= report.commission < 1e300:
                    commission = to_decimal(float(report.commission))
                c = row.contract
                ref = ex.orderRef if type(ex.orderRef) is str else ""
                out.append(Fill(ref, ex.execId, names.get(c.conId, c.localSymbol or c.symbol),
                                OrderSide.BUY if ex.side == "BOT" else OrderSide.SELL,
                                to_decimal(float(ex.shares)), to_decimal(float(ex.price)),
                                commission, self.connector.name, str(ex.orderId or ""),
                                _ns(ex.time) or 0))
            except (ValueError, TypeError) as exc:
                self.connector.report_error(
                    f"unreadable execution {getattr(ex, 'execId', '?')!r} from IB: {exc}",
                    code="bad-report")
        out.sort(key=lambda f: f.timestamp_ns)
        return out

    async def instrument(self, symbol: str) -> Instrument:
        """The contract details of ``symbol`` (reqContractDetails, cached): minTick,
        sizeIncrement (minSize where IB gives no increment), multiplier, currency, the
        primary exchange, trading hours."""
        contract = await self.contract(symbol)
        details = self.state.contracts.details.get(symbol)

        def positive(value: Any) -> Decimal | None:
            if isinstance(value, Decimal):
                return value if value.is_finite() and value > 0 else None
            if type(value) not in (float, int) or not 0 < value < 1e300:
                return None
            return to_decimal(float(value))

        tick = lot = None
        hours = ""
        if details is not None:
            tick = positive(details.minTick)
            lot = positive(getattr(details, "sizeIncrement", None)) or \
                positive(getattr(details, "minSize", None))
            hours = details.tradingHours or ""
        multiplier = to_decimal(contract.multiplier) if contract.multiplier else Decimal(1)
        return Instrument(symbol, tick, lot, multiplier, contract.currency,
                          contract.primaryExchange or contract.exchange, hours,
                          str(contract.conId or ""))

def _pacing_key(contract: Any, what: str) -> tuple[Any, ...]:
    """What IB counts its "same contract, exchange and tick type in 2 s" by."""
    return (contract.conId, contract.exchange, what)
