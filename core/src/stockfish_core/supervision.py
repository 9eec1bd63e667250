"""Keeping connectors connected: connect, disconnect, reconnection with exponential
backoff and jitter, subscriptions and open orders restored after a reconnect, and the
periodic health check (liveness of subscriptions, unacknowledged orders). Part of the
ExchangeManager.

Logging is one line per state change: the connection lost and why, the retry schedule,
back after N attempts; each attempt is logged at DEBUG only. Liveness: a subscription
without data for longer than its limit is re-subscribed on its connector; still silent
``stale_resubscribe_wait`` later it is served from another feed that has it; still
silent ``stale_alert_wait`` after that, it is reported (log, ``stale_alerts``,
subscribers' ``on_stale``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .config import ManagerConfig
from .connector import Connector, Subscription
from .marketdata import MarketDataHub
from .models import ConnectorStatus, DataType, now_ns
from .oms import OrderStore
from .orders import OrderAction, OrderRequest
from .routing import Router, health_score
from .stats import ConnectorStats

log = logging.getLogger("stockfish.manager")
T = TypeVar("T")

DOWN = (ConnectorStatus.DISCONNECTED, ConnectorStatus.ERROR)

#: Liveness stages of a stale subscription.
RESUBSCRIBED = "re-subscribed"
FAILED_OVER = "failed over"
ALERTED = "alerted"


@attrs.define
class LivenessState:
    """Where the recovery of one stale (connector, symbol, data type) stands."""

    stage: str
    since_ns: int


@attrs.define(eq=False)
class VenueState:
    """The manager's bookkeeping for one connector."""

    connector: Connector
    index: int
    subscriptions: dict[Subscription, None] = attrs.Factory(dict)
    task: asyncio.Task[None] | None = None
    busy: bool = False
    needs_restore: bool = False
    last_error_log: float = 0.0
    status_changed: asyncio.Event | None = None

    async def wait_status(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until a status change makes ``predicate()`` true."""
        if self.status_changed is None:
            self.status_changed = asyncio.Event()
        event = self.status_changed
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            event.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s")
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                continue

    @property
    def name(self) -> str:
        return self.connector.name

    @property
    def stats(self) -> ConnectorStats:
        return self.connector.stats

    def call(self, name: str, **kwargs: Any) -> Any:
        """Call one of the plugin's hooks for this connector; the result may be awaitable."""
        hooks = self.connector.hooks
        assert hooks is not None, "connectors of the manager always have hooks"
        return hooks.call(name, connector=self.connector, **kwargs)

    async def hook(self, name: str, **kwargs: Any) -> Any:
        """Call one of the plugin's hooks for this connector and await the result."""
        hooks = self.connector.hooks
        assert hooks is not None, "connectors of the manager always have hooks"
        return await hooks.acall(name, connector=self.connector, **kwargs)

    async def open(self, timeout: float) -> None:
        """The connect hook, then CONNECTED within ``timeout``; raises otherwise."""
        connector = self.connector
        await asyncio.wait_for(self.hook("stockfish_connect"), timeout)
        if not connector.is_connected:
            await self.wait_status(lambda: connector.is_connected or connector.status in DOWN,
                                   timeout)
        if not connector.is_connected:
            raise ConnectionError(connector.status_reason or connector.status.value)



class Supervisor:
    """The connection-keeping half of the ExchangeManager."""

    config: ManagerConfig
    hub: MarketDataHub
    orders: OrderStore
    router: Router
    _venues: dict[str, VenueState]
    _running: bool
    _stopping: bool
    _liveness: dict[tuple[str, str, DataType], LivenessState]
    _stale_handlers: list[Callable[[str, Subscription, str], Any]]

    if TYPE_CHECKING:
        def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...
        async def _send(self, venue: VenueState, request: OrderRequest) -> None: ...
        def _is_connected(self, name: str) -> bool: ...
        def _notify(self, handler: Callable[..., Any], *args: Any) -> None: ...

    # ------------------------------------------------------------------ connecting
    async def _connect(self, venue: VenueState) -> bool:
        connector = venue.connector
        connector.loop = asyncio.get_running_loop()
        venue.busy = True
        try:
            connector.set_status(ConnectorStatus.CONNECTING)
            await venue.open(self.config.connect_timeout)
        except Exception as exc:  # noqa: BLE001 - any failure is retried with backoff
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.error("%s: connect failed: %s", connector.name, reason)
            venue.busy = False
            if connector.status not in DOWN:
                connector.set_status(ConnectorStatus.ERROR, reason)
            else:
                self._schedule_reconnect(venue)
            return False
        venue.busy = False
        venue.stats.connected_at_ns = now_ns()
        await self._restore(venue)
        return True

    async def _disconnect(self, venue: VenueState) -> None:
        connector = venue.connector
        if venue.task is not None and venue.task is not asyncio.current_task():
            venue.task.cancel()
        try:
            await venue.hook("stockfish_disconnect")
        except Exception:
            log.exception("%s: disconnect hook failed", connector.name)
        if connector.status is not ConnectorStatus.DISCONNECTED:
            connector.set_status(ConnectorStatus.DISCONNECTED, "stopped")

    def _schedule_reconnect(self, venue: VenueState) -> None:
        if self._stopping or not self._running or venue.busy:
            return
        if venue.task is not None and not venue.task.done():
            return
        venue.task = self._spawn(self._reconnect(venue))

    def reconnect_schedule(self, connector: Connector) -> tuple[float, float]:
        """First and longest delay between reconnect attempts: the manager's, or the
        plugin's suggestion (``Capabilities.reconnect_schedule``) where it is faster."""
        first, longest = self.config.reconnect_initial_delay, self.config.reconnect_max_delay
        suggested = connector.capabilities.reconnect_schedule
        if suggested is not None:
            first, longest = min(first, suggested[0]), min(longest, suggested[1])
        return first, max(first, longest)

    async def _reconnect(self, venue: VenueState) -> None:
        connector = venue.connector
        delay, max_delay = self.reconnect_schedule(connector)
        attempts = 0
        loop = asyncio.get_running_loop()
        began = loop.time()
        log.warning("%s: reconnecting: attempts after %.2gs, doubling up to %.2gs (with "
                    "jitter), until connected", connector.name, delay, max_delay)
        while not self._stopping and not connector.is_connected:
            wait = delay * random.uniform(0.5, 1.0)  # jitter: reconnects do not stampede
            log.debug("%s: reconnecting in %.2fs (attempt %d)", connector.name, wait,
                      attempts + 1)
            await asyncio.sleep(wait)
            attempts += 1
            venue.stats.reconnect_attempts += 1
            venue.busy = True  # status changes from here on are this attempt's own
            try:
                await venue.hook("stockfish_disconnect")
            except Exception:
                log.debug("%s: cleanup before reconnect failed", connector.name, exc_info=True)
            connector.set_status(ConnectorStatus.RECONNECTING,
                                 f"attempt {venue.stats.reconnect_attempts}")
            if await self._connect_once(venue):
                venue.stats.reconnects += 1
                log.warning("%s: back after %d attempt(s) in %.1fs", connector.name, attempts,
                            loop.time() - began)
                self.hub.reset_sequences(connector.name)
                await self._restore(venue)
                return
            delay = min(max_delay, delay * 2)

    async def _connect_once(self, venue: VenueState) -> bool:
        connector = venue.connector
        try:
            await venue.open(self.config.connect_timeout)
            return True
        except Exception as exc:  # noqa: BLE001
            log.debug("%s: reconnect attempt failed: %s: %s", connector.name,
                      type(exc).__name__, exc)
            return False
        finally:
            venue.busy = False

    async def _restore(self, venue: VenueState) -> None:
        """After a (re)connect: every subscription again, then reconcile open orders."""
        venue.needs_restore = False
        connector = venue.connector
        self.hub.restart_clock(connector.name, now_ns())
        for sub in list(venue.subscriptions):
            try:
                await venue.hook("stockfish_subscribe", subscription=sub)
            except Exception as exc:  # noqa: BLE001
                log.error("%s: could not restore subscription %s: %s", connector.name, sub, exc)
        if connector.capabilities.execution:
            for order in self.orders.open_orders(connector.name):
                await self._send(venue, OrderRequest(OrderAction.STATUS, order))


    # ------------------------------------------------------------------ health
    async def _health_loop(self) -> None:
        interval = self.config.health_check_interval
        ack_timeout_ns = int(self.config.connect_timeout * 1e9)
        while True:
            await asyncio.sleep(interval)
            now = now_ns()
            _new, back = self.hub.check_staleness(now, self._is_connected)
            self._liveness_step(now, back)
            for cid, sent in list(self.orders.unacked.items()):
                order = self.orders.get(cid)
                if order is None or now - sent < ack_timeout_ns:
                    continue
                self.orders.unacked.pop(cid, None)
                venue = self._venues.get(order.connector or "")
                if venue is None or not venue.connector.is_connected:
                    continue
                log.warning("order %s: no acknowledgement from %s in %.1fs; asking its status",
                            cid, venue.name, self.config.connect_timeout)
                order.outcome_unknown = True
                self._spawn(self._send(venue, OrderRequest(OrderAction.STATUS, order)))

    def health_scores(self) -> dict[str, float]:
        return {v.name: health_score(v.connector, v.stats, self.router.recent_errors(v.name),
                                     len(self.hub.stale_symbols(v.name)))
                for v in self._venues.values()}

    # ------------------------------------------------------------------ liveness
    def _liveness_step(self, now: int, back: set[tuple[str, str, DataType]]) -> None:
        """Move each stale subscription of a connected connector one stage on."""
        cfg = self.config
        hub = self.hub
        for item in back:
            state = self._liveness.pop(item, None)
            if state is not None:
                log.warning("%s: %s %s data again (recovered after being %s)", item[0],
                            item[1], item[2].value, state.stage)
        for item in sorted(hub.stale - self._liveness.keys(), key=str):
            venue = self._venues.get(item[0])
            if venue is None or not venue.connector.is_connected:
                continue  # not connected: reconnecting is the supervisor's business
            limit = hub.limits.get(item, hub.staleness_ns)
            self._liveness[item] = LivenessState(RESUBSCRIBED, now)
            venue.stats.resubscribes += 1
            log.warning("%s: no %s data for %s for more than %.1fs; re-subscribing", item[0],
                        item[2].value, item[1], (limit or 0) / 1e9)
            self._spawn(self._resubscribe(venue, item[1], item[2]))
        for item, state in list(self._liveness.items()):
            venue = self._venues.get(item[0])
            if venue is None or item not in hub.stale:
                del self._liveness[item]
                continue
            if not venue.connector.is_connected:
                continue
            elapsed = (now - state.since_ns) / 1e9
            if state.stage == RESUBSCRIBED and elapsed >= cfg.stale_resubscribe_wait:
                state.stage, state.since_ns = FAILED_OVER, now
                active = hub.active.get((item[1], item[2]))
                if active is not None and active != item[0] and \
                        (active, item[1], item[2]) not in hub.stale:
                    venue.stats.stale_failovers += 1
                    log.warning("%s: %s %s still silent after re-subscribing; served from %s",
                                item[0], item[1], item[2].value, active)
                else:
                    self._alert(venue, item, "no other feed has it")
            elif state.stage == FAILED_OVER and elapsed >= cfg.stale_alert_wait:
                active = hub.active.get((item[1], item[2]))
                self._alert(venue, item, f"served from {active}" if active != item[0]
                            else "no other feed has it")

    def _alert(self, venue: VenueState, item: tuple[str, str, DataType], where: str) -> None:
        self._liveness[item].stage = ALERTED
        venue.stats.stale_alerts += 1
        message = (f"{item[0]}: {item[1]} {item[2].value} still without data after "
                   f"re-subscribing ({where})")
        log.error("%s", message)
        for sub in [s for s in venue.subscriptions
                    if s.symbol == item[1] and s.data_type is item[2]]:
            for handler in self._stale_handlers:
                self._notify(handler, venue.name, sub, message)

    async def _resubscribe(self, venue: VenueState, symbol: str, data_type: DataType) -> None:
        for sub in [s for s in venue.subscriptions
                    if s.symbol == symbol and s.data_type is data_type]:
            try:
                await venue.hook("stockfish_unsubscribe", subscription=sub)
                await venue.hook("stockfish_subscribe", subscription=sub)
            except Exception as exc:  # noqa: BLE001 - the next stage follows anyway
                log.warning("%s: re-subscribing %s failed: %s", venue.name, sub, exc)
