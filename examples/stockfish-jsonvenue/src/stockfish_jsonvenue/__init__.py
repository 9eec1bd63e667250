"""An example venue plugin that takes orders: the JSON venue, a small exchange speaking
JSON lines over TCP (its server is :mod:`stockfish_jsonvenue.testing`).

What is specific to the venue is here; the rest comes from the core: ``connector.spawn``
runs the reader and reports its death as a lost connection, fills are reported as an
:class:`~stockfish_core.plugin_api.Execution` (the core completes symbol and side from
the order it holds) and :func:`~stockfish_core.plugin_api.answer_status` answers STATUS.
Reconnecting, reconciling, de-duplicating fills and sequence accounting are the core's.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import attrs

from stockfish_core.plugin_api import (
    Capabilities,
    Connector,
    DataType,
    Execution,
    MarketUpdate,
    OrderAction,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PluginSpec,
    PriceTick,
    Subscription,
    VenueUnavailable,
    answer_status,
    cancel_spawned,
    hookimpl,
)

from .testing import JsonVenue

__all__ = ["JsonVenueConfig", "Session"]


@attrs.frozen
class JsonVenueConfig:
    """The ``connectors.<name>`` section of a JSON venue connector."""

    #: Host of the JSON venue (it serves on 127.0.0.1).
    host: str = "127.0.0.1"
    #: Its TCP port.
    port: int = 7001
    #: Seconds to wait for the venue's greeting when connecting.
    connect_timeout: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))


@attrs.define
class Session:
    """One TCP session with the venue, kept in ``connector.state``."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    session: str

    async def send(self, message: dict[str, Any]) -> None:
        if self.writer.is_closing():
            raise VenueUnavailable("the JSON venue session is closed")
        self.writer.write(json.dumps(message).encode() + b"\n")
        await self.writer.drain()


@hookimpl
def stockfish_plugin_spec() -> PluginSpec:
    return PluginSpec(
        api_version="1.0", config_class=JsonVenueConfig,
        capabilities=Capabilities(data_types={DataType.PRICE_TICK},
                                  order_types={OrderType.MARKET, OrderType.LIMIT},
                                  replace=True, reconnect_schedule=(0.05, 1.0)),
        description="JSON venue: JSON lines over TCP (an example that takes orders)")


@hookimpl
async def stockfish_connect(connector: Connector) -> None:
    config: JsonVenueConfig = connector.config
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(config.host, config.port), config.connect_timeout)
    hello = json.loads(await asyncio.wait_for(reader.readline(), config.connect_timeout)
                       or b"{}")
    if hello.get("ev") != "hello":
        writer.close()
        raise ConnectionError(f"the JSON venue did not greet us: {hello!r}")
    connector.state = session = Session(reader, writer, hello["session"])
    connector.spawn(read(connector, session), name="reader")
    connector.report_connected(f"session {session.session}")


@hookimpl
async def stockfish_disconnect(connector: Connector) -> None:
    await cancel_spawned(connector)
    session: Session | None = connector.state
    connector.state = None
    if session is not None:
        session.writer.transport.abort()


@hookimpl
async def stockfish_subscribe(connector: Connector, subscription: Subscription) -> None:
    if subscription.data_type is not DataType.PRICE_TICK:
        raise ValueError(f"the JSON venue serves price ticks only, not {subscription}")
    await _session(connector).send({"op": "sub", "symbol": subscription.symbol})


@hookimpl
async def stockfish_unsubscribe(connector: Connector, subscription: Subscription) -> None:
    await _session(connector).send({"op": "unsub", "symbol": subscription.symbol})


@hookimpl
def stockfish_normalize(connector: Connector, messages: list[dict[str, Any]]
                        ) -> list[MarketUpdate]:
    now = time.time_ns()
    session = connector.state.session if connector.state is not None else None
    return [MarketUpdate(DataType.PRICE_TICK,
                         PriceTick(m["symbol"], bid=float(m["bid"]), ask=float(m["ask"]),
                                   timestamp_ns=now),
                         source=connector.name, sequence_number=m["seq"], session=session,
                         recv_ts_ns=now)
            for m in messages]


@hookimpl
async def stockfish_execute(connector: Connector, request: OrderRequest) -> None:
    order, session = request.order, _session(connector)
    message: dict[str, Any] = {"op": request.action.value, "id": order.client_order_id}
    if request.action is OrderAction.SUBMIT:
        if order.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            raise OrderRejected(f"the JSON venue takes no {order.order_type.value} orders")
        message.update(op="new", symbol=order.symbol, side=order.side.value,
                       qty=str(order.quantity), price=_text(order.price))
    elif request.action is OrderAction.REPLACE:
        message.update(qty=_text(request.quantity), price=_text(request.price))
    await session.send(message)


@hookimpl
def stockfish_simulator(symbols: list[str]) -> JsonVenue:
    return JsonVenue(tuple(symbols))


def _session(connector: Connector) -> Session:
    if connector.state is None:
        raise VenueUnavailable(f"{connector.name} is not connected")
    session: Session = connector.state
    return session


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# -- what the venue sends --------------------------------------------------------------
async def read(connector: Connector, session: Session) -> None:
    """The reader task: every event of the session, until the venue closes it (raised:
    ``connector.spawn`` reports it as the lost connection)."""
    while line := await session.reader.readline():
        on_event(connector, json.loads(line))
    raise ConnectionError("the JSON venue closed the session")


def on_event(connector: Connector, event: dict[str, Any]) -> None:
    kind, order_id = event["ev"], event.get("id", "")
    if kind == "quote":
        connector.feed([event])
    elif kind == "ack":
        connector.report_order(OrderUpdate(order_id, OrderStatus.SUBMITTED,
                                           venue_order_id=event["vid"]))
    elif kind == "fill":
        on_fill(connector, event)
    elif kind == "status":
        on_status(connector, event)
    elif kind == "done":
        connector.report_order(OrderUpdate(order_id, OrderStatus(event["state"]),
                                           reason=event.get("reason")))
    elif kind == "replaced":
        connector.report_order(OrderUpdate(
            order_id, OrderStatus(event["state"]), replaced=True,
            quantity=Decimal(event["qty"]), price=Decimal(event["price"])))
    elif kind == "refused":
        connector.report_order(OrderUpdate(
            order_id, OrderStatus(event["state"]), reason=event["reason"],
            rejected_request=OrderAction(event["action"])))
    else:
        connector.report_error(f"unknown event {kind!r} from the JSON venue", data=True)


def execution(fill: dict[str, str]) -> Execution:
    return Execution(fill["exec"], Decimal(fill["qty"]), Decimal(fill["px"]))


def on_fill(connector: Connector, event: dict[str, Any]) -> None:
    connector.report_order(OrderUpdate(event["id"], OrderStatus.PARTIALLY_FILLED,
                                       execution=execution(event),
                                       possible_duplicate=bool(event.get("dup"))))


def on_status(connector: Connector, event: dict[str, Any]) -> None:
    state = event["state"]
    answer_status(connector, event["id"], None if state is None else OrderStatus(state),
                  fills=[execution(f) for f in event.get("fills", ())],
                  venue_order_id=event.get("vid"))
