"""Keeping connectors connected: connect, disconnect, reconnection with exponential
backoff and jitter, subscriptions and open orders restored after a reconnect, and the
periodic health check (liveness of subscriptions, unacknowledged orders): the
ExchangeManager's supervision part, the listener of the connectors' status reports.

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
import time
from collections.abc import Callable, Coroutine
from typing import Any

import attrs

from .callbacks import Callbacks
from .config import ManagerConfig
from .connector import Connector
from .loopbridge import LoopBridge
from .marketdata import MarketDataHub
from .models import ConnectorStatus, DataType, now_ns
from .oms import OrderStore
from .orders import OrderAction, OrderRequest
from .routing import Router, health_score
from .venues import DOWN, RunState, VenueState

log = logging.getLogger("stockfish.manager")

#: Liveness stages of a stale subscription.
RESUBSCRIBED = "re-subscribed"
FAILED_OVER = "failed over"
ALERTED = "alerted"


@attrs.define
class LivenessState:
    """Where the recovery of one stale (connector, symbol, data type) stands."""

    stage: str
    since_ns: int


def venue_scores(venues: dict[str, VenueState], hub: MarketDataHub,
                 router: Router) -> dict[str, float]:
    """The health score of every connector (:func:`~stockfish_core.routing.health_score`)."""
    return {v.name: health_score(v.connector, v.stats, router.recent_errors(v.name),
                                 len(hub.stale_symbols(v.name)))
            for v in venues.values()}


class Supervisor:
    """Keeps the connectors connected, their subscriptions alive and open orders
    reconciled after a reconnect.

    Built with what it works on: the venues (shared with the other parts), the market
    data hub, the order store, the router's error counts, the run state, the loop
    bridge (to spawn tasks), the subscribers' callbacks, and two services of the order
    part: ``send`` (a STATUS request, to reconcile) and ``orders_in_doubt`` (a
    connection lost with orders in flight), and ``venue_truth`` (after a connect: the
    venue's missed executions and positions, :mod:`~stockfish_core.venuestate`).
    """

    def __init__(self, config: ManagerConfig, venues: dict[str, VenueState],
                 hub: MarketDataHub, orders: OrderStore, router: Router, state: RunState,
                 bridge: LoopBridge, callbacks: Callbacks, *,
                 send: Callable[[VenueState, OrderRequest], Coroutine[Any, Any, None]],
                 orders_in_doubt: Callable[[str], None],
                 venue_truth: Callable[[VenueState], None]) -> None:
        self.config = config
        self.venues = venues
        self.hub = hub
        self.orders = orders
        self.router = router
        self.state = state
        self.bridge = bridge
        self.callbacks = callbacks
        self._send = send
        self._orders_in_doubt = orders_in_doubt
        self._venue_truth = venue_truth
        self.liveness: dict[tuple[str, str, DataType], LivenessState] = {}
        self.health_task: asyncio.Task[None] | None = None

    def is_connected(self, name: str) -> bool:
        venue = self.venues.get(name)
        return venue is not None and venue.connector.is_connected

    def start_health_check(self) -> None:
        self.health_task = asyncio.get_running_loop().create_task(self._health_loop())

    # ------------------------------------------------------------------ reports
    def on_status(self, connector: Connector, status: ConnectorStatus, reason: str) -> None:
        venue = self.venues.get(connector.name)
        if venue is None:
            return
        if venue.status_changed is not None:
            venue.status_changed.set()
        lost = status in DOWN or status is ConnectorStatus.RECONNECTING
        # One line per state change: the loss (with why) and the return are warnings;
        # the steps of the manager's own attempts, and repeats, are debug.
        why = f" ({reason})" if reason and reason != status.value else ""
        if venue.busy or self.state.stopping or not self.state.running:
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
        if lost and not self.state.stopping and self.state.running and not venue.busy:
            if not venue.needs_restore:
                venue.stats.disconnects += 1
            venue.needs_restore = True
            self._orders_in_doubt(connector.name)
            self.hub.check_staleness(now_ns(), self.is_connected)
            if status in DOWN:
                self._schedule_reconnect(venue)
            # RECONNECTING from the plugin: its library reconnects by itself; wait for
            # CONNECTED, then restore subscriptions and reconcile orders.
        elif status is ConnectorStatus.CONNECTED and venue.needs_restore and not venue.busy:
            # The plugin's library reconnected by itself: restore here.
            self.bridge.spawn(self._restore(venue))
        for handler in self.callbacks.status:
            self.callbacks.notify(handler, connector.name, status, reason)

    def on_error(self, connector: Connector, message: str, *, symbol: str | None,
                 code: str | None, data: bool) -> None:
        venue = self.venues.get(connector.name)
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

    # ------------------------------------------------------------------ connecting
    async def connect(self, venue: VenueState) -> bool:
        connector = venue.connector
        connector.loop = asyncio.get_running_loop()
        venue.busy = True
        try:
            connector._set_status(ConnectorStatus.CONNECTING)
            await venue.open(self.config.connect_timeout)
        except Exception as exc:  # noqa: BLE001 - any failure is retried with backoff
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.error("%s: connect failed: %s", connector.name, reason)
            venue.busy = False
            if connector.status not in DOWN:
                connector._set_status(ConnectorStatus.ERROR, reason)
            else:
                self._schedule_reconnect(venue)
            return False
        venue.busy = False
        venue.stats.connected_at_ns = now_ns()
        await self._restore(venue)
        return True

    async def disconnect(self, venue: VenueState) -> None:
        connector = venue.connector
        if venue.task is not None and venue.task is not asyncio.current_task():
            venue.task.cancel()
        try:
            await venue.hooks.disconnect()
        except Exception:
            log.exception("%s: disconnect hook failed", connector.name)
        if connector.status is not ConnectorStatus.DISCONNECTED:
            connector._set_status(ConnectorStatus.DISCONNECTED, "stopped")

    def _schedule_reconnect(self, venue: VenueState) -> None:
        if self.state.stopping or not self.state.running or venue.busy:
            return
        if venue.task is not None and not venue.task.done():
            return
        venue.task = self.bridge.spawn(self._reconnect(venue))

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
        while not self.state.stopping and not connector.is_connected:
            wait = delay * random.uniform(0.5, 1.0)  # jitter: reconnects do not stampede
            log.debug("%s: reconnecting in %.2fs (attempt %d)", connector.name, wait,
                      attempts + 1)
            await asyncio.sleep(wait)
            attempts += 1
            venue.stats.reconnect_attempts += 1
            venue.busy = True  # status changes from here on are this attempt's own
            try:
                await venue.hooks.disconnect()
            except Exception:
                log.debug("%s: cleanup before reconnect failed", connector.name, exc_info=True)
            connector._set_status(ConnectorStatus.RECONNECTING,
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
                await venue.hooks.subscribe(sub)
            except Exception as exc:  # noqa: BLE001
                log.error("%s: could not restore subscription %s: %s", connector.name, sub, exc)
        if connector.capabilities.execution:
            for order in self.orders.open_orders(connector.name):
                if self.orders.unsent(order):  # leaves once committed: nothing to ask
                    continue
                await self._send(venue, OrderRequest(OrderAction.STATUS, order))
            self._venue_truth(venue)


    # ------------------------------------------------------------------ health
    async def _health_loop(self) -> None:
        interval = self.config.health_check_interval
        ack_timeout_ns = int(self.config.connect_timeout * 1e9)
        while True:
            await asyncio.sleep(interval)
            now = now_ns()
            _new, back = self.hub.check_staleness(now, self.is_connected)
            self._liveness_step(now, back)
            for cid, sent in list(self.orders.unacked.items()):
                order = self.orders.get(cid)
                if order is None or now - sent < ack_timeout_ns:
                    continue
                self.orders.unacked.pop(cid, None)
                venue = self.venues.get(order.connector or "")
                if venue is None or not venue.connector.is_connected:
                    continue
                log.warning("order %s: no acknowledgement from %s in %.1fs; asking its status",
                            cid, venue.name, self.config.connect_timeout)
                order.outcome_unknown = True
                self.bridge.spawn(self._send(venue, OrderRequest(OrderAction.STATUS, order)))

    def health_scores(self) -> dict[str, float]:
        return venue_scores(self.venues, self.hub, self.router)

    # ------------------------------------------------------------------ liveness
    def _liveness_step(self, now: int, back: set[tuple[str, str, DataType]]) -> None:
        """Move each stale subscription of a connected connector one stage on."""
        cfg = self.config
        hub = self.hub
        for item in back:
            state = self.liveness.pop(item, None)
            if state is not None:
                log.warning("%s: %s %s data again (recovered after being %s)", item[0],
                            item[1], item[2].value, state.stage)
        for item in sorted(hub.stale - self.liveness.keys(), key=str):
            venue = self.venues.get(item[0])
            if venue is None or not venue.connector.is_connected:
                continue  # not connected: reconnecting is the supervisor's business
            limit = hub.limits.get(item, hub.staleness_ns)
            self.liveness[item] = LivenessState(RESUBSCRIBED, now)
            venue.stats.resubscribes += 1
            log.warning("%s: no %s data for %s for more than %.1fs; re-subscribing", item[0],
                        item[2].value, item[1], (limit or 0) / 1e9)
            self.bridge.spawn(self._resubscribe(venue, item[1], item[2]))
        for item, state in list(self.liveness.items()):
            venue = self.venues.get(item[0])
            if venue is None or item not in hub.stale:
                del self.liveness[item]
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
        self.liveness[item].stage = ALERTED
        venue.stats.stale_alerts += 1
        message = (f"{item[0]}: {item[1]} {item[2].value} still without data after "
                   f"re-subscribing ({where})")
        log.error("%s", message)
        for sub in [s for s in venue.subscriptions
                    if s.symbol == item[1] and s.data_type is item[2]]:
            for handler in self.callbacks.stale:
                self.callbacks.notify(handler, venue.name, sub, message)

    async def _resubscribe(self, venue: VenueState, symbol: str, data_type: DataType) -> None:
        for sub in [s for s in venue.subscriptions
                    if s.symbol == symbol and s.data_type is data_type]:
            try:
                await venue.hooks.unsubscribe(sub)
                await venue.hooks.subscribe(sub)
            except Exception as exc:  # noqa: BLE001 - the next stage follows anyway
                log.warning("%s: re-subscribing %s failed: %s", venue.name, sub, exc)
