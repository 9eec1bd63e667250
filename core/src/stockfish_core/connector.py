"""What the core hands to plugins: the :class:`Connector` every hook receives, and the
small declarations a plugin makes about itself.

A *plugin* is an installed distribution (``stockfish-zmq``); a *connector* is one
configured use of it (``zmq_us``, ``zmq_crypto``). Hooks receive the connector, whose
``config`` is the plugin's validated config object and whose ``state`` is a free slot
for the plugin's own session object. The plugin talks back to the core through the
connector's methods: the connection facts (:meth:`Connector.report_connected`,
:meth:`Connector.report_lost`, :meth:`Connector.report_reconnecting`,
:meth:`Connector.report_failed`, :meth:`Connector.report_connecting`,
:meth:`Connector.report_closed`),
:meth:`Connector.feed`, :meth:`Connector.report_order` and
:meth:`Connector.report_error`. The core decides what a fact does to the connector's
:class:`~stockfish_core.models.ConnectorStatus`; ``set_status`` is deprecated.

Threading: hooks are called on the manager's event loop. The reports, ``feed`` and
``deliver`` must be called on that loop too; a
plugin whose library calls back on its own threads (QuickFIX) uses
:meth:`Connector.call_soon_threadsafe`.
"""

from __future__ import annotations

import enum
import logging
import warnings
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from .models import ConnectorStatus, DataType, MarketUpdate
from .orders import OrderType, OrderUpdate, TimeInForce
from .sequencing import Sequencer
from .stats import ConnectorStats
from .tasks import spawn

if TYPE_CHECKING:
    import asyncio

    from .plugins import PluginHooks

__all__ = [
    "Capabilities",
    "Connector",
    "ConnectorListener",
    "ConnectorReport",
    "PluginSpec",
    "Subscription",
]


def _data_types(values: Iterable[DataType]) -> frozenset[DataType]:
    return frozenset(values)


def _order_types(values: Iterable[OrderType]) -> frozenset[OrderType]:
    return frozenset(values)


def _tifs(values: Iterable[TimeInForce]) -> frozenset[TimeInForce]:
    return frozenset(values)


@attrs.frozen
class Capabilities:
    """What a plugin can do; the manager routes nothing to a connector that cannot do it."""

    data_types: frozenset[DataType] = attrs.field(default=frozenset(), converter=_data_types)
    order_types: frozenset[OrderType] = attrs.field(default=frozenset(), converter=_order_types)
    time_in_force: frozenset[TimeInForce] = attrs.field(
        default=frozenset({TimeInForce.DAY}), converter=_tifs
    )
    replace: bool = False
    #: The venue takes brackets natively: the core sends the entry and both exits at once,
    #: with ``parent_id``, ``oca_group`` and ``transmit`` in their OrderRequests, and leaves
    #: activation and cancellation to the venue (otherwise the core emulates them).
    brackets: bool = False
    #: The reconnect schedule this venue suggests, ``(first delay, longest delay)`` in
    #: seconds (a local gateway deserves fast retries); the manager uses it where it is
    #: faster than its own ``reconnect_initial_delay`` / ``reconnect_max_delay``.
    reconnect_schedule: tuple[float, float] | None = attrs.field(default=None)

    @reconnect_schedule.validator
    def _check_schedule(self, _: object, value: tuple[float, float] | None) -> None:
        if value is not None and not 0 < value[0] <= value[1]:
            raise ValueError("reconnect_schedule is (first delay, longest delay) with "
                             f"0 < first <= longest, got {value!r}")

    @property
    def execution(self) -> bool:
        """Whether the plugin takes orders at all."""
        return bool(self.order_types)

    def describe(self) -> str:
        data = ",".join(sorted(d.value for d in self.data_types)) or "-"
        orders = ",".join(sorted(o.value for o in self.order_types)) or "data only"
        return f"data: {data}; orders: {orders}"


def connector_capabilities(declared: Capabilities, config: Any, name: str) -> Capabilities:
    """What one connector can do: the plugin's ``declared`` capabilities, narrowed by its
    config object's ``connector_capabilities(declared)`` method where it has one (a FIX
    connector takes trailing stops only where its counterparty does). A config may take
    order types and times in force away, never add them (ValueError)."""
    narrow = getattr(config, "connector_capabilities", None)
    if not callable(narrow):
        return declared
    narrowed = narrow(declared)
    if not isinstance(narrowed, Capabilities):
        raise TypeError(f"connector {name}: connector_capabilities returned "
                        f"{type(narrowed).__name__}, not Capabilities")
    added = (narrowed.order_types - declared.order_types) | (
        narrowed.time_in_force - declared.time_in_force)
    if added or narrowed.data_types - declared.data_types:
        raise ValueError(f"connector {name}: its config may narrow the plugin's "
                         f"capabilities, not widen them ({narrowed.describe()})")
    return narrowed


@attrs.frozen
class PluginSpec:
    """A plugin's declaration of itself, returned by ``stockfish_plugin_spec``.

    ``api_version`` is the plugin API it was written for (``"1.0"``); ``config_class`` is
    an attrs class its connector sections are structured into (unknown keys are errors;
    annotate secrets with :class:`stockfish_core.config.Secret`).
    """

    api_version: str
    config_class: type | None = None
    capabilities: Capabilities = Capabilities()
    description: str = ""


@attrs.frozen
class Subscription:
    """One market-data subscription: a symbol and what to receive for it."""

    symbol: str
    data_type: DataType = DataType.PRICE_TICK
    depth: int | None = None
    interval: str | None = None
    params: Mapping[str, Any] = attrs.field(factory=dict, hash=False, eq=False)

    def __str__(self) -> str:
        extra = f" depth={self.depth}" if self.depth else ""
        extra += f" interval={self.interval}" if self.interval else ""
        return f"{self.symbol}:{self.data_type.value}{extra}"


class ConnectorReport(str, enum.Enum):
    """A fact a plugin reports about its connection (the core decides the status)."""

    #: Still connecting (a step of the handshake, why it takes long).
    CONNECTING = "connecting"
    #: The session is usable.
    CONNECTED = "connected"
    #: The session went away; the manager reconnects it.
    LOST = "lost"
    #: The session went away and the plugin's library reconnects by itself.
    RECONNECTING = "reconnecting"
    #: The session cannot be used (refused credentials, a bad setting).
    FAILED = "failed"
    #: The session was closed on request (the disconnect hook).
    CLOSED = "closed"


def status_after(current: ConnectorStatus, report: ConnectorReport) -> ConnectorStatus | None:
    """The core's transition: the status a connector in ``current`` enters on ``report``,
    or None when the report changes nothing (a loss reported while already down)."""
    if report is ConnectorReport.CONNECTED:
        return ConnectorStatus.CONNECTED
    if report is ConnectorReport.LOST:
        if current in (ConnectorStatus.DISCONNECTED, ConnectorStatus.ERROR):
            return None
        return ConnectorStatus.DISCONNECTED
    if report is ConnectorReport.RECONNECTING:
        return ConnectorStatus.RECONNECTING
    if report is ConnectorReport.FAILED:
        return ConnectorStatus.ERROR
    if report is ConnectorReport.CLOSED:
        return ConnectorStatus.DISCONNECTED
    # CONNECTING: progress of a connection being made (by the manager or the library).
    if current is ConnectorStatus.RECONNECTING:
        return ConnectorStatus.RECONNECTING
    return ConnectorStatus.CONNECTING


#: How the deprecated ``set_status`` maps onto the reports.
_REPORT_OF_STATUS = {
    ConnectorStatus.CONNECTING: ConnectorReport.CONNECTING,
    ConnectorStatus.CONNECTED: ConnectorReport.CONNECTED,
    ConnectorStatus.DISCONNECTED: ConnectorReport.LOST,
    ConnectorStatus.RECONNECTING: ConnectorReport.RECONNECTING,
    ConnectorStatus.ERROR: ConnectorReport.FAILED,
}


class ConnectorListener(Protocol):
    """Receives what a connector reports; the ExchangeManager is the usual listener."""

    def on_status(self, connector: Connector, status: ConnectorStatus, reason: str) -> None: ...

    def on_updates(self, connector: Connector, updates: Sequence[MarketUpdate]) -> None: ...

    def on_order_update(self, connector: Connector, update: OrderUpdate) -> None: ...

    def on_error(
        self, connector: Connector, message: str, *, symbol: str | None, code: str | None,
        data: bool,
    ) -> None: ...


class Connector:
    """One configured connector, as every hook sees it."""

    __slots__ = (
        "__weakref__",
        "_normalize",
        "capabilities",
        "config",
        "data_only",
        "hooks",
        "listener",
        "log",
        "loop",
        "name",
        "plugin",
        "primary",
        "priority",
        "sequencers",
        "settings",
        "state",
        "stats",
        "status",
        "status_reason",
    )

    def __init__(
        self,
        name: str,
        plugin: str,
        config: Any = None,
        *,
        listener: ConnectorListener,
        capabilities: Capabilities | None = None,
        primary: bool = False,
        data_only: bool = False,
        priority: int = 0,
        settings: Mapping[str, Any] | None = None,
        hooks: PluginHooks | None = None,
    ) -> None:
        self.name = name
        self.plugin = plugin
        self.config = config
        self.primary = primary
        self.capabilities = capabilities or Capabilities()
        self.data_only = data_only or not self.capabilities.execution
        self.priority = priority
        self.settings: Mapping[str, Any] = settings or {}
        self.status = ConnectorStatus.DISCONNECTED
        self.status_reason = ""
        #: Free slot for the plugin's per-connector session object.
        self.state: Any = None
        #: The core's counters for this connector (get_stats() shows them).
        self.stats = ConnectorStats()
        #: The core's sequencers the plugin runs itself
        #: (stockfish_core.plugin_api.sequencer_for); told of every lost connection.
        self.sequencers: list[Sequencer[Any]] = []
        self.log = logging.getLogger(f"stockfish.connector.{name}")
        self.loop: asyncio.AbstractEventLoop | None = None
        self.listener = listener
        self.hooks = hooks
        self._normalize: Callable[[Connector, list[Any]], list[MarketUpdate]] | None = (
            hooks.normalizer() if hooks is not None else None
        )

    def __repr__(self) -> str:
        return f"<Connector {self.name} plugin={self.plugin} status={self.status.value}>"

    # -- plugin -> core ------------------------------------------------------------
    def report_connected(self, detail: str = "") -> None:
        """The session is usable (``detail``: what it is connected to)."""
        self._report(ConnectorReport.CONNECTED, detail)

    def report_lost(self, reason: str) -> None:
        """The session went away, and why; the manager reconnects it (calling the
        disconnect hook, then the connect hook). Nothing to do if already down."""
        self._report(ConnectorReport.LOST, reason)

    def report_reconnecting(self, reason: str) -> None:
        """The session went away and the plugin's library reconnects by itself: the
        manager leaves the session alone and, at :meth:`report_connected`, restores
        subscriptions and reconciles open orders."""
        self._report(ConnectorReport.RECONNECTING, reason)

    def report_failed(self, reason: str) -> None:
        """The session cannot be used (refused credentials, a bad setting)."""
        self._report(ConnectorReport.FAILED, reason)

    def report_closed(self, reason: str = "closed") -> None:
        """The session was closed on request (in the disconnect hook)."""
        self._report(ConnectorReport.CLOSED, reason)

    def report_connecting(self, detail: str = "") -> None:
        """A step of a connection still being made (``detail`` says which)."""
        self._report(ConnectorReport.CONNECTING, detail)

    def _report(self, report: ConnectorReport, reason: str) -> None:
        status = status_after(self.status, report)
        if status is not None:
            self._set_status(status, reason)

    def _set_status(self, status: ConnectorStatus, reason: str = "") -> None:
        """The core's transition (idempotent: a repeat is not reported)."""
        if status is self.status and reason == self.status_reason:
            return
        self.status = status
        self.status_reason = reason
        self.listener.on_status(self, status, reason)

    def set_status(self, status: ConnectorStatus, reason: str = "") -> None:
        """Deprecated: report the fact instead (:meth:`report_connected`,
        :meth:`report_lost`, :meth:`report_reconnecting`, :meth:`report_failed`,
        :meth:`report_connecting`), onto which this maps ``status``."""
        warnings.warn("Connector.set_status is deprecated: report the fact "
                      "(report_connected, report_lost, report_reconnecting, report_failed)",
                      DeprecationWarning, stacklevel=2)
        self._report(_REPORT_OF_STATUS[ConnectorStatus(status)], reason)

    def feed(self, messages: list[Any]) -> None:
        """Hand a batch of raw venue messages to the core.

        The core normalizes them with this plugin's ``stockfish_normalize`` (resolved
        once, not one hook call per message) and delivers the updates. A message the
        normalizer cannot read should be counted with :meth:`report_error` by the
        normalizer and left out of its result, not raised.
        """
        normalize = self._normalize
        if normalize is None:
            raise RuntimeError(f"plugin {self.plugin!r} implements no stockfish_normalize")
        updates = normalize(self, messages)
        if updates:
            self.listener.on_updates(self, updates)

    def deliver(self, updates: Sequence[MarketUpdate]) -> None:
        """Hand already-normalized updates to the core."""
        if updates:
            self.listener.on_updates(self, updates)

    def report_order(self, update: OrderUpdate) -> None:
        """Report an acknowledgement, fill, cancel, replace or reject of one of our orders."""
        if update.connector is None:
            update.connector = self.name
        self.listener.on_order_update(self, update)

    def report_error(
        self, message: str, *, symbol: str | None = None, code: str | int | None = None,
        data: bool = False,
    ) -> None:
        """Report a problem: ``data=True`` for a bad message (counted as a data error),
        otherwise a venue error (per symbol when ``symbol`` is given)."""
        self.listener.on_error(
            self, message, symbol=symbol, code=None if code is None else str(code), data=data
        )

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``coro`` (a reader loop) as a supervised task of this connector: an
        exception that ends it is reported as a lost connection with the exception,
        never silent (:func:`stockfish_core.tasks.spawn`); the disconnect hook ends such
        tasks with ``await stockfish_core.plugin_api.cancel_spawned(connector)``."""
        return spawn(self, coro, name=name)

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the manager's loop, from any thread."""
        if self.loop is None:
            raise RuntimeError(f"connector {self.name} is not running on a loop")
        self.loop.call_soon_threadsafe(callback, *args)

    @property
    def normalizer(self) -> Callable[[Connector, list[Any]], list[MarketUpdate]] | None:
        """The plugin's ``stockfish_normalize``, resolved once (None: it has none)."""
        return self._normalize

    @property
    def sequenced(self) -> bool:
        """Whether the plugin runs the core's sequencer itself: the manager then does not
        check the sequence of this connector's updates again."""
        return bool(self.sequencers)

    @property
    def is_connected(self) -> bool:
        return self.status is ConnectorStatus.CONNECTED

    def supports(self, data_types: Iterable[DataType]) -> bool:
        return all(d in self.capabilities.data_types for d in data_types)
