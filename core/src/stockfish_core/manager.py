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
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from os import PathLike
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .config import (
    Config,
    ConnectorConfig,
    FailoverStrategy,
    ManagerConfig,
    load_config,
    redact_settings,
    structure_plugin_config,
)
from .connector import Connector, Subscription
from .errors import StockfishError
from .execution import OrderRouting
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
from .orders import Fill, Order
from .plugins import PluginRegistry
from .risk import RiskChecker
from .routing import Router
from .supervision import DOWN, LivenessState, Supervisor, VenueState
from .tasks import cancel_and_wait

if TYPE_CHECKING:
    import pandas

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


class ExchangeManager(LoopBridge, Supervisor, OrderRouting):
    """Connectors, subscriptions and orders across venues.

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
        LoopBridge.__init__(self)
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
        self._venues: dict[str, VenueState] = {}
        self._order_handlers: list[Callable[[Order], Any]] = []
        self._fill_handlers: list[Callable[[Fill, Order], Any]] = []
        self._status_handlers: list[Callable[[str, ConnectorStatus, str], Any]] = []
        self._stale_handlers: list[Callable[[str, Subscription, str], Any]] = []
        self._liveness: dict[tuple[str, str, DataType], LivenessState] = {}
        self._pending_subscriptions: list[tuple[list[Subscription], list[str] | None]] = []
        self._health_task: asyncio.Task[None] | None = None
        self._order_waiters: dict[str, list[tuple[Callable[[Order], bool],
                                                  asyncio.Future[Order]]]] = {}
        self._running = False
        self._stopping = False
        self.started_ns = 0
        #: The recorder of delivered updates (``record()`` or ``recording:`` in the config).
        self.recorder: Recorder | None = None

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
            manager._pending_subscriptions.append((sub.subscriptions(), sub.connectors))
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
            conn.name, conn.plugin, config, listener=self, capabilities=spec.capabilities,
            primary=conn.primary, data_only=conn.data_only, priority=conn.priority,
            settings=redact_settings(conn.settings, config), hooks=loaded.hooks,
        )
        self._venues[conn.name] = VenueState(connector, len(self._venues))
        if self._running and self._loop is not None:
            self._spawn(self._connect(self._venues[conn.name]))
        return connector

    def remove_connector(self, name: str) -> None:
        venue = self._venue(name)
        open_orders = self.orders.open_orders(name)
        if open_orders:
            raise StockfishError(f"connector {name} has {len(open_orders)} open orders; "
                                 "cancel them first")
        self._run(self._disconnect(venue))
        for sub in list(venue.subscriptions):
            self.hub.remove_feed((sub.symbol, sub.data_type), name)
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
        try:
            return self._venues[name]
        except KeyError:
            known = ", ".join(self._venues) or "none"
            raise KeyError(f"no connector named {name!r} (connectors: {known})") from None

    # ------------------------------------------------------------------ subscribers
    def add_subscriber(self, subscriber: object) -> None:
        """Deliver to ``subscriber``'s methods: on_price_tick, on_orderbook, on_bar,
        on_trade, on_news, on_macro, on_custom, on_update (every update) each get the
        MarketUpdate; on_order_update(order), on_fill(fill, order),
        on_connector_status(name, status, reason) and on_stale(name, subscription,
        message) (a subscription still without data after it was re-subscribed and
        failed over). All run on the manager loop."""
        found = self.hub.add_subscriber(subscriber)
        for attr, handlers in (("on_order_update", self._order_handlers),
                               ("on_fill", self._fill_handlers),
                               ("on_connector_status", self._status_handlers),
                               ("on_stale", self._stale_handlers)):
            fn = getattr(subscriber, attr, None)
            if callable(fn):
                handlers.append(fn)
                found.append(attr)
        if not found:
            raise TypeError(f"{subscriber!r} has none of the subscriber methods")

    def remove_subscriber(self, subscriber: object) -> None:
        self.hub.remove_subscriber(subscriber)
        def keep(handlers: list[Any]) -> None:
            handlers[:] = [h for h in handlers if getattr(h, "__self__", None) is not subscriber]

        keep(self._order_handlers)
        keep(self._fill_handlers)
        keep(self._status_handlers)
        keep(self._stale_handlers)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> bool:
        """Connect every connector on the running loop; True if all connected."""
        if self._running:
            return all(v.connector.is_connected for v in self._venues.values())
        self._adopt_loop()
        if self.config.recording is not None and self.recorder is None:
            self.record(self.config.recording)
        self._running = True
        self._stopping = False
        self.started_ns = now_ns()
        self.orders.defer_writes(asyncio.get_running_loop().call_soon)
        restored = self.orders.restore()
        if restored:
            log.warning("journal %s: %d open order(s) from a previous run; reconciling with "
                        "their venues", self.journal.path, len(restored))
        results = await asyncio.gather(*(self._connect(v) for v in self._venues.values()))
        for subs, names in self._pending_subscriptions:
            await self._subscribe(subs, names)
        self._pending_subscriptions.clear()
        self._health_task = asyncio.get_running_loop().create_task(self._health_loop())
        connected = sum(results)
        log.info("ExchangeManager: %d/%d connectors started", connected, len(self._venues))
        return all(results)

    async def stop(self) -> None:
        """Disconnect everything and close the journal's pending work."""
        if not self._running:
            return
        if self._foreign_loop():
            await self._bridge(self.stop())
            return
        self._stopping = True
        await self._cancel_tasks()
        self.hub.close()
        await asyncio.gather(*(self._disconnect(v) for v in self._venues.values()),
                             return_exceptions=True)
        self.orders.defer_writes(None)  # flush, and write at once from now on
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            self.hub.remove_subscriber(recorder)
            await asyncio.to_thread(recorder.close)
        self._running = False
        log.info("ExchangeManager stopped")

    async def _cancel_tasks(self) -> None:
        """Cancel the health check and every task of the manager's (reconnects, restores,
        sends), and wait for them to end (cancelled again if need be: cancel_and_wait)."""
        tasks: set[asyncio.Future[Any]] = {*self._tasks}
        if self._health_task is not None:
            tasks.add(self._health_task)
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
        return self._run(self.start(), timeout)

    def stop_all(self) -> None:
        """Blocking: disconnect all connectors and stop the manager thread."""
        if self._loop is None:
            return
        self._run(self.stop())
        if self._thread is not None:
            loop, thread = self._loop, self._thread
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            self._loop = None
            self._thread = None
            self._loop_thread_id = None

    def close(self) -> None:
        """Stop and close the journal."""
        self.stop_all()
        self.journal.close()


    # ------------------------------------------------------------------ listener
    def on_status(self, connector: Connector, status: ConnectorStatus, reason: str) -> None:
        venue = self._venues.get(connector.name)
        if venue is None:
            return
        if venue.status_changed is not None:
            venue.status_changed.set()
        lost = status in DOWN or status is ConnectorStatus.RECONNECTING
        # One line per state change: the loss (with why) and the return are warnings;
        # the steps of the manager's own attempts, and repeats, are debug.
        why = f" ({reason})" if reason and reason != status.value else ""
        if venue.busy or self._stopping or not self._running:
            level = logging.DEBUG if venue.busy else logging.INFO
            log.log(level, "%s: %s%s", connector.name, status.value, why)
        elif lost and not venue.needs_restore:
            log.warning("%s: connection lost: %s%s", connector.name, status.value, why)
        elif status is ConnectorStatus.CONNECTED and venue.needs_restore:
            log.warning("%s: back (reconnected by its library)", connector.name)
        else:
            log.debug("%s: %s%s", connector.name, status.value, why)
        if lost:
            # Sequence numbers that fall back after a loss are a new stream (a restarted
            # publisher), however short the loss.
            self.hub.interrupted(connector.name)
            for sequencer in connector.sequencers:
                sequencer.interrupted()
        if lost and not self._stopping and self._running and not venue.busy:
            if not venue.needs_restore:
                venue.stats.disconnects += 1
            venue.needs_restore = True
            self._orders_in_doubt(connector.name)
            self.hub.check_staleness(now_ns(), self._is_connected)
            if status in DOWN:
                self._schedule_reconnect(venue)
            # RECONNECTING from the plugin: its library reconnects by itself; wait for
            # CONNECTED, then restore subscriptions and reconcile orders.
        elif status is ConnectorStatus.CONNECTED and venue.needs_restore and not venue.busy:
            # The plugin's library reconnected by itself: restore here.
            self._spawn(self._restore(venue))
        for handler in self._status_handlers:
            self._notify(handler, connector.name, status, reason)

    def on_updates(self, connector: Connector, updates: Sequence[MarketUpdate]) -> None:
        venue = self._venues.get(connector.name)
        if venue is not None:
            self.hub.process(connector.name, venue.stats, updates, now_ns(),
                             sequenced=connector.sequenced)

    def on_error(self, connector: Connector, message: str, *, symbol: str | None,
                 code: str | None, data: bool) -> None:
        venue = self._venues.get(connector.name)
        if venue is None:
            return
        if data:
            venue.stats.data_errors += 1
        else:
            venue.stats.venue_errors += 1
            self.router.note_error(connector.name)
        now = time.monotonic()
        if now - venue.last_error_log >= 1.0:
            venue.last_error_log = now
            log.warning("%s: %s%s%s", connector.name, f"[{code}] " if code else "",
                        f"{symbol}: " if symbol else "", message)


    # ------------------------------------------------------------------ subscriptions
    async def subscribe_async(self, subscriptions: Iterable[Subscription],
                              connectors: Sequence[str] | None = None) -> dict[str, str]:
        """Subscribe; returns {"connector subscription": error} for the ones that failed."""
        return await self._bridge(self._subscribe(list(subscriptions),
                                                  list(connectors) if connectors else None))

    async def _subscribe(self, subs: list[Subscription],
                         names: list[str] | None) -> dict[str, str]:
        failures: dict[str, str] = {}
        for sub in subs:
            targets = self._data_targets(sub.data_type, names)
            for venue in targets:
                key = (sub.symbol, sub.data_type)
                venue.subscriptions[sub] = None
                self.hub.add_feed(key, venue.name, self._feed_rank,
                                  self.hub.limit_ns(sub.data_type, sub.interval))
                if not venue.connector.is_connected:
                    continue  # applied when it connects
                try:
                    await venue.hook("stockfish_subscribe", subscription=sub)
                except Exception as exc:  # noqa: BLE001 - reported per subscription
                    venue.subscriptions.pop(sub, None)
                    self.hub.remove_feed(key, venue.name)
                    failures[f"{venue.name} {sub}"] = str(exc) or type(exc).__name__
                    log.error("%s: subscribe %s failed: %s", venue.name, sub, exc)
        return failures

    def _data_targets(self, data_type: DataType, names: list[str] | None) -> list[VenueState]:
        if names:
            targets = [self._venue(n) for n in names]
            for v in targets:
                if data_type not in v.connector.capabilities.data_types:
                    raise ValueError(f"connector {v.name} does not serve {data_type.value}")
            return targets
        targets = [v for v in self._venues.values()
                   if data_type in v.connector.capabilities.data_types]
        if not targets and not self._venues:
            raise ValueError(f"no connector serves {data_type.value}: the manager has no "
                             "connectors; add one first, write: manager.add_connector('ibkr', "
                             "primary=True, host='127.0.0.1', port=7497), or build the manager "
                             "with ExchangeManager.from_config('stockfish.yaml')")
        if not targets:
            raise ValueError(f"no connector serves {data_type.value} "
                             f"(connectors: {', '.join(self._venues) or 'none'})")
        return targets

    def _feed_rank(self, name: str) -> tuple[int, bool, int]:
        c = self._venues[name].connector
        return (-c.priority, not c.primary, self._venues[name].index)

    async def unsubscribe_async(self, symbols: Iterable[str],
                                connectors: Sequence[str] | None = None) -> None:
        if self._foreign_loop():
            await self._bridge(self.unsubscribe_async(list(symbols), connectors))
            return
        wanted = set(symbols)
        for venue in self._venues.values():
            if connectors and venue.name not in connectors:
                continue
            for sub in [s for s in venue.subscriptions if s.symbol in wanted]:
                del venue.subscriptions[sub]
                self.hub.remove_feed((sub.symbol, sub.data_type), venue.name)
                if venue.connector.is_connected:
                    try:
                        await venue.hook("stockfish_unsubscribe", subscription=sub)
                    except Exception as exc:  # noqa: BLE001
                        log.error("%s: unsubscribe %s failed: %s", venue.name, sub, exc)

    def subscribe(self, subscriptions: Iterable[Subscription],
                  connectors: Sequence[str] | None = None) -> dict[str, str]:
        """Blocking subscribe (before start: remembered and applied at start)."""
        subs = list(subscriptions)
        names = list(connectors) if connectors else None
        if not self._running:
            for sub in subs:  # fail early for what can never work
                self._data_targets(sub.data_type, names)
            self._pending_subscriptions.append((subs, names))
            return {}
        return self._run_or_schedule(self._subscribe(subs, names), {})

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
        self._run_or_schedule(self.unsubscribe_async(list(symbols), connectors), None)


    # ------------------------------------------------------------------ data access
    def latest(self, symbol: str) -> PriceTick | None:
        """The last price tick delivered for ``symbol``."""
        return self.hub.latest_ticks.get(symbol)

    def book(self, symbol: str) -> OrderBookSnapshot | None:
        return self.hub.books.get(symbol)

    def bars(self, symbol: str, interval: str = "1m") -> list[OHLCVBar]:
        return list(self.hub.bars.get((symbol, interval), ()))

    def get_stats(self) -> dict[str, Any]:
        return self._call(self._stats)

    def _stats(self) -> dict[str, Any]:
        connectors = {}
        total: dict[str, Any] = {"connected": 0}
        summed = ("updates_received", "updates_delivered", "gaps", "lost", "duplicates",
                  "out_of_order", "reordered", "restarts", "standby", "data_errors",
                  "venue_errors", "orders_submitted", "orders_filled", "orders_cancelled",
                  "orders_rejected", "orders_errored", "fills", "duplicate_fills",
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
        return self._call(self._health)

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

