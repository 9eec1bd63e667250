"""The stockfish-ibkr plugin: hook implementations registered under the entry point
``ibkr``. Interactive Brokers TWS / IB Gateway through ib_insync or ib_async."""

from __future__ import annotations

import logging
from typing import Any

from stockfish_core.plugin_api import (
    API_VERSION,
    AccountValues,
    Capabilities,
    Connector,
    DataType,
    Fill,
    HistoryRequest,
    Instrument,
    OHLCVBar,
    OrderAction,
    OrderRejected,
    OrderRequest,
    OrderType,
    PluginSpec,
    Position,
    Subscription,
    TimeInForce,
    VenuePosition,
    VenueUnavailable,
    hookimpl,
)

from . import history, marketdata
from .config import IBKRConfig
from .errors import ClientIdInUse, UnknownSymbol
from .marketdata import BadMarketData, FeedKind, FeedSub, bar_request, to_bar
from .session import IBSession
from .state import IBKRState

__all__ = [
    "historical_bars",
    "positions",
    "stockfish_account",
    "stockfish_connect",
    "stockfish_disconnect",
    "stockfish_execute",
    "stockfish_executions",
    "stockfish_history",
    "stockfish_instrument",
    "stockfish_normalize",
    "stockfish_plugin_spec",
    "stockfish_positions",
    "stockfish_simulator",
    "stockfish_subscribe",
    "stockfish_unsubscribe",
]

log = logging.getLogger("stockfish.ibkr")

#: First and longest delay between reconnect attempts, seconds.
RECONNECT_SCHEDULE = (0.25, 2.0)

CAPABILITIES = Capabilities(
    data_types={DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.OHLCV_BAR},
    order_types={OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT,
                 OrderType.TRAILING_STOP},
    time_in_force={TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK,
                   TimeInForce.GTD},
    replace=True,
    brackets=True,
    # TWS / IB Gateway runs next to its API clients: after a loss, try again soon and
    # often (a gateway back after 30 s is found within about 2 s, not 15-30 s later).
    reconnect_schedule=RECONNECT_SCHEDULE,
)


@hookimpl
def stockfish_plugin_spec() -> PluginSpec:
    return PluginSpec(api_version=API_VERSION, config_class=IBKRConfig,
                      capabilities=CAPABILITIES, description=__doc__ or "")


def _state(connector: Connector) -> IBKRState:
    state = connector.state
    if state is None:
        config = connector.config if connector.config is not None else IBKRConfig()
        state = connector.state = IBKRState(connector, config)
    return state  # type: ignore[no-any-return]


def _session(connector: Connector) -> IBSession:
    state = _state(connector)
    session = state.session
    if session is None or not session.is_connected:
        raise VenueUnavailable(f"{connector.name}: not connected to TWS / IB Gateway")
    return session


@hookimpl
async def stockfish_connect(connector: Connector) -> None:
    state = _state(connector)
    if state.session is not None:
        await state.session.close()
        state.session = None
    session = IBSession(state)
    connector.report_connecting(
        f"connecting to {session.endpoint} with {state.library_name}")
    state.session = session
    try:
        await session.connect()
    except BaseException as exc:
        state.session = None
        await session.close()
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, ClientIdInUse):
            connector.report_failed(reason)
        else:
            connector.report_lost(reason)
        raise


@hookimpl
async def stockfish_disconnect(connector: Connector) -> None:
    state = connector.state
    if state is None or state.session is None:
        return
    session, state.session = state.session, None
    await session.close()
    connector.report_closed("disconnected")


@hookimpl
async def stockfish_subscribe(connector: Connector, subscription: Subscription) -> None:
    await _session(connector).feeds.subscribe(subscription)


@hookimpl
async def stockfish_unsubscribe(connector: Connector, subscription: Subscription) -> None:
    state = connector.state
    if state is not None and state.session is not None:
        await state.session.feeds.unsubscribe(subscription)


#: The hot path: the core resolves this function once and calls it per batch.
stockfish_normalize = hookimpl(marketdata.normalize)


@hookimpl
async def stockfish_execute(connector: Connector, request: OrderRequest) -> None:
    orders = _state(connector).orders
    action = request.action
    if action is OrderAction.SUBMIT:
        await orders.submit(request.order, request)
    elif action is OrderAction.CANCEL:
        await orders.cancel(request.order)
    elif action is OrderAction.STATUS:
        await orders.status(request.order)
    elif action is OrderAction.REPLACE:
        await orders.replace(request.order, request.quantity, request.price,
                             request.stop_price)
    else:  # pragma: no cover - the enum has no other member
        raise OrderRejected(f"unsupported action {action!r}")


@hookimpl
async def stockfish_account(connector: Connector) -> AccountValues:
    """The account summary (reqAccountSummary) of the connector's account."""
    return await _session(connector).account_values()


@hookimpl
async def stockfish_positions(connector: Connector) -> list[VenuePosition]:
    """The account's positions (reqPositions)."""
    return await _session(connector).venue_positions()


@hookimpl
async def stockfish_executions(connector: Connector, since_ns: int) -> list[Fill]:
    """This client's executions since ``since_ns`` (reqExecutions)."""
    return await _session(connector).executions(since_ns)


@hookimpl
async def stockfish_instrument(connector: Connector, symbol: str) -> Instrument:
    """The contract details of ``symbol`` (reqContractDetails); ValueError if IB has none."""
    try:
        return await _session(connector).instrument(symbol)
    except UnknownSymbol as exc:
        raise ValueError(str(exc)) from None


@hookimpl
async def stockfish_history(connector: Connector, request: HistoryRequest) -> list[Any]:
    """Bars (reqHistoricalData) or ticks (reqHistoricalTicks: trades, quotes for FX) of
    ``request``, within IB's historical pacing rules; see :mod:`stockfish_ibkr.history`."""
    return await history.fetch_history(connector, _session(connector), request)


# -- beyond the hooks ----------------------------------------------------------------------
async def positions(connector: Connector) -> list[Position]:
    """The positions IB holds for the account (reqPositions)."""
    return await _session(connector).positions()


async def historical_bars(connector: Connector, symbol: str, interval: str = "1m",
                          duration: str | None = None, end: str = "",
                          what_to_show: str | None = None) -> list[OHLCVBar]:
    """Completed historical bars of ``symbol`` (reqHistoricalData, paced and cached).

    ``interval`` as for bar subscriptions (``"1m"``, ``"5s"``, ``"1d"``); ``duration`` in
    IB's form (``"3600 S"``, ``"5 D"``); ``end`` an IB date-time, empty for now.
    """
    session = _session(connector)
    params: dict[str, Any] = {"realtime": False}
    if duration:
        params["duration"] = duration
    if what_to_show:
        params["what_to_show"] = what_to_show
    subscription = Subscription(symbol, DataType.OHLCV_BAR, interval=interval, params=params)
    size, dur, what, _rt = bar_request(subscription)
    contract = await session.contract(symbol)
    what = what or ("MIDPOINT" if contract.secType == "CASH" else "TRADES")
    bars = await session.historical(contract, end, dur, size, what)
    sub = FeedSub(subscription, FeedKind.BARS, contract, "", interval=interval)
    out = []
    for bar in bars:
        try:
            out.append(to_bar(sub, bar))
        except BadMarketData as exc:
            connector.report_error(f"historical bars: {exc}", symbol=symbol, data=True)
    return out


@hookimpl
def stockfish_simulator(symbols: list[str]) -> Any:
    """The TWS-protocol gateway simulator on 127.0.0.1 (for ``stockfish demo``)."""
    from .testing.venue import GatewayVenue

    return GatewayVenue(symbols)
