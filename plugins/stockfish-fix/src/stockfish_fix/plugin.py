"""The stockfish-fix plugin: hook implementations registered under the entry point `fix`.

A FIX 4.2, 4.4 or 5.0SP2 (FIXT.1.1) session to one counterparty, on QuickFIX: market
data (MarketDataRequest, snapshot plus incremental refresh) and orders (NewOrderSingle,
OrderCancelRequest, OrderCancelReplaceRequest, OrderStatusRequest).
"""

from __future__ import annotations

from typing import Any

from stockfish_core.plugin_api import (
    API_VERSION,
    Capabilities,
    Connector,
    DataType,
    Fill,
    Instrument,
    MarketUpdate,
    OrderAction,
    OrderRejected,
    OrderRequest,
    OrderType,
    PluginSpec,
    Subscription,
    TimeInForce,
    VenuePosition,
    VenueUnavailable,
    hookimpl,
)

from .config import FixConfig
from .requests import cancel_request, new_order_single, order_terms, replace_request
from .session import FixSession

__all__ = [
    "CAPABILITIES",
    "stockfish_connect",
    "stockfish_disconnect",
    "stockfish_execute",
    "stockfish_executions",
    "stockfish_instrument",
    "stockfish_normalize",
    "stockfish_plugin_spec",
    "stockfish_positions",
    "stockfish_simulator",
    "stockfish_subscribe",
    "stockfish_unsubscribe",
]

CAPABILITIES = Capabilities(
    data_types={DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.TRADE},
    # TRAILING_STOP only on connectors whose counterparty takes it (``trailing_stops``,
    # FixConfig.connector_capabilities): elsewhere the manager refuses it before it leaves.
    order_types=set(OrderType),
    time_in_force=set(TimeInForce),
    replace=True,
)


@hookimpl
def stockfish_plugin_spec() -> PluginSpec:
    return PluginSpec(
        api_version=API_VERSION,
        config_class=FixConfig,
        capabilities=CAPABILITIES,
        description="FIX 4.2 / 4.4 / 5.0SP2 sessions on QuickFIX: market data and orders.",
    )


def _session(connector: Connector) -> FixSession:
    state = connector.state
    if not isinstance(state, FixSession):
        raise VenueUnavailable(f"{connector.name}: not connected")
    return state


@hookimpl
async def stockfish_connect(connector: Connector) -> None:
    state = connector.state
    if not isinstance(state, FixSession):
        state = FixSession(connector, connector.config)
        connector.state = state
    await state.open()


@hookimpl
async def stockfish_disconnect(connector: Connector) -> None:
    state = connector.state
    if isinstance(state, FixSession):
        await state.close()


@hookimpl
def stockfish_subscribe(connector: Connector, subscription: Subscription) -> None:
    session = _session(connector)
    if subscription.data_type is DataType.ORDERBOOK_SNAPSHOT:
        depth = subscription.depth or session.config.default_depth
    elif subscription.data_type is DataType.PRICE_TICK:
        depth = 1
    else:
        depth = 0
    session.subscribe(subscription, depth)


@hookimpl
def stockfish_unsubscribe(connector: Connector, subscription: Subscription) -> None:
    state = connector.state
    if isinstance(state, FixSession):
        state.unsubscribe(subscription)


@hookimpl
def stockfish_normalize(connector: Connector, messages: list[Any]) -> list[MarketUpdate]:
    state = connector.state
    if not isinstance(state, FixSession):
        return []
    return state.market.normalize(connector, messages)


@hookimpl
def stockfish_execute(connector: Connector, request: OrderRequest) -> None:
    session = _session(connector)
    config = session.config
    tracker = session.tracker
    order = request.order
    action = request.action
    if action is OrderAction.SUBMIT:
        known = order.client_order_id in tracker.orders
        tracked = tracker.add(order)
        try:
            session.send("D", new_order_single(config, tracked, order_terms(order)))
        except VenueUnavailable:
            if not known:
                tracker.discard(tracked.client_order_id)
            raise
        return
    tracked = tracker.resolve(order.client_order_id) or tracker.add(order)
    if action is OrderAction.CANCEL:
        cl_ord_id = tracker.request_id(tracked, "C")
        tracked.pending[cl_ord_id] = "cancel"
        _send_request(session, tracked.pending, cl_ord_id, "F",
                      cancel_request(config, tracked, cl_ord_id))
    elif action is OrderAction.REPLACE:
        if request.quantity is None and request.price is None and request.stop_price is None:
            raise OrderRejected("a replace needs a new quantity, price or stop price")
        cl_ord_id = tracker.request_id(tracked, "R")
        tracked.pending[cl_ord_id] = "replace"
        _send_request(session, tracked.pending, cl_ord_id, "G", replace_request(
            config, tracked, cl_ord_id, request.quantity, request.price, request.stop_price,
            order_terms(order)))
    elif action is OrderAction.STATUS:
        session.ask_status(tracked)
    else:  # pragma: no cover - the enum has no other member
        raise OrderRejected(f"unsupported action {action!r}")


@hookimpl
async def stockfish_positions(connector: Connector) -> list[VenuePosition] | None:
    """RequestForPositions (AN) -> PositionReports (AP), with ``venue_state: true``."""
    session = _session(connector)
    return await session.venue_state.positions(session.config.logon_timeout)


@hookimpl
async def stockfish_instrument(connector: Connector, symbol: str) -> Instrument | None:
    """SecurityDefinitionRequest (c) -> SecurityDefinition (d), with
    ``security_definitions: true``; None otherwise (the configuration describes it)."""
    session = _session(connector)
    return await session.venue_state.instrument(symbol, session.config.logon_timeout)


@hookimpl
def stockfish_executions(connector: Connector, since_ns: int) -> list[Fill] | None:
    """An OrderMassStatusRequest (AF), with ``venue_state: true``: the status report of
    every order comes back through the execution reports (the core reconciles each
    order's CumQty), so no executions are returned here."""
    return [] if _session(connector).venue_state.mass_status() else None


def _send_request(session: FixSession, pending: dict[str, str], cl_ord_id: str, mtype: str,
                  body: Any) -> None:
    try:
        session.send(mtype, body)
    except VenueUnavailable:
        pending.pop(cl_ord_id, None)
        raise


@hookimpl
def stockfish_simulator(symbols: list[str]) -> Any:
    """The FIX exchange simulator on 127.0.0.1 (for ``stockfish demo``)."""
    from .testing.venue import ExchangeVenue

    return ExchangeVenue(symbols)
