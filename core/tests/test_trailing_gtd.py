"""Trailing stops and time in force GTD (issue 25 item 4): the order's terms and their
checks, the fill engine's trailing stop and expiry, the sim venue through the manager,
and the journal keeping the new terms across a restart."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

import stockfish_core.sim.plugin as sim_plugin
from stockfish_core import ExchangeManager, Order, OrderRejected, OrderStatus, PluginRegistry
from stockfish_core.config import ManagerConfig
from stockfish_core.connector import Capabilities, connector_capabilities
from stockfish_core.errors import InvalidOrderError
from stockfish_core.journal import order_body
from stockfish_core.orders import OrderSide, OrderType, TimeInForce
from stockfish_core.serialization import from_dict, to_dict
from stockfish_core.sim.matching import ExecEvent, ExecKind, MatchingEngine
from stockfish_core.sim.venue import SimVenue

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
TRAIL, LMT = OrderType.TRAILING_STOP, OrderType.LIMIT
K = ExecKind


class Clock:
    def __init__(self, start: int = 1_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def quote(e: MatchingEngine, bid: str, ask: str, size: str = "1000") -> list[ExecEvent]:
    return e.set_quote("SPY", D(bid), D(ask), D(size), D(size))


def kinds(events: list[ExecEvent]) -> list[ExecKind]:
    return [e.kind for e in events]


# -- the order's terms -------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "error"), [
    ({"order_type": "TRAILING_STOP"}, "needs trail_amount or trail_percent"),
    ({"order_type": "TRAILING_STOP", "trail_amount": 1, "trail_percent": 1},
     "needs trail_amount or trail_percent"),
    ({"order_type": "TRAILING_STOP", "trail_amount": -1}, "trail_amount must be positive"),
    ({"order_type": "TRAILING_STOP", "trail_percent": 100}, "between 0 and 100"),
    ({"order_type": "TRAILING_STOP", "trail_amount": 1, "price": 10}, "takes no price"),
    ({"order_type": "TRAILING_STOP", "trail_amount": 1, "stop_price": 10},
     "takes no stop_price"),
    ({"order_type": "LIMIT", "price": 10, "trail_amount": 1}, "takes no trail"),
    ({"order_type": "LIMIT", "price": 10, "time_in_force": "GTD"}, "needs an expire time"),
    ({"order_type": "LIMIT", "price": 10, "expire_ns": 5}, "expire_ns is for GTD orders"),
    ({"order_type": "LIMIT", "price": 10, "time_in_force": "GTD",
      "expire_ns": datetime(2030, 1, 1)}, "needs a time zone"),
    ({"order_type": "LIMIT", "price": 10, "time_in_force": "GTD", "expire_ns": 1.5},
     "expire_ns must be nanoseconds"),
])
def test_bad_trailing_and_gtd_terms_are_refused_when_the_order_is_built(
        kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(InvalidOrderError, match=error):
        Order("SPY", "SELL", 10, **kwargs)  # type: ignore[arg-type]


def test_an_expire_time_may_be_an_aware_datetime() -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    order = Order("SPY", "BUY", 1, "LIMIT", price=10, time_in_force="GTD", expire_ns=at)
    assert order.expire_ns == 1_893_546_245_678_901_000  # 2030-01-02 01:04:05.678901 UTC
    assert order.expire_time == at


def test_the_new_terms_are_serialised_only_when_set_and_round_trip() -> None:
    plain = Order("SPY", "BUY", 1, "LIMIT", price=10)
    assert not {"trail_amount", "trail_percent", "expire_ns"} & set(to_dict(plain))
    trailing = Order("SPY", "SELL", 3, "TRAILING_STOP", trail_percent="1.5",
                     time_in_force="GTD", expire_ns=2_000_000_000_000_000_000)
    data = to_dict(trailing)
    assert (data["trail_percent"], data["expire_ns"]) == ("1.5", 2_000_000_000_000_000_000)
    # The journal's row is the generic serialisation for such an order.
    back = from_dict(__import__("json").loads(order_body(trailing)), Order)
    assert (back.order_type, back.trail_percent, back.trail_amount, back.expire_ns) == (
        TRAIL, D("1.5"), None, 2_000_000_000_000_000_000)


# -- the fill engine ---------------------------------------------------------------------
def test_a_trailing_sell_stop_rises_with_the_bid_and_triggers() -> None:
    e = MatchingEngine(clock=itertools.count(1).__next__)
    quote(e, "100", "100.10")
    new = e.submit("t", "SPY", SELL, D(10), TRAIL, trail_amount=D("1.5"))
    assert kinds(new) == [K.NEW]
    assert new[0].stop_price == D("98.5")
    assert quote(e, "103", "103.10") == []
    assert e.order("t").stop_price == D("101.5")  # type: ignore[union-attr]
    assert quote(e, "102", "102.10") == []  # a falling bid leaves the stop where it is
    assert e.order("t").stop_price == D("101.5")  # type: ignore[union-attr]
    assert not e.order("t").triggered  # type: ignore[union-attr]
    fill = quote(e, "101.5", "101.60")
    assert kinds(fill) == [K.FILL]
    assert (fill[0].last_px, fill[0].last_qty) == (D("101.5"), D(10))


def test_a_trailing_buy_stop_by_percent_falls_with_the_ask() -> None:
    e = MatchingEngine(clock=itertools.count(1).__next__)
    e.submit("t", "SPY", BUY, D(4), TRAIL, trail_percent=D(10))  # no quote yet: no stop
    assert e.order("t").stop_price is None  # type: ignore[union-attr]
    assert quote(e, "99", "100") == []
    assert e.order("t").stop_price == D("110")  # type: ignore[union-attr]
    assert quote(e, "79", "80") == []
    assert e.order("t").stop_price == D("88")  # type: ignore[union-attr]
    assert kinds(quote(e, "87", "88")) == [K.FILL]


def test_a_trailing_stop_cannot_be_given_a_stop_by_replace() -> None:
    e = MatchingEngine(clock=itertools.count(1).__next__)
    quote(e, "100", "100.10")
    e.submit("t", "SPY", SELL, D(10), TRAIL, trail_amount=D(1))
    refused = e.replace("t", stop_price=D(50))
    assert kinds(refused) == [K.REPLACE_REJECTED]
    assert "follows the market" in (refused[0].reason or "")
    assert kinds(e.replace("t", quantity=D(5))) == [K.REPLACED]


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"order_type": TRAIL}, "needs a trail amount or a trail percent"),
    ({"order_type": LMT, "price": D(1), "trail_amount": D(1)}, "takes no trail"),
    ({"order_type": LMT, "price": D(1), "time_in_force": TimeInForce.GTD},
     "needs an expire time"),
    ({"order_type": LMT, "price": D(1), "time_in_force": TimeInForce.GTD, "expire_ns": 999},
     "expire time of the GTD order has passed"),
    ({"order_type": LMT, "price": D(1), "expire_ns": 5_000}, "expire time is for GTD"),
])
def test_the_engine_refuses_bad_trailing_and_gtd_terms(kwargs: dict[str, object],
                                                       reason: str) -> None:
    e = MatchingEngine(clock=Clock())
    events = e.submit("x", "SPY", BUY, D(1), **kwargs)  # type: ignore[arg-type]
    assert kinds(events) == [K.REJECTED]
    assert reason in (events[0].reason or "")


def test_a_gtd_order_expires_before_a_later_quote_can_fill_it() -> None:
    clock = Clock()
    e = MatchingEngine(clock=clock)
    quote(e, "100", "101")
    events = e.submit("g", "SPY", BUY, D(5), LMT, D(100), time_in_force=TimeInForce.GTD,
                      expire_ns=2_000)
    assert kinds(events) == [K.NEW]
    assert e.next_expiry() == 2_000
    clock.now = 1_999
    assert quote(e, "100", "101") == []
    clock.now = 2_000
    expired = quote(e, "98", "99")  # would fill the order, had it not expired
    assert kinds(expired) == [K.EXPIRED]
    assert expired[0].reason == "GTD expire time reached"
    assert expired[0].order_status is OrderStatus.CANCELLED
    assert e.next_expiry() is None


def test_expire_due_ends_gtd_orders_without_a_quote() -> None:
    clock = Clock()
    e = MatchingEngine(clock=clock)
    e.submit("a", "SPY", BUY, D(1), LMT, D(1), time_in_force=TimeInForce.GTD, expire_ns=3_000)
    e.submit("b", "QQQ", BUY, D(1), LMT, D(1), time_in_force=TimeInForce.GTD, expire_ns=2_000)
    e.submit("c", "QQQ", BUY, D(1), LMT, D(1), time_in_force=TimeInForce.GTC)
    assert e.expire_due(1_500) == []
    assert [(ev.order_id, ev.kind) for ev in e.expire_due(2_500)] == [("b", K.EXPIRED)]
    e.cancel("a")  # a cancelled GTD order is not expired later
    assert e.expire_due(10_000) == []
    assert [v.order_id for v in e.open_orders()] == ["c"]


# -- through the manager, on the sim venue ---------------------------------------------------
CONFIG = ManagerConfig(connect_timeout=5.0, position_check_interval=0)


def make(journal: str = ":memory:", tick_interval: float = 3600) -> ExchangeManager:
    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    manager = ExchangeManager(config=CONFIG, registry=registry, journal=journal)
    manager.add_connector("sim", "sim", tick_interval=tick_interval,
                          start_prices={"SPY": 100.0})
    return manager


def venue_of(manager: ExchangeManager) -> SimVenue:
    venue = manager.get_connector("sim").state
    assert isinstance(venue, SimVenue)
    return venue


def working(order: Order) -> bool:
    return order.venue_order_id is not None or order.is_final


async def test_a_trailing_stop_on_sim() -> None:
    async with make() as manager:
        venue = venue_of(manager)
        venue.set_quote("SPY", "100", "100.10")
        cid = manager.send_order(Order("SPY", "SELL", 10, "TRAILING_STOP", trail_amount=2))
        assert (await manager.wait_for_order_async(cid, working)).status \
            is OrderStatus.SUBMITTED
        venue.set_quote("SPY", "104", "104.10")  # the stop to 102
        venue.set_quote("SPY", "102", "102.10")
        order = await manager.wait_for_order_async(cid)
        assert order.status is OrderStatus.FILLED
        assert order.avg_fill_price == D(102)


async def test_a_gtd_order_on_sim_expires_at_its_time() -> None:
    async with make(tick_interval=0.02) as manager:  # the market loop expires it
        expire = time.time_ns() + 300_000_000
        cid = manager.send_order(Order("SPY", "BUY", 10, "LIMIT", price=50,
                                       time_in_force="GTD", expire_ns=expire))
        order = await manager.wait_for_order_async(cid, timeout=5)
        assert order.status is OrderStatus.CANCELLED
        assert order.reason == "expired: GTD expire time reached"
        assert time.time_ns() >= expire


async def test_a_gtd_order_whose_time_has_passed_never_leaves() -> None:
    async with make() as manager:
        order = Order("SPY", "BUY", 10, "LIMIT", price=50, time_in_force="GTD",
                      expire_ns=time.time_ns() - 1)
        with pytest.raises(OrderRejected, match="has passed"):
            manager.send_order(order)
        assert order.status is OrderStatus.REJECTED
        assert order.client_order_id is not None
        assert venue_of(manager).engine.order(order.client_order_id) is None


async def test_trailing_and_gtd_terms_survive_a_restart(tmp_path: Path) -> None:
    journal = str(tmp_path / "journal.db")
    expire = time.time_ns() + 3_600_000_000_000
    async with make(journal) as manager:
        venue_of(manager).set_quote("SPY", "100", "100.10")
        gtd = manager.send_order(Order("SPY", "BUY", 1, "LIMIT", price=50,
                                       time_in_force="GTD", expire_ns=expire))
        trail = manager.send_order(Order("SPY", "SELL", 1, "TRAILING_STOP",
                                         trail_percent="0.5"))
        for cid in (gtd, trail):
            await manager.wait_for_order_async(cid, working)
    async with make(journal) as manager:
        assert manager.get_order(gtd).expire_ns == expire
        assert manager.get_order(gtd).time_in_force is TimeInForce.GTD
        assert manager.get_order(trail).trail_percent == D("0.5")
        assert manager.get_order(trail).order_type is TRAIL


# -- one connector's capabilities ----------------------------------------------------------
class _Narrowing:
    def __init__(self, result: object) -> None:
        self.result = result

    def connector_capabilities(self, declared: Capabilities) -> object:
        return self.result


def test_a_config_narrows_its_connectors_capabilities_never_widens_them() -> None:
    declared = Capabilities(order_types={OrderType.LIMIT, TRAIL},
                            time_in_force={TimeInForce.DAY, TimeInForce.GTD})
    assert connector_capabilities(declared, object(), "x") is declared
    narrower = Capabilities(order_types={OrderType.LIMIT}, time_in_force={TimeInForce.DAY})
    assert connector_capabilities(declared, _Narrowing(narrower), "x") is narrower
    wider = Capabilities(order_types={OrderType.LIMIT, OrderType.MARKET})
    with pytest.raises(ValueError, match="connector x: its config may narrow"):
        connector_capabilities(declared, _Narrowing(wider), "x")
    with pytest.raises(TypeError, match="not Capabilities"):
        connector_capabilities(declared, _Narrowing(None), "x")


async def test_a_trailing_stop_replaced_keeps_its_terms(tmp_path: Path) -> None:
    journal = str(tmp_path / "journal.db")
    async with make(journal) as manager:
        venue_of(manager).set_quote("SPY", "100", "100.10")
        cid = manager.send_order(Order("SPY", "SELL", 10, "TRAILING_STOP", trail_amount=1))
        await manager.wait_for_order_async(cid, working)
        manager.replace_order(cid, quantity=5)
        order = await manager.wait_for_order_async(cid, lambda o: o.quantity == 5)
        # The venue states the stop it moves (99) with the replace: not a term of the order.
        assert (order.stop_price, order.trail_amount) == (None, D(1))
    async with make(journal) as manager:  # and its journal row reads back
        order = manager.get_order(cid)
        assert (order.quantity, order.stop_price, order.trail_amount) == (D(5), None, D(1))
