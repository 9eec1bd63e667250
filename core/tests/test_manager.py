"""The ExchangeManager against the built-in simulated venue: routing, failover, health,
orders, risk, the journal and the market-data path."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stockfish_core import (
    ConnectorStatus,
    DataType,
    ExchangeManager,
    FailoverStrategy,
    MarketUpdate,
    Order,
    OrderAction,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PluginRegistry,
    Subscription,
    hookimpl,
)
from stockfish_core.config import ManagerConfig, RiskConfig
from stockfish_core.sim import plugin as sim_plugin

FAST = ManagerConfig(health_check_interval=0.05, staleness=0.3, reconnect_initial_delay=0.05,
                     reconnect_max_delay=0.2, connect_timeout=5.0)


def registry() -> PluginRegistry:
    reg = PluginRegistry(entry_points=())
    reg.register(sim_plugin, "sim")
    return reg


def make(strategy: FailoverStrategy = FailoverStrategy.PRIMARY_BACKUP, *, venues: int = 2,
         journal: str | Path = ":memory:", config: ManagerConfig = FAST,
         **settings: Any) -> ExchangeManager:
    manager = ExchangeManager(strategy, config=config, registry=registry(), journal=journal)
    for i, name in enumerate(["a", "b", "c"][:venues]):
        manager.add_connector(name, "sim", primary=i == 0, tick_interval=0.005, seed=i,
                              **settings)
    return manager


@pytest.fixture
async def manager() -> AsyncIterator[ExchangeManager]:
    m = make()
    async with m:
        yield m
    m.journal.close()


class Recorder:
    def __init__(self) -> None:
        self.updates: list[MarketUpdate] = []
        self.orders: list[tuple[str, OrderStatus]] = []
        self.fills: list[Any] = []
        self.statuses: list[tuple[str, ConnectorStatus, int]] = []
        self.event = asyncio.Event()

    def on_update(self, update: MarketUpdate) -> None:
        self.updates.append(update)
        self.event.set()

    def on_order_update(self, order: Order) -> None:
        self.orders.append((order.client_order_id or "", order.status))
        self.event.set()

    def on_fill(self, fill: Any, order: Order) -> None:
        self.fills.append(fill)

    def on_connector_status(self, name: str, status: ConnectorStatus, reason: str) -> None:
        self.statuses.append((name, status, time.perf_counter_ns()))
        self.event.set()

    async def until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (result := predicate()):
            self.event.clear()
            remaining = deadline - loop.time()
            assert remaining > 0, "timed out"
            try:
                await asyncio.wait_for(self.event.wait(), min(remaining, 0.1))
            except asyncio.TimeoutError:
                pass
        return result


def sim(manager: ExchangeManager, name: str) -> Any:
    return manager.get_connector(name).state


# -- routing and failover ----------------------------------------------------------------
async def test_primary_backup_routes_to_primary_then_backup(manager: ExchangeManager) -> None:
    first = await manager.send_order_async(Order("SPY", "BUY", 1))
    assert manager.get_order(first).connector == "a"
    sim(manager, "a").drop()
    second = await manager.send_order_async(Order("SPY", "BUY", 1))
    assert manager.get_order(second).connector == "b"
    done = await manager.wait_for_order_async(second)
    assert done.status is OrderStatus.FILLED


async def test_failover_in_flight_order_is_reconciled_never_resent() -> None:
    """Primary and backup: the primary drops with an order in flight; new orders go to
    the backup at once; the in-flight order is reconciled with the primary when it
    returns, and the backup never sees it."""
    m = make()
    rec = Recorder()
    m.add_subscriber(rec)
    placed: list[tuple[str, int]] = []

    async with m:
        await m.subscribe_async([Subscription("SPY")])
        await rec.until(lambda: m.latest("SPY"))

        def primary_back() -> int | None:
            down = [t for n, s, t in rec.statuses if n == "a" and s is
                    ConnectorStatus.DISCONNECTED]
            up = [t for n, s, t in rec.statuses if n == "a" and down and t > down[0] and s is
                  ConnectorStatus.CONNECTED]
            return up[0] if up else None

        async def stream() -> None:
            after_back = 0
            for _ in range(3000):  # bounded; ends 20 orders after the primary is back
                order = Order("SPY", "BUY", 1)
                sent_at = time.perf_counter_ns()
                placed.append((await m.send_order_async(order), sent_at))
                if primary_back() is not None:
                    after_back += 1
                    if after_back == 20:
                        return
                await asyncio.sleep(0.002)  # the order stream's pace, not synchronisation

        streamer = asyncio.get_running_loop().create_task(stream())
        await rec.until(lambda: len(placed) >= 10)
        sim(m, "a").fail_connects(3)  # the primary stays away for a few reconnect attempts
        sim(m, "a").drop_on_next_submit()
        await rec.until(lambda: any(s == ConnectorStatus.DISCONNECTED and n == "a"
                                    for n, s, _ in rec.statuses))
        noticed = next(t for n, s, t in rec.statuses if n == "a" and s is
                       ConnectorStatus.DISCONNECTED)
        await streamer
        back = primary_back()
        assert back is not None

        in_flight = [m.get_order(cid) for cid, _ in placed if m.get_order(cid).outcome_unknown
                     or (m.get_order(cid).connector == "a" and m.get_order(cid).is_open)]
        after_drop = [(cid, t) for cid, t in placed if noticed < t < back]
        assert len(after_drop) >= 5, "the stream went on while the primary was away"
        first_backup = after_drop[0][1]
        assert all(m.get_order(cid).connector == "b" for cid, _ in after_drop)
        assert m.get_order(placed[-1][0]).connector == "a"  # back to the primary
        assert (first_backup - noticed) / 1e6 < 100, "new orders reach the backup in 100 ms"

        # The primary comes back by itself (the manager reconnects) and reconciles.
        await rec.until(lambda: m.get_connector("a").is_connected, timeout=5)
        for order in in_flight:
            done = await m.wait_for_order_async(order.client_order_id or "", timeout=5)
            assert done.status is OrderStatus.FILLED
            assert done.connector == "a"
            assert not done.outcome_unknown
        backup_ids = {v.order_id for v in sim(m, "b").engine.orders()}
        primary_ids = [v.order_id for v in sim(m, "a").engine.orders()]
        assert len(primary_ids) == len(set(primary_ids))  # nothing sent twice
        for order in in_flight:
            assert order.client_order_id not in backup_ids
        # Every order placed reached a final state: none lost.
        for cid, _ in placed:
            await m.wait_for_order_async(cid, timeout=5)
    m.journal.close()


async def test_round_robin_rotates() -> None:
    m = make(FailoverStrategy.ROUND_ROBIN, venues=3)
    async with m:
        ids = [await m.send_order_async(Order("SPY", "BUY", 1)) for _ in range(6)]
        assert [m.get_order(i).connector for i in ids] == ["a", "b", "c", "a", "b", "c"]
    m.journal.close()


async def test_best_available_avoids_an_unhealthy_connector() -> None:
    m = make(FailoverStrategy.BEST_AVAILABLE)
    async with m:
        for _ in range(4):  # errors lower a's score
            m.on_error(m.get_connector("a"), "venue complains", symbol=None, code="x",
                       data=False)
        scores = m.health_scores()
        assert scores["a"] < scores["b"]
        order_id = await m.send_order_async(Order("SPY", "BUY", 1))
        assert m.get_order(order_id).connector == "b"
    m.journal.close()


async def test_data_only_and_named_connectors(manager: ExchangeManager) -> None:
    manager.add_connector("feed", "sim", data_only=True, tick_interval=0.005)
    await manager.wait_for_order_async(await manager.send_order_async(Order("SPY", "BUY", 1)))
    with pytest.raises(OrderRejected, match="connector feed cannot take this order: data only"):
        await manager.send_order_async(Order("SPY", "BUY", 1), "feed")
    named = await manager.send_order_async(Order("SPY", "BUY", 1), "b")
    assert manager.get_order(named).connector == "b"


async def test_no_connector_available_is_a_clear_rejection(manager: ExchangeManager) -> None:
    sim(manager, "a").drop()
    sim(manager, "b").drop()
    order = Order("SPY", "BUY", 1)
    with pytest.raises(OrderRejected, match=r"no connector can take this order \(a: disc"):
        await manager.send_order_async(order)
    assert order.status is OrderStatus.REJECTED


# -- health -------------------------------------------------------------------------------
async def test_reconnect_with_backoff_restores_subscriptions() -> None:
    m = make(venues=1)
    rec = Recorder()
    m.add_subscriber(rec)
    async with m:
        await m.subscribe_async([Subscription("SPY"), Subscription("QQQ", DataType.TRADE)])
        await rec.until(lambda: m.latest("SPY"))
        sim(m, "a").fail_connects(2)
        sim(m, "a").drop()
        await rec.until(lambda: not m.get_connector("a").is_connected)
        await rec.until(lambda: m.get_stats()["connectors"]["a"]["reconnects"] == 1, timeout=5)
        stats = m.get_stats()["connectors"]["a"]
        assert stats["reconnect_attempts"] == 3  # two refused, the third connects
        assert m.get_connector("a").is_connected
        mark = len(rec.updates)
        await rec.until(lambda: {u.data_type for u in rec.updates[mark:]} >=
                        {DataType.PRICE_TICK, DataType.TRADE})
        statuses = [s for n, s, _ in rec.statuses if n == "a"]
        assert ConnectorStatus.RECONNECTING in statuses
    m.journal.close()


async def test_preferred_feed_switches_when_stale_and_back() -> None:
    m = make()
    rec = Recorder()
    m.add_subscriber(rec)
    async with m:
        await m.subscribe_async([Subscription("SPY")])
        await rec.until(lambda: any(u.source == "a" for u in rec.updates))
        assert all(u.source == "a" for u in rec.updates)  # b is on standby
        a = sim(m, "a")
        a.drop()
        mark = len(rec.updates)
        await rec.until(lambda: any(u.source == "b" for u in rec.updates[mark:]))
        await rec.until(lambda: m.get_connector("a").is_connected)
        mark = len(rec.updates)
        await rec.until(lambda: any(u.source == "a" for u in rec.updates[mark:]))
        last = rec.updates[-1]
        assert last.source == "a"
        stats = m.get_stats()["connectors"]
        assert stats["b"]["standby"] > 0
    m.journal.close()


async def test_stale_subscription_is_reported() -> None:
    m = make(venues=1, config=ManagerConfig(health_check_interval=0.05, staleness=0.1))
    rec = Recorder()
    m.add_subscriber(rec)
    async with m:
        await m.subscribe_async([Subscription("SPY")])
        await rec.until(lambda: m.latest("SPY"))
        assert m.get_health_status()["a"]["stale_symbols"] == []
        sim(m, "a").subscribe = lambda sub: None  # re-subscribing does not help
        sim(m, "a").unsubscribe(Subscription("SPY"))  # the venue stops sending
        await rec.until(lambda: m.get_health_status()["a"]["stale_symbols"] == ["SPY"], 3)
        assert m.get_health_status()["a"]["score"] < 100
    m.journal.close()


# -- orders -------------------------------------------------------------------------------
async def test_full_lifecycle_with_partial_fills_and_positions() -> None:
    m = make(venues=1, max_fill_qty=3)
    rec = Recorder()
    m.add_subscriber(rec)
    async with m:
        order_id = await m.send_order_async(Order("SPY", "BUY", 10))
        done = await m.wait_for_order_async(order_id)
        assert done.status is OrderStatus.FILLED
        statuses = [s for cid, s in rec.orders if cid == order_id]
        assert statuses[0] is OrderStatus.SUBMITTED
        assert OrderStatus.PARTIALLY_FILLED in statuses
        assert statuses[-1] is OrderStatus.FILLED
        assert sum(f.quantity for f in rec.fills) == 10
        position = m.positions()["SPY"]
        assert position.quantity == 10
        assert position.avg_price == done.avg_fill_price
    m.journal.close()


async def test_cancel_and_replace(manager: ExchangeManager) -> None:
    order_id = await manager.send_order_async(
        Order("SPY", "BUY", 5, OrderType.LIMIT, price=Decimal("1.00")))
    await manager.wait_for_order_async(order_id, lambda o: o.status is OrderStatus.SUBMITTED)
    assert manager.replace_order(order_id, quantity=7, price="1.5")
    await manager.wait_for_order_async(order_id, lambda o: o.quantity == 7)
    order = manager.get_order(order_id)
    assert order.price == Decimal("1.5")
    assert manager.cancel_order(order_id)
    assert (await manager.wait_for_order_async(order_id)).status is OrderStatus.CANCELLED
    assert not manager.cancel_order(order_id)


async def test_waits_end_by_result_timeout_or_cancel_and_leave_nothing(
    manager: ExchangeManager,
) -> None:
    order_id = await manager.send_order_async(
        Order("SPY", "BUY", 5, OrderType.LIMIT, price=Decimal("1.00")))
    acked = manager.wait_for_order_async(order_id, lambda o: o.status is OrderStatus.SUBMITTED)
    final = manager.wait_for_order_async(order_id, timeout=0.05)  # resting: never final
    cancelled = asyncio.ensure_future(manager.wait_for_order_async(order_id, timeout=60))
    assert (await acked).status is OrderStatus.SUBMITTED
    with pytest.raises(TimeoutError, match=f"order {order_id} still SUBMITTED after 0.05s"):
        await final
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await asyncio.sleep(0)  # the futures' done callbacks run on the next loop iteration
    assert manager._order_waiters == {}
    # An order already where the caller wants it: the future is done at once.
    assert manager.wait_for_order_async(order_id, lambda o: o.is_open).done()
    with pytest.raises(KeyError, match="no order 'nope'"):
        manager.wait_for_order_async("nope")


async def test_venue_reject_carries_its_reason(manager: ExchangeManager) -> None:
    sim(manager, "a").reject_orders(1)
    order_id = await manager.send_order_async(Order("SPY", "BUY", 1))
    done = await manager.wait_for_order_async(order_id)
    assert done.status is OrderStatus.REJECTED
    assert done.reason == "rejected on demand"
    assert manager.get_stats()["connectors"]["a"]["orders_rejected"] == 1


async def test_illegal_transitions_are_refused_and_counted(manager: ExchangeManager) -> None:
    order_id = await manager.send_order_async(Order("SPY", "BUY", 1))
    done = await manager.wait_for_order_async(order_id)
    assert done.status is OrderStatus.FILLED
    a = manager.get_connector("a")
    for status in (OrderStatus.SUBMITTED, OrderStatus.CANCELLED, OrderStatus.REJECTED):
        manager.on_order_update(a, OrderUpdate(order_id, status))
        assert manager.get_order_status(order_id) is OrderStatus.FILLED
    assert manager.get_stats()["illegal_transitions"] == 3
    manager.on_order_update(a, OrderUpdate("nobody-knows", OrderStatus.FILLED))
    assert manager.get_stats()["unknown_order_reports"] == 1
    manager.on_order_update(manager.get_connector("b"), OrderUpdate(order_id,
                                                                    OrderStatus.CANCELLED))
    assert manager.get_order_status(order_id) is OrderStatus.FILLED  # not b's order


async def test_fills_are_deduplicated_by_execution_id(manager: ExchangeManager) -> None:
    order_id = await manager.send_order_async(Order("SPY", "BUY", 1))
    done = await manager.wait_for_order_async(order_id)
    fill = manager.journal.fills(order_id)[0]
    manager.on_order_update(manager.get_connector("a"), OrderUpdate(
        order_id, OrderStatus.FILLED, fill=fill, possible_duplicate=True))
    assert done.filled_quantity == 1
    assert manager.positions()["SPY"].quantity == 1
    assert manager.get_stats()["connectors"]["a"]["duplicate_fills"] == 1
    assert len(manager.journal.fills(order_id)) == 1


# -- risk ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("risk", "order", "reason"),
    [
        (RiskConfig(max_order_quantity=Decimal(100)), Order("SPY", "BUY", 101),
         "quantity 101 exceeds max_order_quantity 100"),
        (RiskConfig(max_order_notional=Decimal(1000)),
         Order("SPY", "BUY", 11, OrderType.LIMIT, price=100), "notional 1100 exceeds"),
        (RiskConfig(price_collar_pct=5.0), Order("SPY", "BUY", 1, OrderType.LIMIT, price=150),
         "outside the 5.0% collar"),
        (RiskConfig(kill_switch=True), Order("SPY", "BUY", 1), "kill switch is engaged"),
    ],
)
async def test_risk_rejections(risk: RiskConfig, order: Order, reason: str) -> None:
    m = make(venues=1, config=ManagerConfig(risk=risk))
    rec = Recorder()
    m.add_subscriber(rec)
    async with m:
        await m.subscribe_async([Subscription("SPY")])
        await rec.until(lambda: m.latest("SPY"))
        with pytest.raises(OrderRejected, match=reason):
            await m.send_order_async(order)
        assert order.status is OrderStatus.REJECTED
        assert reason in (order.reason or "")
        assert m.journal.order(order.client_order_id or "") is None  # checks run first
        assert sim(m, "a").engine.orders() == []
    m.journal.close()


async def test_order_rate_limit_per_connector() -> None:
    m = make(venues=1, config=ManagerConfig(risk=RiskConfig(max_orders_per_second=5)))
    async with m:
        accepted, rejected = 0, []
        for _ in range(20):
            try:
                await m.send_order_async(Order("SPY", "BUY", 1))
                accepted += 1
            except OrderRejected as exc:
                rejected.append(exc.reason)
        assert accepted == 5  # the burst allowance; the loop is far faster than 1 s
        assert rejected[0] == "order rate limit: more than 5 orders per second to a"
    m.journal.close()


async def test_kill_switch_engaged_and_released(manager: ExchangeManager) -> None:
    manager.engage_kill_switch("desk limit breached")
    with pytest.raises(OrderRejected, match=r"kill switch is engaged \(desk limit breached\)"):
        await manager.send_order_async(Order("SPY", "BUY", 1))
    assert manager.get_stats()["kill_switch"]
    manager.release_kill_switch()
    order_id = await manager.send_order_async(Order("SPY", "BUY", 1))
    assert (await manager.wait_for_order_async(order_id)).status is OrderStatus.FILLED


# -- scale ----------------------------------------------------------------------------------
async def test_ten_thousand_orders_none_lost_none_duplicated(tmp_path: Path) -> None:
    m = make(venues=2, journal=tmp_path / "j.sqlite", latency=0.0)
    done = asyncio.Event()
    finals: dict[str, int] = {}
    total = 10_000

    class Count:
        def on_order_update(self, order: Order) -> None:
            if order.is_final:
                finals[order.client_order_id or ""] = finals.get(order.client_order_id or "",
                                                                  0) + 1
                if len(finals) == total:
                    done.set()

    m.add_subscriber(Count())
    async with m:
        ids = []
        for i in range(total):
            side = OrderSide.BUY if i % 2 else OrderSide.SELL
            if i % 10 == 0:  # a resting limit order, cancelled right away
                oid = await m.send_order_async(Order("SPY", side, 1, OrderType.LIMIT,
                                                     price=1 if side is OrderSide.BUY else 10**6))
                m.cancel_order(oid)
            else:
                oid = await m.send_order_async(Order("SPY", side, 1))
            ids.append(oid)
            if i % 500 == 0:
                await asyncio.sleep(0)  # let the venue answer as the stream goes on
        await asyncio.wait_for(done.wait(), 60)
        assert len(set(ids)) == total  # unique client order ids
        assert all(finals[i] == 1 for i in ids)  # each reached its final state once
        counts = m.journal.counts()
        assert sum(counts["orders"].values()) == total
        assert counts["orders"].get("FILLED", 0) + counts["orders"].get("CANCELLED", 0) == total
        engine_ids = [v.order_id for c in ("a", "b") for v in sim(m, c).engine.orders()]
        assert sorted(engine_ids) == sorted(ids)  # each reached a venue exactly once
        assert counts["fills"] == counts["orders"]["FILLED"]
    m.journal.close()


# -- the blocking API ----------------------------------------------------------------------
def test_blocking_api_from_a_plain_script() -> None:
    m = make(venues=1)
    seen = threading.Event()
    threads = set()

    class Strategy:
        """Sends an order from inside a market-data callback (on the manager loop)."""

        sent: str | None = None

        def on_price_tick(self, update: MarketUpdate) -> None:
            threads.add(threading.current_thread().name)
            if self.sent is None:
                self.sent = m.send_order(Order(update.payload.symbol, "BUY", 1))

        def on_fill(self, fill: Any, order: Order) -> None:
            seen.set()

    strategy = Strategy()
    m.add_subscriber(strategy)
    assert m.start_all(timeout=10)
    try:
        assert m.list_connectors() == [("a", ConnectorStatus.CONNECTED, True)]
        m.subscribe_price(["SPY"])
        assert seen.wait(10)
        assert strategy.sent is not None
        assert m.get_order_status(strategy.sent) is OrderStatus.FILLED
        assert threads == {"stockfish-manager"}
        order_id = m.send_order(Order("SPY", OrderSide.BUY, 100, OrderType.LIMIT, price=1.0))
        m.wait_for_order(order_id, lambda o: o.status is OrderStatus.SUBMITTED)
        assert m.cancel_order(order_id)
        assert m.wait_for_order(order_id).status is OrderStatus.CANCELLED
        stats = m.get_stats()
        assert stats["total"]["connected"] == 1
        assert stats["total"]["updates_normalized"] > 0
        assert m.get_health_status()["a"]["connected"]
    finally:
        m.stop_all()
        m.journal.close()
    assert m.list_connectors() == [("a", ConnectorStatus.DISCONNECTED, True)]


def test_sending_before_start_is_a_clear_error() -> None:
    m = make(venues=1)
    with pytest.raises(Exception, match="not started"):
        m.send_order(Order("SPY", "BUY", 1))
    m.journal.close()


async def test_restart_reloads_open_orders_from_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    first = make(venues=1, journal=journal)
    async with first:
        resting = await first.send_order_async(Order("SPY", "BUY", 3, OrderType.LIMIT, price=1))
        await first.wait_for_order_async(resting, lambda o: o.status is OrderStatus.SUBMITTED)
        filled = await first.send_order_async(Order("SPY", "BUY", 2))
        await first.wait_for_order_async(filled)
    first.journal.close()

    second = make(venues=1, journal=journal)
    rec = Recorder()
    second.add_subscriber(rec)
    async with second:
        order = second.get_order(resting)
        assert order.quantity == 3 and order.price == Decimal(1)
        assert [o.client_order_id for o in second.open_orders()] in ([resting], [])
        assert "SPY" not in second.positions()  # positions: this session's fills
        # The new process's venue has never seen the order: reconciliation says so.
        done = await second.wait_for_order_async(resting)
        assert done.status is OrderStatus.REJECTED
        assert "unknown order" in (done.reason or "")
    second.journal.close()


class Flaky:
    """A venue plugin whose orders never leave (VenueUnavailable) or break mid-send."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.requests: list[Any] = []

    @hookimpl
    def stockfish_plugin_spec(self) -> Any:
        from stockfish_core import API_VERSION, Capabilities, PluginSpec

        return PluginSpec(API_VERSION, None, Capabilities(order_types={OrderType.MARKET}))

    @hookimpl
    def stockfish_connect(self, connector: Any) -> None:
        connector.report_connected()

    @hookimpl
    def stockfish_disconnect(self, connector: Any) -> None:
        connector.report_closed()

    @hookimpl
    def stockfish_execute(self, connector: Any, request: Any) -> None:
        self.requests.append(request.action)
        raise self.error


async def test_an_order_that_never_left_fails_over_to_the_backup() -> None:
    from stockfish_core import VenueUnavailable

    reg = registry()
    flaky = Flaky(VenueUnavailable("socket closed before the send"))
    reg.register(flaky, "flaky")
    m = ExchangeManager(config=FAST, registry=reg, journal=":memory:")
    m.add_connector("primary", "flaky", primary=True)
    m.add_connector("backup", "sim", tick_interval=0.005)
    async with m:
        order_id = await m.send_order_async(Order("SPY", "BUY", 1))
        done = await m.wait_for_order_async(order_id)
        assert done.status is OrderStatus.FILLED
        assert done.connector == "backup"
        assert flaky.requests == [OrderAction.SUBMIT]
        assert m.get_stats()["connectors"]["primary"]["orders_submitted"] == 0
    m.journal.close()


async def test_a_send_that_broke_leaves_the_outcome_unknown_never_resent() -> None:
    reg = registry()
    flaky = Flaky(ConnectionResetError("reset during write"))
    reg.register(flaky, "flaky")
    m = ExchangeManager(config=FAST, registry=reg, journal=":memory:")
    m.add_connector("primary", "flaky", primary=True)
    m.add_connector("backup", "sim", tick_interval=0.005)
    async with m:
        order = Order("SPY", "BUY", 1)
        order_id = await m.send_order_async(order)
        rec = Recorder()
        await rec.until(lambda: order.outcome_unknown, timeout=2)
        assert order.status is OrderStatus.PENDING
        assert order.connector == "primary"
        assert sim(m, "backup").engine.orders() == []  # never sent elsewhere
        assert flaky.requests == [OrderAction.SUBMIT]
        # The journal has it after its next write-behind flush (one loop iteration).
        await rec.until(lambda: m.journal.order(order_id).outcome_unknown,  # type: ignore[union-attr]
                        timeout=2)
    m.journal.close()


async def test_stop_cancels_again_a_task_that_survived_its_cancel() -> None:
    # Before Python 3.12, asyncio.wait_for drops a cancel that arrives just as what it
    # waits for completes; a task of the manager's can so survive the first cancel.
    manager = make(venues=1)
    await manager.start()
    started, survived, never = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def stubborn() -> None:
        started.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            survived.set()  # swallowed, as wait_for would
        await never.wait()

    task = manager._spawn(stubborn())
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(manager.stop(), 5)
    assert survived.is_set()
    assert task.cancelled()
    manager.journal.close()
