"""Hook specifications: the plugin author's API reference.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose names are the
hooks below; an implementation may take a subset of a hook's arguments. The core calls a
connector's hooks on the plugin that serves it only, on the manager's event loop. A hook
may be a plain function or return an awaitable (be an ``async def``); the core awaits it.
Guide with worked examples: docs/plugin-guide.md.

What the core does, so that a plugin need not (and must not do again):

- Connection status. A plugin reports facts on its connector (``report_connected``,
  ``report_lost(reason)``, ``report_reconnecting(reason)`` when its library reconnects
  by itself, ``report_failed(reason)``, ``report_connecting(detail)``,
  ``report_closed()`` from the disconnect hook); the core decides the
  ``ConnectorStatus`` (CONNECTING before it calls ``stockfish_connect``, DISCONNECTED
  after ``stockfish_disconnect``), logs one line per change and tells subscribers.
  ``Connector.set_status`` is deprecated (mapped onto the reports).
- Reconnection and restore. After a reported loss the manager reconnects with backoff
  and jitter (``stockfish_disconnect`` then ``stockfish_connect``), or, after
  ``report_reconnecting``, waits for ``report_connected``; then it subscribes every
  subscription again.
- Reconciliation. After every (re)connect, and for an order unacknowledged too long or
  whose fills the venue counts differently, the manager sends a STATUS request per open
  order; the plugin answers with what the venue says (its fills again, marked
  ``possible_duplicate``, then the current status) and keeps no reconciliation of its own.
  An order whose outcome is unknown is never re-sent elsewhere.
- Fill de-duplication. The order store applies each (connector, execution id) once, also
  across restarts (the journal) and for orders that left memory; a plugin reports every
  execution the venue reports, every time, and keeps no set of seen execution ids.
  Order states follow one state machine in the core; an illegal transition is refused
  and counted.
- Sequence accounting. Set ``MarketUpdate.sequence_number`` (and ``session`` when the
  venue has a stream identity) and ``stream``; the manager tracks numbers per
  (source, stream, symbol) (an update without a symbol under its data type's name):
  a bounded reorder buffer (at stream start too), duplicates dropped, gaps declared,
  restarts recognised (a new session, or a fall back after silence or after a reported
  loss), all counted once in ``get_stats()`` and logged rate-limited. A plugin that must
  know of a gap before it normalizes (an incremental order book) runs the core's
  sequencer itself (``stockfish_core.plugin_api.sequencer_for``); the manager then does
  not check that connector's updates again.
- Liveness. The manager watches every subscription (a bar subscription for about one bar
  interval, ticks for ``staleness``, news and macro never by silence), re-subscribes a
  silent one, serves it from another feed that has it, then reports it.
- Isolation. An update the manager cannot process costs only itself (counted as a data
  error with its reason); the rest of its batch is delivered.
"""

# mypy: disable-error-code="empty-body"
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .accounts import AccountValues, Instrument, VenuePosition
    from .connector import Connector, PluginSpec, Subscription
    from .data.settings import HistoryRequest
    from .models import MarketUpdate
    from .orders import Fill, OrderRequest
    from .simulator import VenueSimulator

__all__ = [
    "hookspec",
    "stockfish_account",
    "stockfish_connect",
    "stockfish_disconnect",
    "stockfish_execute",
    "stockfish_executions",
    "stockfish_history",
    "stockfish_instrument",
    "stockfish_market_listener",
    "stockfish_normalize",
    "stockfish_plugin_spec",
    "stockfish_positions",
    "stockfish_simulator",
    "stockfish_subscribe",
    "stockfish_unsubscribe",
]

hookspec = pluggy.HookspecMarker("stockfish")


@hookspec(firstresult=True)
def stockfish_plugin_spec() -> PluginSpec:
    """Declare the plugin: the plugin API version it needs, its config class, capabilities.

    :return: a :class:`~stockfish_core.connector.PluginSpec`.
    """


@hookspec(firstresult=True)
def stockfish_connect(connector: Connector) -> Awaitable[None] | None:
    """Open a session to the venue described by ``connector.config``.

    Report ``connector.report_connected()`` once usable and keep the session object in
    ``connector.state``. Raise to fail the attempt; the manager retries with backoff.
    Report a later loss with ``connector.report_lost(reason)`` (or ``report_failed``):
    the manager reconnects by calling ``stockfish_disconnect`` then this hook again. If
    your library reconnects by itself (ZeroMQ does), report
    ``connector.report_reconnecting(reason)`` instead: the manager leaves the session
    alone and, at ``report_connected``, restores subscriptions and reconciles orders.

    :param connector: the connector to open.
    """


@hookspec(firstresult=True)
def stockfish_disconnect(connector: Connector) -> Awaitable[None] | None:
    """Close the session and release its resources; must not raise if already closed.

    ``connector.report_closed()`` may say so; the core sets DISCONNECTED afterwards anyway.

    :param connector: the connector to close.
    """


@hookspec(firstresult=True)
def stockfish_subscribe(
    connector: Connector, subscription: Subscription
) -> Awaitable[None] | None:
    """Start a market-data subscription; data then arrives through ``connector.feed``.

    Raise ``ValueError`` for a subscription the venue cannot serve (unknown symbol,
    unsupported data type). The manager calls this again for every subscription after a
    reconnect.

    :param connector: the connector to subscribe on.
    :param subscription: symbol, data type and its parameters (depth, bar interval).
    """


@hookspec(firstresult=True)
def stockfish_unsubscribe(
    connector: Connector, subscription: Subscription
) -> Awaitable[None] | None:
    """Stop a market-data subscription started by ``stockfish_subscribe``.

    :param connector: the connector to unsubscribe on.
    :param subscription: the subscription as it was given to ``stockfish_subscribe``.
    """


@hookspec(firstresult=True)
def stockfish_normalize(connector: Connector, messages: list[Any]) -> list[MarketUpdate]:
    """Turn a batch of raw venue messages into MarketUpdates.

    Called by the core for every ``connector.feed(messages)``, with the whole batch: do
    the per-message work in a loop here. Leave out, and count with
    ``connector.report_error(..., data=True)``, a message that cannot be read; never raise
    for one bad message.

    :param connector: the connector the messages came from.
    :param messages: raw messages in arrival order, in whatever form the plugin fed them.
    :return: the normalized updates, in order.
    """


@hookspec(firstresult=True)
def stockfish_execute(connector: Connector, request: OrderRequest) -> Awaitable[None] | None:
    """Submit, cancel, replace or query an order at the venue.

    Return once the request has left the process; results (acknowledgement, fills,
    cancels, rejects) come back through ``connector.report_order``. Raise
    ``OrderRejected(reason)`` if the request was refused before it left,
    ``VenueUnavailable`` if it could not be sent; any other exception during a submit
    leaves the order's outcome unknown until reconciliation.

    :param connector: the connector to send through.
    :param request: the action and the order (``request.order.client_order_id`` is set).
    """


@hookspec(firstresult=True)
def stockfish_account(
    connector: Connector,
) -> Awaitable[AccountValues | None] | AccountValues | None:
    """The account's values at the venue: cash, buying power, margin, equity, currency.

    Called by ``manager.account(name)`` on a connected connector. Return None if the
    venue does not report them; raise ``VenueUnavailable`` when it cannot be asked now.

    :param connector: the connector to ask.
    :return: an :class:`~stockfish_core.accounts.AccountValues`.
    """


@hookspec(firstresult=True)
def stockfish_positions(
    connector: Connector,
) -> Awaitable[list[VenuePosition] | None] | list[VenuePosition] | None:
    """Every position the venue holds for the account, as it holds it now.

    Called by the manager on every connect and every ``position_check_interval``
    seconds; it compares them with the positions its fills imply and reports a
    difference (the core owns reconciliation: a plugin reports facts and never adjusts
    them). Every execution report the venue sent before its answer must have been
    handed to ``connector.report_order`` before this returns. Return None if the venue
    does not report positions.

    :param connector: the connector to ask.
    :return: :class:`~stockfish_core.accounts.VenuePosition` rows, flat ones may be left out.
    """


@hookspec(firstresult=True)
def stockfish_executions(
    connector: Connector, since_ns: int
) -> Awaitable[list[Fill] | None] | list[Fill] | None:
    """The executions of the account since ``since_ns`` (nanoseconds since the epoch).

    Called after every connect, before positions are compared: the manager applies
    those of its own orders that it has not heard of, exactly once (fills are
    de-duplicated by execution id), and counts the others (orders placed elsewhere).
    ``Fill.client_order_id`` is the order's client order id as sent by the manager
    (IB orderRef, FIX ClOrdID), or "" for an order that did not come from it. A venue
    that answers such a question with order reports instead (FIX
    OrderMassStatusRequest) hands those to ``connector.report_order`` and returns an
    empty list. Return None if the venue offers neither.

    :param connector: the connector to ask.
    :param since_ns: the earliest execution time wanted.
    :return: :class:`~stockfish_core.orders.Fill` objects, oldest first.
    """


@hookspec(firstresult=True)
def stockfish_instrument(
    connector: Connector, symbol: str
) -> Awaitable[Instrument | None] | Instrument | None:
    """What the venue says about ``symbol``: tick size, lot size, multiplier, currency,
    exchange, trading hours.

    Called by ``manager.instrument(symbol)`` (the answer is cached per connector). Raise
    ``ValueError`` for a symbol the venue does not know; return None if the venue does
    not describe its instruments.

    :param connector: the connector to ask.
    :param symbol: the symbol as orders and subscriptions name it.
    :return: an :class:`~stockfish_core.accounts.Instrument`.
    """


@hookspec(firstresult=True)
def stockfish_history(
    connector: Connector, request: HistoryRequest
) -> Awaitable[list[Any] | None] | list[Any] | None:
    """Historical data from the venue: bars (and ticks, where the venue offers them).

    ``request.what`` is ``"bars"`` (return :class:`~stockfish_core.models.OHLCVBar` of
    ``request.interval``) or ``"ticks"`` (return ``PriceTick`` or ``Trade``); the range
    is ``[request.start_ns, request.end_ns)``, by bar start or tick time, oldest first.
    Keep within the venue's request limits (pacing) here: the manager calls this for
    every range its cache does not hold. Return None for what the venue does not offer;
    raise ``ValueError`` for a request it cannot serve (unknown symbol or interval).
    The connector may not be connected: a venue that needs its session raises
    ``VenueUnavailable`` then.

    :param connector: the connector to ask.
    :param request: a :class:`~stockfish_core.data.HistoryRequest`.
    """


@hookspec(firstresult=True)
def stockfish_market_listener(connector: Connector) -> Callable[[MarketUpdate], None] | None:
    """For an execution connector that needs the market the manager delivers (the
    ``paper`` venue fills against it): a function the manager then calls, on its loop,
    with every update it delivers to subscribers, from every feed. Asked once, when the
    connector is added; return None for nothing. Keep the function cheap: it is on the
    data path. An exception it raises is counted as a subscriber error.

    :param connector: the connector being added.
    """


@hookspec(firstresult=True)
def stockfish_simulator(symbols: list[str]) -> VenueSimulator | None:
    """A simulator of the venue, not yet started, for ``stockfish demo`` and tests.

    Its ``start()`` serves on 127.0.0.1 and returns the connector settings that reach
    it; ``stop()`` takes it away (the demo's failover does so mid-run).

    :param symbols: the symbols the simulator should quote.
    """


def hook_names() -> list[str]:
    """Names of all hooks specified here, in definition order."""
    return [name for name in __all__ if name.startswith("stockfish_")]

