"""The built-in ``sim`` plugin driven through its hooks with the ConnectorHarness: data of
every type, the order lifecycle, rejects, drops, in-flight orders and reconnects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from importlib import metadata
from typing import Any

import pytest

from stockfish_core import (
    ConnectorStatus,
    DataType,
    OHLCVBar,
    Order,
    OrderAction,
    OrderBookSnapshot,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PluginRegistry,
    PriceTick,
    Subscription,
    TimeInForce,
    Trade,
    VenueUnavailable,
)
from stockfish_core.errors import ConfigError
from stockfish_core.sim import plugin as sim_plugin
from stockfish_core.sim.plugin import SimConfig
from stockfish_core.sim.venue import SimVenue
from stockfish_core.testing import ConnectorHarness

FAST = {"tick_interval": 0.002, "seed": 7, "start_prices": {"SPY": 450.0, "QQQ": 380.0}}
T = 5.0  # seconds to wait for anything


def harness(settings: dict[str, Any] | None = None, **kwargs: Any) -> ConnectorHarness:
    return ConnectorHarness(sim_plugin, "sim", {**FAST, **(settings or {})}, **kwargs)


@pytest.fixture
async def sim() -> AsyncIterator[ConnectorHarness]:
    async with harness() as h:
        await h.connect(timeout=T)
        yield h


def venue(h: ConnectorHarness) -> SimVenue:
    state = h.connector.state
    assert isinstance(state, SimVenue)
    return state


def submit(coid: str, symbol: str = "SPY", side: str = "BUY", qty: Any = 10,
           order_type: OrderType = OrderType.MARKET, **kwargs: Any) -> OrderRequest:
    order = Order(symbol, side, qty, order_type, client_order_id=coid, **kwargs)  # type: ignore[arg-type]
    return OrderRequest(OrderAction.SUBMIT, order)


async def until_final(h: ConnectorHarness, coid: str) -> list[OrderUpdate]:
    """This order's updates up to and including its first final status."""
    seen: list[OrderUpdate] = []
    while not (seen and seen[-1].status.is_final):
        seen.append(await h.next_order_update(T, where=lambda u: u.client_order_id == coid))
    return seen


# -- declaration and configuration ---------------------------------------------------------
def test_loaded_by_name_through_the_entry_point_group() -> None:
    ep = metadata.EntryPoint(name="sim", value="stockfish_core.sim.plugin", group="stockfish")
    registry = PluginRegistry([ep])
    assert registry.load(["sim"]) == []
    loaded = registry.get("sim")
    assert loaded.spec is not None
    caps = loaded.spec.capabilities
    assert loaded.spec.config_class is SimConfig
    assert caps.data_types == {DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT,
                               DataType.OHLCV_BAR, DataType.TRADE}
    assert caps.order_types == set(OrderType)
    assert caps.time_in_force == set(TimeInForce)
    assert caps.replace
    assert "stockfish_normalize" in loaded.hook_names


def test_unknown_and_invalid_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"connectors\.sim\.speed: unknown key"):
        harness({"speed": 3})
    with pytest.raises(ConfigError, match="tick_interval must be positive"):
        harness({"tick_interval": 0})


# -- connection ----------------------------------------------------------------------------
async def test_connect_reports_connecting_then_connected(sim: ConnectorHarness) -> None:
    assert [s for s, _ in sim.listener.statuses] == [ConnectorStatus.CONNECTING,
                                                     ConnectorStatus.CONNECTED]
    await sim.disconnect()
    assert sim.connector.status is ConnectorStatus.DISCONNECTED


async def test_a_failed_connect_raises_and_the_next_one_works() -> None:
    async with harness() as h:
        sim_plugin.venue_of(h.connector).fail_connects(1)
        with pytest.raises(ConnectionError, match="simulated connect failure"):
            await h.connect(timeout=T)
        assert h.connector.status is ConnectorStatus.ERROR
        await h.connect(timeout=T)


# -- market data ---------------------------------------------------------------------------
async def test_price_ticks_are_numbered_per_symbol(sim: ConnectorHarness) -> None:
    await sim.subscribe(Subscription("SPY"))
    await sim.subscribe(Subscription("QQQ", DataType.PRICE_TICK))
    seqs: dict[str, list[int]] = {"SPY": [], "QQQ": []}
    while min(len(v) for v in seqs.values()) < 5:
        update = await sim.next_update(T)
        assert update.data_type is DataType.PRICE_TICK
        assert isinstance(update.payload, PriceTick)
        assert update.source == "sim"
        assert update.venue_ts_ns > 0
        assert update.recv_ts_ns >= update.venue_ts_ns
        assert update.sequence_number is not None
        tick = update.payload
        assert tick.bid is not None
        assert tick.ask is not None
        assert tick.bid < tick.ask
        seqs[tick.symbol].append(update.sequence_number)
    for numbers in seqs.values():
        assert numbers == list(range(1, len(numbers) + 1))
    spy = next(u.payload for u in sim.listener.updates if u.symbol == "SPY")
    assert abs(spy.mid_price - 450.0) < 5


async def test_order_book_with_depth(sim: ConnectorHarness) -> None:
    await sim.subscribe(Subscription("SPY", DataType.ORDERBOOK_SNAPSHOT, depth=3))
    update = await sim.next_update(T)
    book = update.payload
    assert update.data_type is DataType.ORDERBOOK_SNAPSHOT
    assert isinstance(book, OrderBookSnapshot)
    assert (len(book.bids), len(book.asks)) == (3, 3)
    assert book.bids[0].price < book.asks[0].price


async def test_order_book_depth_defaults_to_the_setting() -> None:
    async with harness({"depth": 4}) as h:
        await h.connect(timeout=T)
        await h.subscribe(Subscription("SPY", DataType.ORDERBOOK_SNAPSHOT))
        book = (await h.next_update(T)).payload
        assert len(book.asks) == 4


async def test_trades() -> None:
    async with harness({"trade_probability": 1.0}) as h:
        await h.connect(timeout=T)
        await h.subscribe(Subscription("SPY", DataType.TRADE))
        update = await h.next_update(T)
        assert update.data_type is DataType.TRADE
        assert isinstance(update.payload, Trade)
        assert update.payload.size > 0
        assert update.payload.side in ("buy", "sell")


async def test_bars_of_the_subscribed_interval(sim: ConnectorHarness) -> None:
    await sim.subscribe(Subscription("SPY", DataType.OHLCV_BAR, interval="20ms"))
    first = await sim.next_update(T)
    second = await sim.next_update(T)
    for update in (first, second):
        bar = update.payload
        assert isinstance(bar, OHLCVBar)
        assert bar.interval == "20ms"
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.timestamp_ns % 20_000_000 == 0
    assert second.payload.timestamp_ns > first.payload.timestamp_ns


@pytest.mark.parametrize(("sub", "message"), [
    (Subscription("SPY", DataType.NEWS), "not news"),
    (Subscription("SPY", DataType.OHLCV_BAR, interval="soon"), "not understood"),
    (Subscription("SPY", DataType.ORDERBOOK_SNAPSHOT, depth=0), "depth must be"),
    (Subscription(""), "symbol must be"),
])
async def test_subscriptions_it_cannot_serve_raise_value_error(
    sim: ConnectorHarness, sub: Subscription, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await sim.subscribe(sub)


async def test_unsubscribe_stops_that_stream_only(sim: ConnectorHarness) -> None:
    spy, qqq = Subscription("SPY"), Subscription("QQQ")
    await sim.subscribe(spy)
    await sim.subscribe(qqq)
    await sim.next_update(T, where=lambda u: u.symbol == "SPY")
    await sim.unsubscribe(spy)
    mark = len(sim.listener.updates)
    for _ in range(5):
        await sim.next_update(T, where=lambda u: u.symbol == "QQQ")
    later = sim.listener.updates[mark:]
    assert later
    assert all(u.symbol == "QQQ" for u in later)


async def test_normalize_counts_and_skips_what_it_cannot_read(sim: ConnectorHarness) -> None:
    tick = PriceTick("SPY", 1.0, 2.0, timestamp_ns=5)
    result = sim.hooks.call("stockfish_normalize", connector=sim.connector,
                            messages=[{"junk": 1}, tick])
    assert [u.payload for u in result] == [tick]
    assert result[0].venue_ts_ns == 5
    assert len(sim.listener.errors) == 1
    assert sim.listener.errors[0].data


# -- orders --------------------------------------------------------------------------------
async def test_market_order_lifecycle_reported_after_execute_returns(
    sim: ConnectorHarness,
) -> None:
    await sim.execute(submit("c1"))
    assert sim.listener.order_updates == []  # never delivered inside the execute call
    updates = await until_final(sim, "c1")
    assert [u.status for u in updates] == [OrderStatus.SUBMITTED, OrderStatus.FILLED]
    ack, filled = updates
    assert ack.venue_order_id is not None
    assert ack.venue_order_id == filled.venue_order_id
    assert ack.connector == "sim"
    fill = filled.fill
    assert fill is not None
    assert (fill.client_order_id, fill.symbol, fill.quantity) == ("c1", "SPY", Decimal(10))
    assert fill.connector == "sim"
    assert abs(fill.price - Decimal(450)) < 5


async def test_partial_fills_add_up_with_commission() -> None:
    async with harness({"max_fill_qty": 4, "commission_per_unit": "0.01"}) as h:
        await h.connect(timeout=T)
        await h.execute(submit("p1", side="SELL", qty=10))
        updates = await until_final(h, "p1")
        statuses = [u.status for u in updates]
        assert statuses == [OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED,
                            OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED]
        fills = [u.fill for u in updates if u.fill is not None]
        assert [f.quantity for f in fills] == [4, 4, 2]
        assert [f.commission for f in fills] == [Decimal("0.04"), Decimal("0.04"),
                                                 Decimal("0.02")]
        assert len({f.execution_id for f in fills}) == 3


async def test_limit_order_rests_then_is_cancelled(sim: ConnectorHarness) -> None:
    await sim.execute(submit("l1", qty=5, order_type=OrderType.LIMIT, price=100))
    ack = await sim.next_order_update(T)
    assert ack.status is OrderStatus.SUBMITTED
    order = ack  # the venue's answer is all the client has
    cancel = OrderRequest(OrderAction.CANCEL, Order("SPY", "BUY", 5, OrderType.LIMIT,
                                                    price=100, client_order_id="l1"))
    await sim.execute(cancel)
    done = await sim.next_order_update(T)
    assert done.status is OrderStatus.CANCELLED
    assert done.venue_order_id == order.venue_order_id
    # A second cancel is too late: an error is reported and the status repeated.
    await sim.execute(cancel)
    again = await sim.next_order_update(T)
    assert again.status is OrderStatus.CANCELLED
    assert again.reason == "cancel rejected: too late to cancel: order is CANCELLED"
    assert "too late to cancel" in sim.listener.errors[-1].message
    assert sim.listener.errors[-1].code == "CANCEL_REJECTED"


async def test_replace_to_a_marketable_price_fills(sim: ConnectorHarness) -> None:
    order = Order("SPY", "BUY", 3, OrderType.LIMIT, price=100, client_order_id="r1")
    await sim.execute(OrderRequest(OrderAction.SUBMIT, order))
    assert (await sim.next_order_update(T)).status is OrderStatus.SUBMITTED
    await sim.execute(OrderRequest(OrderAction.REPLACE, order, price=Decimal(1000)))
    replaced = await sim.next_order_update(T)
    assert replaced.replaced
    assert replaced.price == Decimal(1000)
    assert replaced.status is OrderStatus.SUBMITTED
    filled = await sim.next_order_update(T)
    assert filled.status is OrderStatus.FILLED
    assert filled.fill is not None
    assert filled.fill.price < 1000  # filled at the quote, not at the limit


async def test_stop_order_triggers_on_the_moving_market() -> None:
    async with harness({"volatility": 20.0}) as h:
        await h.connect(timeout=T)
        ask = venue(h).market.quote("SPY").ask
        assert ask is not None
        await h.execute(submit("s1", order_type=OrderType.STOP,
                               stop_price=Decimal(str(ask)) + Decimal("0.5")))
        updates = await until_final(h, "s1")
        assert [u.status for u in updates] == [OrderStatus.SUBMITTED, OrderStatus.FILLED]


async def test_ioc_remainder_is_cancelled_with_its_reason() -> None:
    async with harness({"max_fill_qty": 1}) as h:
        await h.connect(timeout=T)
        await h.execute(submit("i1", qty=5, time_in_force=TimeInForce.IOC))
        updates = await until_final(h, "i1")
        assert [u.status for u in updates] == [OrderStatus.SUBMITTED,
                                               OrderStatus.PARTIALLY_FILLED,
                                               OrderStatus.CANCELLED]
        assert updates[-1].reason == "expired: IOC remainder"


async def test_orders_rejected_on_demand_with_the_reason(sim: ConnectorHarness) -> None:
    venue(sim).reject_orders(1)
    await sim.execute(submit("x1"))
    rejected = await sim.next_order_update(T)
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.reason == "rejected on demand"
    await sim.execute(submit("x2"))
    assert [u.status for u in await until_final(sim, "x2")][-1] is OrderStatus.FILLED


async def test_a_duplicate_client_order_id_leaves_the_first_order_alone(
    sim: ConnectorHarness,
) -> None:
    await sim.execute(submit("d1", order_type=OrderType.LIMIT, price=100))
    assert (await sim.next_order_update(T)).status is OrderStatus.SUBMITTED
    await sim.execute(submit("d1", side="SELL"))
    answer = await sim.next_order_update(T)
    assert answer.status is OrderStatus.SUBMITTED  # the first order's unchanged state
    assert answer.reason == "submit rejected: duplicate order id 'd1'"
    assert sim.listener.errors[-1].code == "REJECTED"


async def test_an_order_without_client_order_id_is_refused_before_it_leaves(
    sim: ConnectorHarness,
) -> None:
    with pytest.raises(OrderRejected, match="client_order_id"):
        await sim.execute(OrderRequest(OrderAction.SUBMIT, Order("SPY", "BUY", 1)))


async def test_status_of_known_and_unknown_orders(sim: ConnectorHarness) -> None:
    order = Order("SPY", "SELL", 2, OrderType.LIMIT, price=9999, client_order_id="q1")
    await sim.execute(OrderRequest(OrderAction.SUBMIT, order))
    await sim.next_order_update(T)
    await sim.execute(OrderRequest(OrderAction.STATUS, order))
    status = await sim.next_order_update(T)
    assert status.status is OrderStatus.SUBMITTED
    assert status.client_order_id == "q1"
    await sim.execute(OrderRequest(OrderAction.STATUS, Order("SPY", "BUY", 1,
                                                             client_order_id="never")))
    unknown = await sim.next_order_update(T)
    assert (unknown.status, unknown.reason) == (OrderStatus.REJECTED, "unknown order")


async def test_latency_delays_reports_but_keeps_their_order() -> None:
    async with harness({"latency": 0.02, "max_fill_qty": 3}) as h:
        await h.connect(timeout=T)
        await h.execute(submit("a", qty=3))
        await h.execute(submit("b", qty=7))
        first = await until_final(h, "a")
        assert [u.status for u in first] == [OrderStatus.SUBMITTED, OrderStatus.FILLED]
        second = await until_final(h, "b")
        assert [u.status for u in second][-1] is OrderStatus.FILLED
        all_ids = [u.client_order_id for u in h.listener.order_updates]
        assert all_ids[:2] == ["a", "a"]  # a's ack and fill came before anything of b


# -- drops and reconnects ------------------------------------------------------------------
async def test_drop_stops_data_refuses_orders_and_reconnect_resumes(sim: ConnectorHarness) -> None:
    await sim.subscribe(Subscription("SPY"))
    before = await sim.next_update(T)
    v = venue(sim)
    v.drop()
    assert sim.connector.status is ConnectorStatus.DISCONNECTED
    assert sim.listener.statuses[-1] == (ConnectorStatus.DISCONNECTED,
                                         "simulated connection loss")
    count = len(sim.listener.updates)
    v.step()  # the venue's market moves on, but nothing reaches the client
    assert len(sim.listener.updates) == count
    with pytest.raises(VenueUnavailable, match="dropped"):
        await sim.execute(submit("z1"))
    await sim.disconnect()
    await sim.connect(timeout=T)
    v.step()  # a new session: no data until the subscription is made again
    assert len(sim.listener.updates) == count
    await sim.subscribe(Subscription("SPY"))
    after = await sim.next_update(T, where=lambda u: u.recv_ts_ns > before.recv_ts_ns)
    assert after.sequence_number is not None
    assert before.sequence_number is not None
    assert after.sequence_number > before.sequence_number
    await sim.execute(submit("z2"))
    assert (await until_final(sim, "z2"))[-1].status is OrderStatus.FILLED


@pytest.mark.parametrize("raise_error", [False, True])
async def test_order_in_flight_during_a_drop_is_found_by_status_after_reconnect(
    sim: ConnectorHarness, raise_error: bool
) -> None:
    v = venue(sim)
    v.drop_on_next_submit(raise_error=raise_error)
    request = submit("f1", qty=4)
    if raise_error:
        with pytest.raises(ConnectionError, match="connection lost while sending f1"):
            await sim.execute(request)
    else:
        await sim.execute(request)
    await sim.wait_status(ConnectorStatus.DISCONNECTED, T)
    # The venue took the order (a market order: it filled at once); the client heard nothing.
    view = v.engine.order("f1")
    assert view is not None
    assert view.status is OrderStatus.FILLED
    await sim.disconnect()
    await sim.connect(timeout=T)
    await sim.execute(OrderRequest(OrderAction.STATUS, request.order))
    replay = await until_final(sim, "f1")
    assert all(u.possible_duplicate for u in replay)  # nothing arrived before the query
    assert [u.status for u in replay] == [OrderStatus.FILLED]
    fill = replay[0].fill
    assert fill is not None
    assert fill.quantity == 4
    assert fill.execution_id.startswith("sim-")


async def test_resting_order_survives_a_drop_and_can_be_cancelled_after(
    sim: ConnectorHarness,
) -> None:
    order = Order("SPY", "BUY", 2, OrderType.LIMIT, price=1, client_order_id="g1",
                  time_in_force="GTC")
    await sim.execute(OrderRequest(OrderAction.SUBMIT, order))
    venue_id = (await sim.next_order_update(T)).venue_order_id
    venue(sim).drop()
    await sim.disconnect()
    await sim.connect(timeout=T)
    await sim.execute(OrderRequest(OrderAction.STATUS, order))
    status = await sim.next_order_update(T)
    assert (status.status, status.venue_order_id) == (OrderStatus.SUBMITTED, venue_id)
    await sim.execute(OrderRequest(OrderAction.CANCEL, order))
    assert (await sim.next_order_update(T)).status is OrderStatus.CANCELLED


async def test_partial_fills_missed_during_a_drop_are_replayed_by_status() -> None:
    # A market that only moves when the test steps it: no race with the venue's task.
    async with harness({"max_fill_qty": 2, "tick_interval": 3600}) as h:
        await h.connect(timeout=T)
        v = venue(h)
        v.drop_on_next_submit()
        request = submit("m1", qty=5)
        await h.execute(request)
        v.step()  # the venue keeps matching while the client is away
        view = v.engine.order("m1")
        assert view is not None
        assert view.cum_qty == 4
        await h.disconnect()
        await h.connect(timeout=T)
        await h.execute(OrderRequest(OrderAction.STATUS, request.order))
        replay = [await h.next_order_update(T) for _ in range(2)]
        assert [u.status for u in replay] == [OrderStatus.PARTIALLY_FILLED] * 2
        assert [u.fill.quantity for u in replay if u.fill] == [2, 2]
        v.step()  # the last unit fills live
        rest = await until_final(h, "m1")
        assert rest[-1].status is OrderStatus.FILLED
        assert not rest[-1].possible_duplicate


async def test_two_sim_connectors_are_independent_venues() -> None:
    registry = PluginRegistry(entry_points=())
    async with harness(registry=registry, connector_name="primary") as a, \
            harness(registry=registry, connector_name="backup") as b:
        await a.connect(timeout=T)
        await b.connect(timeout=T)
        await a.execute(submit("o1"))
        filled = (await until_final(a, "o1"))[-1]
        assert filled.fill is not None
        assert filled.fill.execution_id.startswith("primary-")
        await b.execute(OrderRequest(OrderAction.STATUS, submit("o1").order))
        assert (await b.next_order_update(T)).reason == "unknown order"
        a_venue, b_venue = venue(a), venue(b)
        a_venue.drop()
        assert b.connector.status is ConnectorStatus.CONNECTED
        assert a_venue.engine is not b_venue.engine
