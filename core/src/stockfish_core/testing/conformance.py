"""The conformance suite: behaviour every connector shows through the ExchangeManager.

A plugin's tests subclass :class:`ConnectorConformance` and provide one fixture,
``venue_under_test``, that starts the plugin's real counterpart (its simulator) on
127.0.0.1 and yields a :class:`VenueUnderTest` describing it::

    from stockfish_core.testing import ConnectorConformance, VenueUnderTest

    class TestMyVenueConformance(ConnectorConformance):
        @pytest.fixture
        async def venue_under_test(self):
            server = await start_my_simulator()
            registry = PluginRegistry(entry_points=())
            registry.register(stockfish_myvenue.plugin, "myvenue")
            yield VenueUnderTest("myvenue", registry, {"port": server.port},
                                 drop=lambda m: server.stop(), restore=lambda m: server.start())
            await server.close()

Data-only connectors set ``orders=False``; the order checks are then skipped, as is
every check whose control (``hold``, ``fill_resting``, ``resend_fills``...) the venue
does not offer. After every test the manager's stats must be clean: no duplicate or
refused fills, illegal transitions, reports of unknown orders, sequence gaps or data
errors, unless the test caused them itself. A failing check shows the errors and order
updates the connector reported. Every wait has a timeout; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
import pytest

from ..config import ManagerConfig
from ..connector import Connector, ConnectorListener, Subscription
from ..manager import ExchangeManager
from ..models import ConnectorStatus, DataType, MarketUpdate
from ..orders import Fill, Order, OrderAction, OrderRequest, OrderStatus, OrderType, OrderUpdate
from ..plugins import PluginRegistry
from ..reporting import UNKNOWN_ORDER
from .harness import wait_until

__all__ = ["CLEAN_STATS", "ConnectorConformance", "VenueUnderTest", "conformance_manager"]

#: Something done to the venue; receives the manager (sync or async).
Action = Callable[["ExchangeManager"], Awaitable[Any] | Any]
#: Something done to one order at the venue; receives the manager and its client order id.
OrderControl = Callable[["ExchangeManager", str], Awaitable[Any] | Any]

#: Counters that must be zero after every test unless the test caused them: the
#: manager's (top level of ``get_stats()``) and the connector's.
CLEAN_STATS = (
    "illegal_transitions", "unknown_order_reports", "refused_fills", "late_fills",
    "subscriber_errors",
)
CLEAN_CONNECTOR_STATS = (
    "duplicate_fills", "fill_disagreements", "orders_errored", "gaps", "lost", "duplicates",
    "out_of_order", "data_errors",
)
#: What a lost connection may rightly cost the data stream.
_DROP_COSTS = ("gaps", "lost", "duplicates", "out_of_order")


def _market_buy(symbol: str) -> Order:
    return Order(symbol, "BUY", 3)


@attrs.define
class VenueUnderTest:
    """A running counterpart of a plugin and how to exercise it."""

    plugin: str
    registry: PluginRegistry
    settings: Mapping[str, Any]
    symbol: str = "SPY"
    #: Data types the suite subscribes to and expects updates of: every type the plugin
    #: declares (its capabilities) that is not in ``not_served``.
    data_types: Sequence[DataType] = (DataType.PRICE_TICK,)
    #: Declared data types this counterpart does not produce, each with why.
    not_served: Mapping[DataType, str] = attrs.field(factory=dict)
    orders: bool = True
    #: An order the venue fills, of a quantity above 1 (builds a new one per call).
    marketable_order: Callable[[str], Order] = _market_buy
    #: An order the venue accepts and leaves resting.
    resting_order: Callable[[str], Order] | None = None
    #: An order the venue itself rejects, and a word its reason contains...
    rejected_order: Callable[[str], Order] | None = None
    reject_reason: str = ""
    #: ...after this is done (e.g. a simulator switch that rejects the next order).
    before_reject: Action | None = None
    #: Make the counterpart go away (kill the simulator, drop the session)...
    drop: Action | None = None
    #: ...and bring it back (None if the connector recovers by reconnecting alone).
    restore: Action | None = None
    #: Whether ``drop`` works before the manager started (the venue absent at connect).
    absent_at_start: bool = True
    #: From now until the next ``drop``, the venue takes and executes orders but sends
    #: nothing back (an order in flight when the connection drops); a venue may drop at
    #: once, ``drop`` then finds it dropped.
    hold: Action | None = None
    #: Client order ids of every new order the venue received, in order (repeats too).
    received_order_ids: Callable[[ExchangeManager], Sequence[str]] | None = None
    #: Fill what is left of a resting order at the venue, while it is dropped.
    fill_resting: OrderControl | None = None
    #: Make the venue report an order's fills again: ``(manager, client order id,
    #: possible_duplicate)``, the same execution ids, marked as resent or not.
    resend_fills: Callable[[ExchangeManager, str, bool], Awaitable[Any] | Any] | None = None
    connector_name: str = "venue"
    timeout: float = 15.0
    manager_config: ManagerConfig = attrs.field(factory=lambda: ManagerConfig(
        health_check_interval=0.1, staleness=2.0, reconnect_initial_delay=0.05,
        reconnect_max_delay=0.5, connect_timeout=10.0,
    ))


async def _maybe(action: Callable[..., Any] | None, *args: Any) -> None:
    if action is not None:
        result = action(*args)
        if inspect.isawaitable(result):
            await result


class _Collector:
    def __init__(self) -> None:
        self.updates: list[MarketUpdate] = []
        self.fills: list[Fill] = []

    def on_update(self, update: MarketUpdate) -> None:
        self.updates.append(update)

    def on_fill(self, fill: Fill, order: Order) -> None:
        self.fills.append(fill)


class _Reports:
    """Stands between the connector and the manager and keeps what the connector reported
    (errors, order updates, status changes), for the failure messages."""

    def __init__(self, listener: ConnectorListener) -> None:
        self.listener = listener
        self.order_updates: list[OrderUpdate] = []
        self.lines: list[str] = []
        self.allowed: set[str] = set()

    def on_status(self, connector: Connector, status: ConnectorStatus, reason: str) -> None:
        self.lines.append(f"status {status.value}{': ' + reason if reason else ''}")
        self.listener.on_status(connector, status, reason)

    def on_updates(self, connector: Connector, updates: Sequence[MarketUpdate]) -> None:
        self.listener.on_updates(connector, updates)

    def on_order_update(self, connector: Connector, update: OrderUpdate) -> None:
        self.order_updates.append(update)
        self.lines.append(f"order update {_describe(update)}")
        self.listener.on_order_update(connector, update)

    def on_error(self, connector: Connector, message: str, *, symbol: str | None,
                 code: str | None, data: bool) -> None:
        self.lines.append(f"{'data error' if data else 'error'} {code or ''} "
                          f"{symbol or ''}: {message}")
        self.listener.on_error(connector, message, symbol=symbol, code=code, data=data)

    def describe(self) -> str:
        shown = self.lines[-60:]
        more = len(self.lines) - len(shown)
        head = f"what the connector reported ({more} earlier line(s) left out):" if more \
            else "what the connector reported:"
        return "\n".join([head, *(f"  {line}" for line in shown)] if shown
                         else ["the connector reported nothing"])


def _describe(update: OrderUpdate) -> str:
    parts = [update.client_order_id, update.status.value]
    fill = update.fill
    if fill is not None:
        parts.append(f"fill {fill.execution_id} {fill.quantity}@{fill.price}")
    if update.execution is not None:
        ex = update.execution
        parts.append(f"execution {ex.execution_id} {ex.quantity}@{ex.price}")
    for name in ("venue_order_id", "reason", "cum_qty", "rejected_request"):
        value = getattr(update, name)
        if value is not None:
            parts.append(f"{name}={getattr(value, 'value', value)}")
    if update.replaced:
        parts.append(f"replaced qty={update.quantity} price={update.price}")
    if update.possible_duplicate:
        parts.append("possible_duplicate")
    return " ".join(parts)


_REPORTS: dict[int, _Reports] = {}


def _reports(manager: ExchangeManager) -> _Reports | None:
    return _REPORTS.get(id(manager))


def _allow(manager: ExchangeManager, *counters: str) -> None:
    """The test causes these counters itself: the stats check leaves them alone."""
    reports = _reports(manager)
    if reports is not None:
        reports.allowed.update(counters)


async def conformance_manager(venue: VenueUnderTest) -> ExchangeManager:
    manager = ExchangeManager(config=venue.manager_config, registry=venue.registry,
                              journal=":memory:")
    manager.add_connector(venue.connector_name, venue.plugin, primary=True, **venue.settings)
    connector = manager.get_connector(venue.connector_name)
    reports = _Reports(connector.listener)
    connector.listener = reports
    _REPORTS[id(manager)] = reports
    return manager


def _unclean(manager: ExchangeManager, venue: VenueUnderTest) -> list[str]:
    """The counters that should be zero and are not (those the test caused aside)."""
    reports = _reports(manager)
    allowed = reports.allowed if reports is not None else set()
    stats = manager.get_stats()
    own = stats["connectors"][venue.connector_name]
    bad = [f"{key}={stats[key]}" for key in CLEAN_STATS
           if key not in allowed and stats.get(key)]
    bad += [f"{key}={own[key]}" for key in CLEAN_CONNECTOR_STATS
            if key not in allowed and own.get(key)]
    return bad


async def _next_update(manager: ExchangeManager, collector: _Collector, data_type: DataType,
                       symbol: str, timeout: float, after: int = 0) -> MarketUpdate:
    def found() -> MarketUpdate | None:
        for update in collector.updates[after:]:
            if update.data_type is data_type and update.symbol == symbol:
                return update
        return None

    await _until(manager, lambda: found() is not None, timeout,
                 f"a {data_type.value} update for {symbol}")
    result = found()
    assert result is not None
    return result


async def _until(manager: ExchangeManager, predicate: Callable[[], Any], timeout: float,
                 what: str) -> None:
    """Wait for a condition that market data, status or order changes make true."""
    event = asyncio.Event()

    class Wake:
        def on_update(self, _: MarketUpdate) -> None:
            event.set()

        def on_connector_status(self, *_: Any) -> None:
            event.set()

        def on_order_update(self, _: Order) -> None:
            event.set()

    waker = Wake()
    manager.add_subscriber(waker)
    try:  # re-checked every 0.25 s too: the condition may be time-based (a reconnect)
        await wait_until(predicate, event, timeout, what, recheck=0.25)
    except TimeoutError as exc:
        reports = _reports(manager)
        detail = f"\n{reports.describe()}" if reports is not None else ""
        raise AssertionError(f"{exc}{detail}") from None  # the connector fails the suite
    finally:
        manager.remove_subscriber(waker)


def _check(manager: ExchangeManager, condition: object, message: str) -> None:
    """``assert condition``, the message followed by what the connector reported."""
    if not condition:
        reports = _reports(manager)
        raise AssertionError(message + (f"\n{reports.describe()}" if reports else ""))


async def _wait_order(manager: ExchangeManager, order_id: str, venue: VenueUnderTest,
                      predicate: Callable[[Order], bool] | None = None,
                      what: str = "its final status") -> Order:
    order = manager.get_order(order_id)
    test = predicate or (lambda o: o.is_final)
    await _until(manager, lambda: test(order), venue.timeout,
                 f"order {order_id} to reach {what} (now {order.status.value})")
    return order


def _needs(venue: VenueUnderTest, *controls: str) -> None:
    if not venue.orders:
        pytest.skip("data-only connector")
    missing = [c for c in controls if getattr(venue, c) is None]
    if missing:
        pytest.skip(f"the venue under test offers no {', '.join(missing)}")


def _unknown_order(venue: VenueUnderTest) -> Order:
    order = (venue.resting_order or venue.marketable_order)(venue.symbol)
    order.client_order_id = "CONFORMANCE-NEVER-SENT-1"
    order.connector = venue.connector_name
    return order


class ConnectorConformance:
    """Subclass and provide the ``venue_under_test`` fixture (see the module docstring)."""

    @pytest.fixture
    async def conformance(self, venue_under_test: VenueUnderTest
                          ) -> AsyncIterator[tuple[ExchangeManager, VenueUnderTest]]:
        manager = await conformance_manager(venue_under_test)
        reports = _reports(manager)
        try:
            yield manager, venue_under_test
            bad = _unclean(manager, venue_under_test)
            _check(manager, not bad, "the stats are not clean after the test: "
                   + ", ".join(bad))
        finally:
            if reports is not None:
                print(reports.describe())  # pytest shows it when the test failed
            _REPORTS.pop(id(manager), None)
            await manager.stop()
            manager.journal.close()

    async def test_connect_and_disconnect(self, conformance: tuple[ExchangeManager,
                                                                   VenueUnderTest]) -> None:
        manager, venue = conformance
        assert await manager.start()
        connector = manager.get_connector(venue.connector_name)
        assert connector.status is ConnectorStatus.CONNECTED
        await manager.stop()
        assert manager.list_connectors()[0][1] is ConnectorStatus.DISCONNECTED

    async def test_connecting_while_the_venue_is_absent(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        if venue.drop is None or venue.restore is None or not venue.absent_at_start:
            pytest.skip("the venue under test cannot be absent when the manager starts")
        await _maybe(venue.drop, manager)
        connector = manager.get_connector(venue.connector_name)
        if not await manager.start():
            _check(manager, connector.status_reason, "a failed connect names its reason")
        await _maybe(venue.restore, manager)
        await _until(manager, lambda: connector.is_connected, venue.timeout,
                     "the connector to connect once the venue is there")
        if venue.orders:
            order_id = await manager.send_order_async(venue.marketable_order(venue.symbol))
            done = await _wait_order(manager, order_id, venue)
            _check(manager, done.status is OrderStatus.FILLED, f"{done.status}: {done.reason}")
        else:
            collector = _Collector()
            manager.add_subscriber(collector)
            data_type = venue.data_types[0]
            assert await manager.subscribe_async([Subscription(venue.symbol, data_type)]) == {}
            await _next_update(manager, collector, data_type, venue.symbol, venue.timeout)

    async def test_subscribe_and_receive_normalized_updates(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        connector = manager.get_connector(venue.connector_name)
        declared = set(connector.capabilities.data_types)
        unexercised = declared - set(venue.data_types) - set(venue.not_served)
        _check(manager, not unexercised, "declared data types the suite does not receive: "
               + ", ".join(sorted(d.value for d in unexercised)) + " (add them to "
               "VenueUnderTest.data_types, or to not_served with why)")
        collector = _Collector()
        manager.add_subscriber(collector)
        assert await manager.start()
        subs = [Subscription(venue.symbol, t, depth=5 if t is DataType.ORDERBOOK_SNAPSHOT
                             else None, interval="1s" if t is DataType.OHLCV_BAR else None)
                for t in venue.data_types]
        assert await manager.subscribe_async(subs) == {}
        for data_type in venue.data_types:
            update = await _next_update(manager, collector, data_type, venue.symbol,
                                        venue.timeout)
            assert update.source == venue.connector_name
            assert update.recv_ts_ns > 0
            assert update.symbol == venue.symbol
        assert manager.get_stats()["connectors"][venue.connector_name]["updates_delivered"] > 0

    async def test_order_fills_with_the_full_lifecycle(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        if not venue.orders:
            pytest.skip("data-only connector")
        seen: list[OrderStatus] = []

        class Watch:
            def on_order_update(self, order: Order) -> None:
                seen.append(order.status)

        collector = _Collector()
        manager.add_subscriber(Watch())
        manager.add_subscriber(collector)
        assert await manager.start()
        order = venue.marketable_order(venue.symbol)
        assert order.quantity > 1, ("the marketable order needs a quantity above 1 (at 1, "
                                    "the overfill guard hides a fill counted twice)")
        order_id = await manager.send_order_async(order)
        done = await manager.wait_for_order_async(order_id, timeout=venue.timeout)
        _check(manager, done.status is OrderStatus.FILLED, f"{done.status}: {done.reason}")
        assert done.filled_quantity == done.quantity
        assert done.avg_fill_price is not None and done.avg_fill_price > 0
        assert done.connector == venue.connector_name
        assert seen[-1] is OrderStatus.FILLED
        assert manager.positions()[venue.symbol].quantity == done.quantity * done.side.sign
        fills = [f for f in collector.fills if f.client_order_id == order_id]
        _check(manager, sum((f.quantity for f in fills), Decimal(0)) == done.quantity,
               f"the fills add up to the order's quantity {done.quantity}: {fills}")
        ids = [f.execution_id for f in fills]
        _check(manager, len(set(ids)) == len(ids), f"execution ids are unique: {ids}")

    async def test_order_cancel(self, conformance: tuple[ExchangeManager, VenueUnderTest]
                                ) -> None:
        manager, venue = conformance
        if not venue.orders or venue.resting_order is None:
            pytest.skip("no resting order for this venue")
        assert await manager.start()
        order = venue.resting_order(venue.symbol)
        assert order.order_type in (OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT)
        order_id = await manager.send_order_async(order)
        await manager.wait_for_order_async(
            order_id, lambda o: o.status is OrderStatus.SUBMITTED or o.is_final, venue.timeout)
        assert order.status is OrderStatus.SUBMITTED, order.reason
        assert order.venue_order_id
        assert manager.cancel_order(order_id)
        done = await manager.wait_for_order_async(order_id, timeout=venue.timeout)
        assert done.status is OrderStatus.CANCELLED
        assert not manager.cancel_order(order_id)  # final: nothing to cancel

    async def test_bad_order_rejected_with_reason(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        if not venue.orders or venue.rejected_order is None:
            pytest.skip("no order this venue rejects")
        assert await manager.start()
        await _maybe(venue.before_reject, manager)
        order_id = await manager.send_order_async(venue.rejected_order(venue.symbol))
        done = await manager.wait_for_order_async(order_id, timeout=venue.timeout)
        assert done.status is OrderStatus.REJECTED
        assert done.reason and venue.reject_reason.lower() in done.reason.lower()

    async def test_status_of_an_unknown_order_is_rejected(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        _needs(venue)
        assert await manager.start()
        _allow(manager, "unknown_order_reports")  # the answer is about an unknown order
        connector = manager.get_connector(venue.connector_name)
        order = _unknown_order(venue)
        reports = _reports(manager)
        assert reports is not None and connector.hooks is not None
        await connector.hooks.acall("stockfish_execute", connector=connector,
                                    request=OrderRequest(OrderAction.STATUS, order))

        def answer() -> OrderUpdate | None:
            return next((u for u in reports.order_updates
                         if u.client_order_id == order.client_order_id), None)

        await _until(manager, answer, venue.timeout,
                     f"the answer to STATUS of {order.client_order_id}, an order the venue "
                     "never saw (REJECTED, reason 'unknown order')")
        update = answer()
        assert update is not None
        _check(manager, update.status is OrderStatus.REJECTED
               and UNKNOWN_ORDER in (update.reason or "").lower(),
               f"an unknown order is answered REJECTED with reason {UNKNOWN_ORDER!r}, "
               f"not {_describe(update)}")

    async def test_status_answer_carries_the_fills(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        _needs(venue)
        collector = _Collector()
        manager.add_subscriber(collector)
        assert await manager.start()
        order_id = await manager.send_order_async(venue.marketable_order(venue.symbol))
        order = await _wait_order(manager, order_id, venue)
        _check(manager, order.status is OrderStatus.FILLED, f"{order.status}: {order.reason}")
        _allow(manager, "duplicate_fills")  # the answer repeats fills already counted
        reports = _reports(manager)
        connector = manager.get_connector(venue.connector_name)
        assert reports is not None and connector.hooks is not None
        mark = len(reports.order_updates)
        await connector.hooks.acall("stockfish_execute", connector=connector,
                                    request=OrderRequest(OrderAction.STATUS, order))

        def answer() -> list[OrderUpdate]:
            mine = [u for u in reports.order_updates[mark:] if u.client_order_id == order_id]
            return mine if mine and mine[-1].status is OrderStatus.FILLED else []

        await _until(manager, answer, venue.timeout,
                     f"the answer to STATUS of the filled order {order_id} (ending FILLED)")
        updates = answer()
        stated = {u.fill.execution_id if u.fill else u.execution.execution_id  # type: ignore[union-attr]
                  for u in updates if u.fill is not None or u.execution is not None}
        counted = {f.execution_id for f in collector.fills if f.client_order_id == order_id}
        totals = [u.cum_qty for u in updates if u.cum_qty is not None]
        _check(manager, stated >= counted or (totals and totals[-1] == order.quantity),
               f"a STATUS answer states the order's fills ({sorted(counted)}) or its filled "
               f"quantity (cum_qty); it stated {sorted(stated)}, cum_qty {totals}")
        assert order.filled_quantity == order.quantity
        assert manager.positions()[venue.symbol].quantity == order.quantity * order.side.sign

    async def test_in_flight_order_across_a_drop_is_reconciled_never_resent(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        _needs(venue, "resting_order", "hold", "drop", "received_order_ids")
        assert venue.resting_order and venue.received_order_ids
        received = venue.received_order_ids
        assert await manager.start()
        _allow(manager, *_DROP_COSTS)
        await _maybe(venue.hold, manager)
        order_id = await manager.send_order_async(venue.resting_order(venue.symbol))
        await _until(manager, lambda: order_id in received(manager), venue.timeout,
                     f"the venue to receive {order_id}")
        order = manager.get_order(order_id)
        _check(manager, order.status is OrderStatus.PENDING,
               f"held: no acknowledgement yet, but {order.status.value}")
        connector = manager.get_connector(venue.connector_name)
        await _maybe(venue.drop, manager)
        await _until(manager, lambda: not connector.is_connected, venue.timeout,
                     "the drop to be noticed")
        _check(manager, order.outcome_unknown, "an order in flight at a drop is in doubt")
        await _maybe(venue.restore, manager)
        await _wait_order(manager, order_id, venue,
                          lambda o: o.status is OrderStatus.SUBMITTED and not o.outcome_unknown,
                          "SUBMITTED, reconciled with the venue")
        _check(manager, list(received(manager)).count(order_id) == 1,
               f"the order reached the venue once: {list(received(manager))}")
        assert order.venue_order_id

    async def test_drop_before_the_ack_filled_order_is_reconciled(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        _needs(venue, "hold", "drop", "received_order_ids")
        assert venue.received_order_ids
        received = venue.received_order_ids
        collector = _Collector()
        manager.add_subscriber(collector)
        assert await manager.start()
        _allow(manager, *_DROP_COSTS)
        await _maybe(venue.hold, manager)
        order_id = await manager.send_order_async(venue.marketable_order(venue.symbol))
        await _until(manager, lambda: order_id in received(manager), venue.timeout,
                     f"the venue to receive {order_id}")
        connector = manager.get_connector(venue.connector_name)
        await _maybe(venue.drop, manager)
        await _until(manager, lambda: not connector.is_connected, venue.timeout,
                     "the drop to be noticed")
        await _maybe(venue.restore, manager)
        order = await _wait_order(manager, order_id, venue)
        _check(manager, order.status is OrderStatus.FILLED and not order.outcome_unknown,
               f"filled at the venue, reconciled as {order.status.value}")
        assert order.filled_quantity == order.quantity
        assert sum((f.quantity for f in collector.fills), Decimal(0)) == order.quantity
        assert manager.positions()[venue.symbol].quantity == order.quantity * order.side.sign
        _check(manager, list(received(manager)).count(order_id) == 1,
               f"the order reached the venue once: {list(received(manager))}")

    async def test_filled_while_the_venue_was_down(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        _needs(venue, "resting_order", "drop", "restore", "fill_resting")
        assert venue.resting_order
        collector = _Collector()
        manager.add_subscriber(collector)
        assert await manager.start()
        _allow(manager, *_DROP_COSTS)
        order_id = await manager.send_order_async(venue.resting_order(venue.symbol))
        order = await _wait_order(manager, order_id, venue,
                                  lambda o: o.status is OrderStatus.SUBMITTED or o.is_final,
                                  "SUBMITTED")
        _check(manager, order.status is OrderStatus.SUBMITTED, order.reason or "")
        connector = manager.get_connector(venue.connector_name)
        await _maybe(venue.drop, manager)
        await _until(manager, lambda: not connector.is_connected, venue.timeout,
                     "the drop to be noticed")
        await _maybe(venue.fill_resting, manager, order_id)
        await _maybe(venue.restore, manager)
        await _wait_order(manager, order_id, venue, lambda o: o.status is OrderStatus.FILLED,
                          "FILLED, from the venue's answer to STATUS after the reconnect")
        assert order.filled_quantity == order.quantity
        assert manager.positions()[venue.symbol].quantity == order.quantity * order.side.sign
        assert sum((f.quantity for f in collector.fills), Decimal(0)) == order.quantity

    async def test_duplicate_and_resent_fill_reports_count_once(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        _needs(venue, "resend_fills")
        assert venue.resend_fills
        collector = _Collector()
        manager.add_subscriber(collector)
        assert await manager.start()
        order_id = await manager.send_order_async(venue.marketable_order(venue.symbol))
        order = await _wait_order(manager, order_id, venue)
        _check(manager, order.status is OrderStatus.FILLED, f"{order.status}: {order.reason}")
        fills = len(collector.fills)
        _allow(manager, "duplicate_fills")
        stats = manager.get_stats()["connectors"][venue.connector_name]
        before = stats["duplicate_fills"]
        for rounds, possible_duplicate in enumerate((False, True), 1):
            await _maybe(venue.resend_fills, manager, order_id, possible_duplicate)

            def counted(rounds: int = rounds) -> bool:
                now = manager.get_stats()["connectors"][venue.connector_name]
                return bool(now["duplicate_fills"] >= before + rounds * fills)

            await _until(manager, counted, venue.timeout,
                         f"{fills} resent fill report(s) counted as duplicates "
                         f"(possible_duplicate={possible_duplicate})")
        _check(manager, len(collector.fills) == fills,
               f"no fill applied twice: {collector.fills}")
        assert order.filled_quantity == order.quantity
        assert manager.positions()[venue.symbol].quantity == order.quantity * order.side.sign

    async def test_dropped_connection_noticed_and_restored(
        self, conformance: tuple[ExchangeManager, VenueUnderTest]
    ) -> None:
        manager, venue = conformance
        if venue.drop is None:
            pytest.skip("no way to drop this venue")
        _allow(manager, *_DROP_COSTS)
        collector = _Collector()
        manager.add_subscriber(collector)
        assert await manager.start()
        data_type = venue.data_types[0]
        assert await manager.subscribe_async([Subscription(venue.symbol, data_type)]) == {}
        await _next_update(manager, collector, data_type, venue.symbol, venue.timeout)
        connector = manager.get_connector(venue.connector_name)
        await _maybe(venue.drop, manager)
        await _until(manager, lambda: not connector.is_connected,
                     venue.timeout, "the drop to be noticed")
        await _maybe(venue.restore, manager)
        await _until(manager, lambda: connector.is_connected, venue.timeout, "a reconnect")
        mark = len(collector.updates)
        update = await _next_update(manager, collector, data_type, venue.symbol, venue.timeout,
                                    after=mark)
        assert update.source == venue.connector_name
        stats = manager.get_stats()["connectors"][venue.connector_name]
        assert stats["reconnects"] >= 1 or stats["disconnects"] >= 1
