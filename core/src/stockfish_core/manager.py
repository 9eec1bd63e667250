"""The ExchangeManager: what users program against.

It owns the connectors of a configuration, keeps them connected (health checks,
reconnection with backoff and jitter, subscriptions restored), routes market data to
subscribers and orders to venues (failover, risk checks, the journal, one state machine).

Threads and loops
-----------------
Everything the manager does runs on one asyncio event loop, the *manager loop*:

- ``await manager.start()`` / ``async with manager:`` use the running loop.
- ``manager.start_all()`` from a plain script starts a loop in a daemon thread named
  ``stockfish-manager``; the blocking methods hand their work to it and wait.

Subscriber callbacks (``on_price_tick``, ``on_fill``...) and every hook run on the
manager loop. A callback may call the blocking API: ``send_order``, ``cancel_order`` and
``replace_order`` do their work right away and return; ``subscribe_*`` then schedules
the subscription instead of waiting for it. Never block the manager loop for long: it
delivers all market data.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from os import PathLike
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .callbacks import Callbacks
from .config import (
    Config,
    ConnectorConfig,
    FailoverStrategy,
    ManagerConfig,
    load_config,
    redact_settings,
    structure_plugin_config,
)
from .connector import Connector, Subscription, connector_capabilities
from .errors import StockfishError
from .execution import OrderService
from .journal import Journal
from .loopbridge import LoopBridge
from .marketdata import MarketDataHub
from .models import (
    ConnectorStatus,
    DataType,
    MarketUpdate,
    OHLCVBar,
    OrderBookSnapshot,
    PriceTick,
    now_ns,
)
from .oms import OrderStore
from .orders import Order, OrderStatus, OrderUpdate, Position
from .plugins import PluginRegistry
from .risk import RiskChecker
from .routing import Router
from .subscriptions import Subscriptions
from .supervision import Supervisor, venue_scores
from .tasks import cancel_and_wait
from .venues import RunState, VenueState, find_venue
from .venuestate import VenueBook, merge

if TYPE_CHECKING:
    import pandas

    from .accounts import AccountValues, Instrument, ReconciliationReport
    from .data.recorder import Recorder
    from .data.settings import RecordingConfig

__all__ = ["ExchangeManager"]

log = logging.getLogger("stockfish.manager")
T = TypeVar("T")

_SECRET_WORDS = ("password", "secret", "token", "key")


def _add_connector_hint(name: Any, plugin: Any, primary: bool, data_only: bool,
                        priority: int, settings: dict[str, Any]) -> str:
    """What to write instead of ``add_connector(connector_object, "name")``."""
    obj = name if not isinstance(name, str) else plugin
    legacy_plugin = getattr(obj, "stockfish_plugin", None)
    legacy_settings = dict(getattr(obj, "stockfish_settings", None) or {})
    conn_name = name if isinstance(name, str) else (
        plugin if isinstance(plugin, str) else legacy_plugin or "NAME")
    plugin_name = legacy_plugin or (plugin if isinstance(plugin, str) else None) or "PLUGIN"
    args = [repr(conn_name)]
    if plugin_name != conn_name:
        args.append(repr(plugin_name))
    for flag, value, default in (("primary", primary, False), ("data_only", data_only, False),
                                 ("priority", priority, 0)):
        if value != default:
            args.append(f"{flag}={value!r}")
    for key, value in {**legacy_settings, **settings}.items():
        secret = any(word in key.lower() for word in _SECRET_WORDS)
        args.append(f"{key}={'os.environ[...]' if secret else repr(value)}")
    if not legacy_plugin and not settings:
        args.append("**settings")
    return (f"add_connector takes the connector's name, then its plugin's name and the "
            f"plugin's settings, not a connector object (got {type(obj).__name__}); "
            f"write: manager.add_connector({', '.join(args)})")


class ExchangeManager:
    """Connectors, subscriptions and orders across venues.

    A facade over its parts: the loop bridge (threads and loops), the supervisor
    (connections, liveness, the connectors' status reports), the subscriptions, the
    order service (routing, risk, sending, venue reports) with the order store
    (``orders``), and the market data hub (``hub``).

    ``ExchangeManager.from_config("stockfish.yaml")`` builds one from a file;
    ``ExchangeManager(failover_strategy=...)`` plus :meth:`add_connector` by hand.
    """

    def __init__(
        self,
        failover_strategy: FailoverStrategy | str | None = None,
        *,
        config: ManagerConfig | None = None,
        registry: PluginRegistry | None = None,
        journal: Journal | str | PathLike[str] | None = None,
    ) -> None:
        cfg = config or ManagerConfig()
        if failover_strategy is not None:
            cfg = attrs.evolve(cfg, failover_strategy=FailoverStrategy(failover_strategy))
        self.config = cfg
        self.registry = registry if registry is not None else PluginRegistry()
        if not isinstance(journal, Journal):
            journal = Journal(journal if journal is not None else cfg.journal)
        self.journal = journal
        self.router = Router(cfg.failover_strategy)
        self.risk = RiskChecker(cfg.risk)
        self.hub = MarketDataHub(
            int(cfg.staleness * 1e9), cfg.bar_cache_size,
            bar_grace_ns=(None if cfg.bar_staleness_grace is None
                          else int(cfg.bar_staleness_grace * 1e9)),
            reorder_buffer=cfg.reorder_buffer, reorder_wait=cfg.reorder_wait,
            restart_silence=cfg.sequence_restart_silence)
        self.orders = OrderStore(journal, keep_final=cfg.keep_final_orders,
                                 keep_final_seconds=cfg.keep_final_seconds)
        # The parts, each built with what it works on; they share the venues by name.
        self._venues: dict[str, VenueState] = {}
        self._state = RunState()
        self._loopbridge = LoopBridge()
        self._callbacks = Callbacks(self.hub)
        self._subscriptions = Subscriptions(self._venues, self.hub)
        #: Accounts and positions as the venues report them (stockfish_core.venuestate).
        self.venue_book = VenueBook(journal, self.orders)
        self.venue_book.configured = cfg.instruments
        self.venue_book.handlers = self._callbacks.reconciliation
        self._truth_tasks: dict[str, asyncio.Task[Any]] = {}
        #: Market listeners of execution connectors (stockfish_market_listener), by name.
        self._market_listeners: dict[str, Callable[[MarketUpdate], None]] = {}
        self._order_service = OrderService(
            cfg, self._venues, self.hub, self.orders, self.router, self.risk, self._state,
            self._loopbridge, self._callbacks, self.venue_book,
            scores=functools.partial(venue_scores, self._venues, self.hub, self.router))
        self._supervisor = Supervisor(
            cfg, self._venues, self.hub, self.orders, self.router, self._state,
            self._loopbridge, self._callbacks, send=self._order_service.send,
            orders_in_doubt=self._order_service.orders_in_doubt,
            venue_truth=self._venue_truth)
        self.started_ns = 0
        #: The recorder of delivered updates (``record()`` or ``recording:`` in the config).
        self.recorder: Recorder | None = None

    @property
    def config(self) -> ManagerConfig:
        """The manager's settings; setting another one hands it to every part."""
        return self._config

    @config.setter
    def config(self, config: ManagerConfig) -> None:
        self._config = config
        if getattr(self, "venue_book", None) is not None:
            self.venue_book.configured = config.instruments
        for part in (getattr(self, "_supervisor", None), getattr(self, "_order_service", None)):
            if part is not None:
                part.config = config

    # ------------------------------------------------------------------ building
    @classmethod
    def from_config(cls, source: str | PathLike[str] | Config,
                    registry: PluginRegistry | None = None) -> ExchangeManager:
        """A manager with the connectors and subscriptions of a configuration."""
        registry = registry if registry is not None else PluginRegistry()
        config = source if isinstance(source, Config) else load_config(source, registry)
        for note in config.notes:
            log.log(logging.WARNING if note.message.startswith("deprecated") else logging.INFO,
                    "configuration: %s", note)
        manager = cls(config=config.manager, registry=registry)
        for conn in config.enabled.values():
            manager._add(conn)
        for sub in config.subscriptions:
            manager._subscriptions.pending.append((sub.subscriptions(), sub.connectors))
        return manager

    def add_connector(self, name: str, plugin: str | None = None, *, primary: bool = False,
                      data_only: bool = False, priority: int = 0, config: Any = None,
                      **settings: Any) -> Connector:
        """Add a connector of an installed (or registered) plugin.

        ``settings`` are the plugin's own, validated by its config class; or pass an
        already built ``config`` object.
        """
        if not isinstance(name, str) or not isinstance(plugin, (str, type(None))):
            raise TypeError(_add_connector_hint(name, plugin, primary, data_only, priority,
                                                settings))
        if name in self._venues:
            raise ValueError(f"a connector named {name!r} already exists")
        conn = ConnectorConfig(name, plugin or name, True, primary, data_only, priority,
                               settings, config)
        return self._add(conn)

    def _add(self, conn: ConnectorConfig) -> Connector:
        self.registry.load([conn.plugin], strict=True)
        loaded = self.registry.get(conn.plugin)
        spec = loaded.spec
        if spec is None:
            raise StockfishError(f"plugin {conn.plugin!r} does not provide connectors")
        config = conn.config
        if config is None and spec.config_class is not None:
            config = structure_plugin_config(spec.config_class, conn.settings,
                                             f"connectors.{conn.name}")
        connector = Connector(
            conn.name, conn.plugin, config, listener=self,
            capabilities=connector_capabilities(spec.capabilities, config, conn.name),
            primary=conn.primary, data_only=conn.data_only, priority=conn.priority,
            settings=redact_settings(conn.settings, config), hooks=loaded.hooks,
        )
        self._venues[conn.name] = VenueState(connector, len(self._venues))
        listener = loaded.hooks.call("stockfish_market_listener", connector=connector)
        if listener is not None:  # an execution connector that sees the market (paper)
            for handlers in self.hub.handlers.values():  # first: before any subscriber
                handlers.insert(0, listener)
            self._market_listeners[conn.name] = listener
        if self._state.running and self._loopbridge.loop is not None:
            self._loopbridge.spawn(self._supervisor.connect(self._venues[conn.name]))
        return connector

    def remove_connector(self, name: str) -> None:
        venue = self._venue(name)
        open_orders = self.orders.open_orders(name)
        if open_orders:
            raise StockfishError(f"connector {name} has {len(open_orders)} open orders; "
                                 "cancel them first")
        self._loopbridge.run(self._supervisor.disconnect(venue))
        self._subscriptions.remove_connector(venue)
        listener = self._market_listeners.pop(name, None)
        if listener is not None:
            for handlers in self.hub.handlers.values():
                handlers.remove(listener)
        del self._venues[name]

    def get_connector(self, name: str) -> Connector:
        return self._venue(name).connector

    @property
    def connectors(self) -> dict[str, Connector]:
        """The connectors by name, in the order added (a copy: add and remove them with
        :meth:`add_connector` and :meth:`remove_connector`)."""
        return {name: venue.connector for name, venue in self._venues.items()}

    @property
    def primary_connector(self) -> str | None:
        """The name of the first connector added as primary, or None."""
        return next((v.name for v in self._venues.values() if v.connector.primary), None)

    def list_connectors(self) -> list[tuple[str, ConnectorStatus, bool]]:
        """(name, status, is_primary) for every connector, in the order added."""
        return [(v.name, v.connector.status, v.connector.primary) for v in self._venues.values()]

    def _venue(self, name: str) -> VenueState:
        return find_venue(self._venues, name)

    # ------------------------------------------------------------------ subscribers
    def add_subscriber(self, subscriber: object) -> None:
        """Deliver to ``subscriber``'s methods: on_price_tick, on_orderbook, on_bar,
        on_trade, on_news, on_macro, on_custom, on_update (every update) each get the
        MarketUpdate; on_update_batch(updates) every update too, the list one batch
        delivered at once (instead of on_update); on_order_update(order), on_fill(fill, order),
        on_connector_status(name, status, reason), on_stale(name, subscription,
        message) (a subscription still without data after it was re-subscribed and
        failed over) and on_reconciliation(report) (a position the venue holds
        differently, a :class:`~stockfish_core.accounts.ReconciliationReport`). All run
        on the manager loop."""
        found = self.hub.add_subscriber(subscriber)
        found += self._callbacks.add(subscriber)
        if not found:
            raise TypeError(f"{subscriber!r} has none of the subscriber methods")

    def remove_subscriber(self, subscriber: object) -> None:
        self.hub.remove_subscriber(subscriber)
        self._callbacks.remove(subscriber)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> bool:
        """Connect every connector on the running loop; True if all connected."""
        if self._state.running:
            return all(v.connector.is_connected for v in self._venues.values())
        self._loopbridge.adopt_loop()
        if self.config.recording is not None and self.recorder is None:
            self.record(self.config.recording)
        self._state.running = True
        self._state.stopping = False
        self.started_ns = now_ns()
        loop = asyncio.get_running_loop()
        # A journal on disk is committed by its writer thread; one in memory costs too
        # little to be worth the hand-off, and is written on the loop.
        self.orders.defer_writes(
            loop.call_soon, loop.call_soon_threadsafe if self.journal.on_disk else None)
        restored = self.orders.restore()
        if restored:
            log.warning("journal %s: %d open order(s) from a previous run; reconciling with "
                        "their venues", self.journal.path, len(restored))
        self.venue_book.load(self._venues)
        results = await asyncio.gather(*(self._supervisor.connect(v)
                                         for v in self._venues.values()))
        for subs, names in self._subscriptions.pending:
            await self._subscriptions.subscribe(subs, names)
        self._subscriptions.pending.clear()
        # Positions and missed executions are known when start() returns.
        truth = [t for t in self._truth_tasks.values() if not t.done()]
        if truth:
            await asyncio.wait(truth, timeout=self.config.connect_timeout)
        self._supervisor.start_health_check()
        if self.config.position_check_interval > 0:
            self._loopbridge.spawn(self._position_loop(self.config.position_check_interval))
        connected = sum(results)
        log.info("ExchangeManager: %d/%d connectors started", connected, len(self._venues))
        return all(results)

    async def stop(self) -> None:
        """Disconnect everything and close the journal's pending work."""
        if not self._state.running:
            return
        if self._loopbridge.foreign_loop():
            await self._loopbridge.bridge(self.stop())
            return
        self._state.stopping = True
        await self._cancel_tasks()
        self.hub.close()
        await asyncio.gather(*(self._supervisor.disconnect(v) for v in self._venues.values()),
                             return_exceptions=True)
        self.orders.defer_writes(None)  # flush, and write at once from now on
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            self.hub.remove_subscriber(recorder)
            await asyncio.to_thread(recorder.close)
        self._state.running = False
        log.info("ExchangeManager stopped")

    async def _cancel_tasks(self) -> None:
        """Cancel the health check and every task of the manager's (reconnects, restores,
        sends), and wait for them to end (cancelled again if need be: cancel_and_wait)."""
        tasks: set[asyncio.Future[Any]] = {*self._loopbridge.tasks}
        if self._supervisor.health_task is not None:
            tasks.add(self._supervisor.health_task)
        for task in await cancel_and_wait(tasks):
            log.error("ExchangeManager.stop: %r still running after repeated cancels; "
                      "left behind", task)

    async def __aenter__(self) -> ExchangeManager:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def start_all(self, timeout: float | None = None) -> bool:
        """Blocking: connect all connectors; True if all connected. Connectors that did
        not connect keep retrying in the background."""
        return self._loopbridge.run(self.start(), timeout)

    def stop_all(self) -> None:
        """Blocking: disconnect all connectors and stop the manager thread."""
        if self._loopbridge.loop is None:
            return
        self._loopbridge.run(self.stop())
        self._loopbridge.stop_thread()

    def close(self) -> None:
        """Stop and close the journal."""
        self.stop_all()
        self.journal.close()


    # ------------------------------------------------------------------ listener
    def on_status(self, connector: Connector, status: ConnectorStatus, reason: str) -> None:
        self._supervisor.on_status(connector, status, reason)

    def on_updates(self, connector: Connector, updates: Sequence[MarketUpdate]) -> None:
        venue = self._venues.get(connector.name)
        if venue is not None:
            self.hub.process(connector.name, venue.stats, updates, now_ns(),
                             sequenced=bool(connector.sequencers))

    def on_error(self, connector: Connector, message: str, *, symbol: str | None,
                 code: str | None, data: bool) -> None:
        self._supervisor.on_error(connector, message, symbol=symbol, code=code, data=data)

    def on_order_update(self, connector: Connector, update: OrderUpdate) -> None:
        self._order_service.on_order_update(connector, update)

    # ------------------------------------------------------------------ subscriptions
    async def subscribe_async(self, subscriptions: Iterable[Subscription],
                              connectors: Sequence[str] | None = None) -> dict[str, str]:
        """Subscribe; returns {"connector subscription": error} for the ones that failed."""
        return await self._loopbridge.bridge(self._subscriptions.subscribe(
            list(subscriptions), list(connectors) if connectors else None))

    def _feed_rank(self, name: str) -> tuple[int, bool, int]:
        return self._subscriptions.feed_rank(name)

    async def unsubscribe_async(self, symbols: Iterable[str],
                                connectors: Sequence[str] | None = None) -> None:
        await self._loopbridge.bridge(self._subscriptions.unsubscribe(list(symbols),
                                                                      connectors))

    def subscribe(self, subscriptions: Iterable[Subscription],
                  connectors: Sequence[str] | None = None) -> dict[str, str]:
        """Blocking subscribe (before start: remembered and applied at start)."""
        subs = list(subscriptions)
        names = list(connectors) if connectors else None
        if not self._state.running:
            for sub in subs:  # fail early for what can never work
                self._subscriptions.targets(sub.data_type, names)
            self._subscriptions.pending.append((subs, names))
            return {}
        return self._loopbridge.run_or_schedule(self._subscriptions.subscribe(subs, names), {})

    def subscribe_price(self, symbols: Iterable[str],
                        connectors: Sequence[str] | None = None) -> dict[str, str]:
        return self.subscribe([Subscription(s, DataType.PRICE_TICK) for s in symbols], connectors)

    def subscribe_orderbook(self, symbols: Iterable[str], depth: int = 10,
                            connectors: Sequence[str] | None = None) -> dict[str, str]:
        return self.subscribe([Subscription(s, DataType.ORDERBOOK_SNAPSHOT, depth=depth)
                               for s in symbols], connectors)

    def subscribe_bars(self, symbols: Iterable[str], interval: str = "1m",
                       connectors: Sequence[str] | None = None) -> dict[str, str]:
        return self.subscribe([Subscription(s, DataType.OHLCV_BAR, interval=interval)
                               for s in symbols], connectors)

    def subscribe_trades(self, symbols: Iterable[str],
                         connectors: Sequence[str] | None = None) -> dict[str, str]:
        return self.subscribe([Subscription(s, DataType.TRADE) for s in symbols], connectors)

    def subscribe_news(self, symbols: Iterable[str] = ("news",),
                       connectors: Sequence[str] | None = None) -> dict[str, str]:
        """News (NewsEvent, to ``on_news``) from the connectors that serve it. A symbol is
        what the venue files news under; ``news``, the default, is the topic of the
        zmq plugin's news items that name no instrument."""
        return self.subscribe([Subscription(s, DataType.NEWS) for s in symbols], connectors)

    def subscribe_macro(self, symbols: Iterable[str] = ("macro",),
                        connectors: Sequence[str] | None = None) -> dict[str, str]:
        """Economic releases (MacroEvent, to ``on_macro``); ``macro``, the default, is the
        topic of the zmq plugin's releases that name no instrument."""
        return self.subscribe([Subscription(s, DataType.MACRO) for s in symbols], connectors)

    def unsubscribe(self, symbols: Iterable[str], connectors: Sequence[str] | None = None) -> None:
        self._loopbridge.run_or_schedule(
            self._subscriptions.unsubscribe(list(symbols), connectors), None)


    # ------------------------------------------------------------------ orders
    def send_order(self, order: Order, connector_name: str | None = None) -> str:
        """Check, journal and send a new order; returns its client order id.

        Raises OrderRejected (the order is then REJECTED, with the reason) when a risk
        check fails or no connector can take it. The venue's answer arrives later:
        ``get_order_status``, ``wait_for_order`` or a subscriber's ``on_order_update``.

        Called from another thread, it returns once the order is committed to the
        journal. Called on the manager loop (a subscriber callback) it returns at once;
        the order is committed, with everything else written in this loop iteration,
        and then sent, right after the callback returns (group commit).
        """
        return self._order_service.send_order(order, connector_name)

    def send_bracket(self, entry: Order, take_profit: Order, stop_loss: Order,
                     connector_name: str | None = None) -> tuple[str, str, str]:
        """Send an entry with a take profit (LIMIT) and a stop loss (STOP or STOP_LIMIT),
        both on the other side and for the same quantity; returns the three client order
        ids (entry, take profit, stop loss).

        The entry is sent as :meth:`send_order` sends it. The core holds the exits and sends
        them to the entry's venue once the entry is final with a fill (for the quantity
        filled); an entry done without a fill cancels them unsent. The first fill of one
        exit cancels the other. ``get_order`` knows the exits from the start. A venue whose
        capabilities say ``brackets`` (IBKR) gets all three at once as its own bracket and
        does the same itself. See docs/orders.md for the emulation's limits (it does not
        survive a restart).
        InvalidOrderError for exits that do not fit the entry."""
        return self._order_service.send_bracket(entry, take_profit, stop_loss, connector_name)

    def send_oco(self, first: Order, second: Order,
                 connector_name: str | None = None) -> tuple[str, str]:
        """Send two orders for one symbol as one-cancels-other: the first fill of either
        cancels the other. Returns the two client order ids. Emulated by the core (see
        docs/orders.md)."""
        return self._order_service.send_oco(first, second, connector_name)

    def cancel_order(self, order_id: str) -> bool:
        """Ask the order's venue to cancel it; False if the order is already final."""
        return self._order_service.cancel_order(order_id)

    def replace_order(self, order_id: str, quantity: Any = None, price: Any = None,
                      stop_price: Any = None) -> bool:
        """Ask the order's venue to change quantity (new total) and/or prices.

        The order with its new terms is checked as a new order is, before anything is
        sent: InvalidOrderError for illegal terms (a quantity or price not positive, a
        price on a MARKET or STOP order, a quantity below the filled one), OrderRejected
        when it breaks a risk limit. False if the order is already final."""
        return self._order_service.replace_order(order_id, quantity, price, stop_price)

    def get_order(self, order_id: str) -> Order:
        """The order, from memory; a final order that left it (ManagerConfig
        ``keep_final_orders`` / ``keep_final_seconds``) comes from the journal, as a copy.
        KeyError if neither knows it."""
        return self._order_service.get_order(order_id)

    def get_order_status(self, order_id: str) -> OrderStatus:
        return self._order_service.get_order_status(order_id)

    def open_orders(self) -> list[Order]:
        return self._order_service.open_orders()

    def wait_for_order_async(self, order_id: str,
                             predicate: Callable[[Order], bool] | None = None,
                             timeout: float = 10.0) -> asyncio.Future[Order]:
        """Await the order until ``predicate(order)`` holds (default: the order is final);
        TimeoutError after ``timeout`` seconds. Cancelling the wait stops it.

        Returns a future rather than a coroutine: a caller with many orders in flight then
        pays for no task per order. Raises KeyError at once for an unknown order. Works
        from any event loop: awaited on another loop than the manager's (a notebook while
        the manager runs on its thread), the wait runs on the manager loop."""
        return self._order_service.wait_for_order_async(order_id, predicate, timeout)

    def wait_for_order(self, order_id: str, predicate: Callable[[Order], bool] | None = None,
                       timeout: float = 10.0) -> Order:
        return self._order_service.wait_for_order(order_id, predicate, timeout)

    async def send_order_async(self, order: Order, connector_name: str | None = None) -> str:
        """:meth:`send_order` on the manager loop: returns the client order id at once;
        the order is committed to the journal and sent at the end of this loop iteration
        (``wait_for_order_async`` follows it from there)."""
        return await self._order_service.send_order_async(order, connector_name)

    def engage_kill_switch(self, reason: str = "engaged by operator") -> None:
        """Reject every new order until released."""
        self._order_service.engage_kill_switch(reason)

    def release_kill_switch(self) -> None:
        self._order_service.release_kill_switch()

    # ------------------------------------------------------------------ supervision
    def reconnect_schedule(self, connector: Connector) -> tuple[float, float]:
        """First and longest delay between reconnect attempts: the manager's, or the
        plugin's suggestion (``Capabilities.reconnect_schedule``) where it is faster."""
        return self._supervisor.reconnect_schedule(connector)

    def health_scores(self) -> dict[str, float]:
        """0 (unusable) to 100 (healthy) for every connector
        (:func:`~stockfish_core.routing.health_score`)."""
        return self._supervisor.health_scores()

    # ------------------------------------------------------------------ the loop
    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the manager loop and wait for it (from another thread)."""
        return self._loopbridge.run(coro, timeout)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the manager loop and return its result."""
        return self._loopbridge.call(fn, *args)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task of the manager's (cancelled and awaited at stop)."""
        return self._loopbridge.spawn(coro)

    @property
    def _order_waiters(self) -> dict[str, list[tuple[Callable[[Order], bool],
                                                     asyncio.Future[Order]]]]:
        return self._order_service.order_waiters

    # ------------------------------------------------------------------ data access
    def latest(self, symbol: str) -> PriceTick | None:
        """The last price tick delivered for ``symbol``."""
        return self.hub.latest_ticks.get(symbol)

    def book(self, symbol: str) -> OrderBookSnapshot | None:
        return self.hub.books.get(symbol)

    def bars(self, symbol: str, interval: str = "1m") -> list[OHLCVBar]:
        return list(self.hub.bars.get((symbol, interval), ()))

    # ------------------------------------------------------------------ venue state
    def account(self, connector: str) -> AccountValues:
        """The account's values as the venue ``connector`` reports them now (cash,
        buying power, margin, equity); NotImplementedError for a venue that reports
        none, VenueUnavailable while it is not connected."""
        return self._run(self.account_async(connector))

    async def account_async(self, connector: str) -> AccountValues:
        """:meth:`account` for code on an event loop."""
        return await self._loopbridge.bridge(self.venue_book.account(self._venue(connector)))

    def instrument(self, symbol: str, connector: str | None = None) -> Instrument:
        """What the venue says about ``symbol`` (tick size, lot size, multiplier,
        currency, exchange, trading hours): from ``connector``, else from the first
        connector that describes it; cached. Where no venue describes it, the
        configuration's (ManagerConfig ``instruments``). LookupError if neither does."""
        return self._run(self.instrument_async(symbol, connector))

    async def instrument_async(self, symbol: str, connector: str | None = None
                               ) -> Instrument:
        """:meth:`instrument` for code on an event loop."""
        venues = [self._venue(connector)] if connector is not None else \
            sorted(self._venues.values(), key=lambda v: self._feed_rank(v.name))
        return await self._loopbridge.bridge(self.venue_book.instrument(venues, symbol))

    def positions(self, connector: str | None = None) -> dict[str, Position]:
        """Positions by symbol, of one connector or summed over all: as the venue last
        reported them plus the fills applied since (a venue that reports positions),
        else as the fills in the journal imply. Before any venue has reported, and
        without ``connector``, the positions of this run's fills (and of the open
        orders restored from the journal)."""
        return self._call(self._positions, connector)

    def _positions(self, connector: str | None) -> dict[str, Position]:
        book = self.venue_book
        if connector is not None:
            return book.positions(self._venue(connector).name)
        if not any(book.reports_positions(name) for name in self._venues):
            return dict(self.orders.positions)
        return merge(book.positions(name) for name in self._venues)

    async def check_positions_async(self, connector: str | None = None
                                    ) -> list[ReconciliationReport]:
        """Compare the venues' positions with this manager's now (as on every connect
        and every ``position_check_interval``); returns the differences reported."""
        names = [connector] if connector is not None else list(self._venues)

        async def check() -> list[ReconciliationReport]:
            found: list[ReconciliationReport] = []
            for name in names:
                found += await self._check_positions(self._venue(name))
            return found

        return await self._loopbridge.bridge(check())

    def _venue_truth(self, venue: VenueState) -> None:
        """After a connect: executions missed meanwhile, then the positions check, in a
        task of their own (a reconnect is not held up by the venue's answers)."""
        previous = self._truth_tasks.get(venue.name)
        if previous is not None and not previous.done():
            previous.cancel()
        self._truth_tasks[venue.name] = self._spawn(self._catch_up_and_check(venue))

    async def _catch_up_and_check(self, venue: VenueState) -> None:
        try:
            await self.venue_book.catch_up(
                venue, lambda update: self.on_order_update(venue.connector, update))
        except Exception as exc:  # noqa: BLE001 - the venue's answer, logged
            log.error("%s: executions since the last check not fetched: %s: %s",
                      venue.name, type(exc).__name__, exc)
        await self._check_positions(venue)

    async def _check_positions(self, venue: VenueState) -> list[ReconciliationReport]:
        if not venue.connector.is_connected:
            return []
        try:
            reports = await self.venue_book.check(venue)
        except Exception as exc:  # noqa: BLE001 - the venue's answer, logged
            log.error("%s: positions not checked: %s: %s", venue.name,
                      type(exc).__name__, exc)
            return []
        for report in reports or ():
            for handler in self._callbacks.reconciliation:
                self._callbacks.notify(handler, report)
        return reports or []

    async def _position_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            for venue in list(self._venues.values()):
                if venue.connector.capabilities.execution and not venue.busy:
                    await self._check_positions(venue)

    def get_stats(self) -> dict[str, Any]:
        return self._loopbridge.call(self._stats)

    def _stats(self) -> dict[str, Any]:
        connectors = {}
        total: dict[str, Any] = {"connected": 0}
        summed = ("updates_received", "updates_delivered", "gaps", "lost", "duplicates",
                  "out_of_order", "reordered", "restarts", "standby", "data_errors",
                  "venue_errors", "orders_submitted", "orders_filled", "orders_cancelled",
                  "orders_rejected", "orders_errored", "fills", "duplicate_fills",
                  "position_differences", "external_executions",
                  "reconnect_attempts", "reconnects", "resubscribes", "stale_failovers",
                  "stale_alerts")
        for venue in self._venues.values():
            data = venue.stats.as_dict()
            data["status"] = venue.connector.status.value
            connectors[venue.name] = data
            total["connected"] += venue.connector.is_connected
            for key in summed:
                total[key] = total.get(key, 0) + data[key]
        total["updates_normalized"] = total.get("updates_received", 0)
        return {"connectors": connectors, "total": total, "orders": self.orders.status_counts(),
                "subscriber_errors": self.hub.subscriber_errors,
                "illegal_transitions": self.orders.illegal_transitions,
                "unknown_order_reports": self.orders.unknown_reports,
                "kill_switch": self.risk.kill_switch, **self.orders.stats(),
                "order_groups": dict(self._order_service.groups.stats),
                "recording": self.recorder.stats() if self.recorder is not None else None}

    # ------------------------------------------------------------------ data on disk
    def record(self, path: str | PathLike[str] | RecordingConfig, **options: Any) -> Recorder:
        """Record every update delivered from now on to Parquet files under ``path``
        (options: those of :class:`~stockfish_core.data.RecordingConfig`), until
        :meth:`stop`. Needs ``pip install 'stockfish-core[data]'``."""
        from .data import require_pyarrow
        from .data.settings import RecordingConfig

        require_pyarrow()
        from .data.recorder import Recorder

        if isinstance(path, RecordingConfig):
            config = attrs.evolve(path, **options) if options else path
        else:
            config = RecordingConfig(str(path), **options)
        if self.recorder is not None:
            raise StockfishError(f"already recording to {self.recorder.path}")
        recorder = Recorder(config).start()
        self.hub.add_subscriber(recorder)
        self.recorder = recorder
        return recorder

    def history(self, symbol: str, start: Any, end: Any, interval: str = "1m",
                connector: str | None = None, *, refresh: bool = False) -> pandas.DataFrame:
        """Bars of ``symbol`` from ``start`` to ``end`` (datetimes, dates, ISO strings or
        nanoseconds) as a pandas DataFrame, from the first connector offering history (or
        ``connector``); served from the on-disk cache when the range is already there."""
        from .data.history import history

        return history(self, symbol, start, end, interval, connector, refresh=refresh)

    async def history_async(self, symbol: str, start: Any, end: Any, interval: str = "1m",
                            connector: str | None = None, *,
                            refresh: bool = False) -> pandas.DataFrame:
        """:meth:`history` for code on the manager's loop."""
        from .data.history import history_async, to_frame

        return to_frame(await history_async(self, symbol, start, end, interval, connector,
                                            refresh=refresh))

    def get_health_status(self) -> dict[str, dict[str, Any]]:
        return self._loopbridge.call(self._health)

    def _health(self) -> dict[str, dict[str, Any]]:
        now = now_ns()
        scores = self.health_scores()
        out = {}
        for venue in self._venues.values():
            c = venue.connector
            last = venue.stats.last_update_ns
            out[venue.name] = {
                "status": c.status.value,
                "connected": c.is_connected,
                "reason": c.status_reason,
                "primary": c.primary,
                "data_only": c.data_only,
                "score": round(scores[venue.name], 1),
                "last_data_age_s": None if not last else round((now - last) / 1e9, 3),
                "stale_symbols": self.hub.stale_symbols(venue.name),
                "subscriptions": len(venue.subscriptions),
                "recent_errors": self.router.recent_errors(venue.name),
                "reconnect_attempts": venue.stats.reconnect_attempts,
                "open_orders": len(self.orders.open_orders(venue.name)),
            }
        return out

