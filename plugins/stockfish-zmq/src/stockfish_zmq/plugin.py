"""The stockfish-zmq plugin: hook implementations registered under the entry point ``zmq``.

A market-data connector for ZeroMQ PUB/SUB feeds of JSON messages; it takes no orders
(its capabilities list no order type, so the manager treats it as data only).
``connector.state`` is a :class:`~stockfish_zmq.session.FeedSession`;
``connector.state.stats`` holds its counters.
"""

from __future__ import annotations

from typing import Any

from stockfish_core.plugin_api import (
    API_VERSION,
    Capabilities,
    Connector,
    DataType,
    MarketUpdate,
    OrderRejected,
    OrderRequest,
    PluginSpec,
    Subscription,
    hookimpl,
)

from .config import ZmqConfig
from .session import FeedSession

__all__ = [
    "CAPABILITIES",
    "stockfish_connect",
    "stockfish_disconnect",
    "stockfish_execute",
    "stockfish_normalize",
    "stockfish_plugin_spec",
    "stockfish_simulator",
    "stockfish_subscribe",
    "stockfish_unsubscribe",
]

CAPABILITIES = Capabilities(data_types=frozenset(DataType))


@hookimpl
def stockfish_plugin_spec() -> PluginSpec:
    return PluginSpec(
        api_version=API_VERSION,
        config_class=ZmqConfig,
        capabilities=CAPABILITIES,
        description="ZeroMQ PUB/SUB market-data feeds (JSON): tickers, depth, trades, bars, "
                    "news, macro, custom; data only",
    )


def _session(connector: Connector) -> FeedSession:
    state = connector.state
    if not isinstance(state, FeedSession) or state.closed:
        raise RuntimeError(f"zmq connector {connector.name!r} is not connected")
    return state


@hookimpl
async def stockfish_connect(connector: Connector) -> None:
    previous = connector.state
    stats = None
    resume = None
    if isinstance(previous, FeedSession):
        stats = previous.stats  # counters survive a reconnect
        resume = previous.resume_state  # where a lost worker process was
        await previous.stop()
    session = FeedSession(connector, stats, resume=resume)
    connector.state = session
    try:
        await session.start()
    except BaseException:
        await session.stop()
        raise


@hookimpl
async def stockfish_disconnect(connector: Connector) -> None:
    state = connector.state
    if isinstance(state, FeedSession):
        await state.stop()


@hookimpl
def stockfish_subscribe(connector: Connector, subscription: Subscription) -> None:
    _session(connector).subscribe(subscription)


@hookimpl
def stockfish_unsubscribe(connector: Connector, subscription: Subscription) -> None:
    _session(connector).unsubscribe(subscription)


@hookimpl
def stockfish_normalize(connector: Connector, messages: list[Any]) -> list[MarketUpdate]:
    state = connector.state
    if not isinstance(state, FeedSession):
        # Messages fed without a connection (replay, tests): normalize with no filter.
        state = connector.state = FeedSession(connector, detached=True)
    return state.normalize(messages)


@hookimpl
def stockfish_execute(connector: Connector, request: OrderRequest) -> None:
    raise OrderRejected(
        f"zmq connector {connector.name!r} is a market-data feed and does not take orders "
        f"({request.action.value} {request.order.client_order_id} refused); route orders to an "
        "execution connector"
    )


@hookimpl
def stockfish_simulator(symbols: list[str]) -> Any:
    """A publisher of synthetic data for these symbols on 127.0.0.1 (for the demo)."""
    from .testing import FeedSimulator

    return FeedSimulator(symbols)
