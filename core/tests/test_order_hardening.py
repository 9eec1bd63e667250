"""Orders refused when they are illegal (new or replaced), exact average fill prices, and
fills that arrive after an order's final status (issue 22, item 4)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Context, Decimal, Inexact, localcontext
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockfish_core import (
    ExchangeManager,
    InvalidOrderError,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PluginRegistry,
)
from stockfish_core.config import ManagerConfig, RiskConfig
from stockfish_core.orders import Fill
from stockfish_core.sim import plugin as sim_plugin

FAST = ManagerConfig(health_check_interval=0.05, staleness=0.3, reconnect_initial_delay=0.05,
                     reconnect_max_delay=0.2, connect_timeout=5.0)


def make(config: ManagerConfig = FAST, **settings: Any) -> ExchangeManager:
    registry = PluginRegistry(entry_points=())
    registry.register(sim_plugin, "sim")
    manager = ExchangeManager(config=config, registry=registry, journal=":memory:")
    manager.add_connector("a", "sim", primary=True, tick_interval=0.005, **settings)
    return manager


@pytest.fixture
async def manager() -> AsyncIterator[ExchangeManager]:
    m = make()
    async with m:
        yield m
    m.journal.close()


def spy_requests(manager: ExchangeManager) -> list[Any]:
    """Every request the sim venue of connector "a" receives from now on."""
    venue = manager.get_connector("a").state
    seen: list[Any] = []
    real = venue.execute

    def execute(request: Any) -> None:
        seen.append(request)
        real(request)

    venue.execute = execute
    return seen


async def resting(manager: ExchangeManager, order_type: OrderType = OrderType.LIMIT,
                  **terms: Any) -> str:
    terms = terms or {"price": Decimal("1.00")}
    order_id = await manager.send_order_async(Order("SPY", "BUY", 5, order_type, **terms))
    await manager.wait_for_order_async(order_id, lambda o: o.status is OrderStatus.SUBMITTED)
    return order_id


# -- replace_order validates like a new order -------------------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": 0}, "quantity must be positive"),
        ({"quantity": -5}, "quantity must be positive"),
        ({"price": 0}, "price must be positive"),
        ({"price": -1}, "price must be positive"),
        ({"price": "nan"}, "price must be finite"),
        ({"quantity": "ten"}, "quantity must be a number"),
        ({"stop_price": 2}, "a LIMIT order takes no stop_price"),
        ({}, "needs a new quantity, price or stop_price"),
    ],
)
async def test_an_illegal_replace_is_refused_before_it_is_sent(
    manager: ExchangeManager, changes: dict[str, Any], message: str
) -> None:
    order_id = await resting(manager)
    sent = spy_requests(manager)
    with pytest.raises(InvalidOrderError, match=message):
        manager.replace_order(order_id, **changes)
    order = manager.get_order(order_id)
    assert order.quantity == 5 and order.price == Decimal("1.00")
    await asyncio.sleep(0.01)  # an absence to observe: a send would have run by now
    assert sent == []  # nothing reached the venue
    # The order still works, and a legal replace still goes through.
    assert manager.replace_order(order_id, quantity=7)
    await manager.wait_for_order_async(order_id, lambda o: o.quantity == 7)


async def test_a_replace_of_a_market_order_price_is_refused(manager: ExchangeManager) -> None:
    order_id = await resting(manager, OrderType.STOP, stop_price=Decimal("100000"))
    with pytest.raises(InvalidOrderError, match="a STOP order takes no price"):
        manager.replace_order(order_id, price=10)
    assert manager.replace_order(order_id, stop_price=200000)
    await manager.wait_for_order_async(order_id, lambda o: o.stop_price == 200000)


async def test_a_replace_below_the_filled_quantity_is_refused() -> None:
    m = make()
    async with m:
        order_id = await resting(m)
        a = m.get_connector("a")
        m.on_order_update(a, OrderUpdate(order_id, OrderStatus.PARTIALLY_FILLED, fill=Fill(
            order_id, "x1", "SPY", "BUY", 3, "1.00")))
        with pytest.raises(InvalidOrderError, match="at least the filled quantity 3"):
            m.replace_order(order_id, quantity=2)
    m.journal.close()


async def test_a_replace_breaking_a_risk_limit_is_refused() -> None:
    m = make(config=ManagerConfig(risk=RiskConfig(max_order_quantity=Decimal(10))))
    async with m:
        order_id = await resting(m)
        from stockfish_core import OrderRejected

        with pytest.raises(OrderRejected, match="quantity 11 exceeds max_order_quantity 10"):
            m.replace_order(order_id, quantity=11)
        assert m.get_order(order_id).quantity == 5
    m.journal.close()


# -- text that reaches a wire -------------------------------------------------------------
@pytest.mark.parametrize("bad", ["SP\x00Y", "SPY\x01", "SPY\n", "\x7fSPY", "S\u2028PY"])
@pytest.mark.parametrize("field", ["symbol", "account", "client_order_id"])
def test_control_characters_are_refused_in_every_text_field(field: str, bad: str) -> None:
    args: dict[str, Any] = {"symbol": "SPY", "side": "BUY", "quantity": 1, field: bad}
    with pytest.raises(InvalidOrderError, match=f"{field} must be printable text"):
        Order(**args)


async def test_a_client_order_id_set_after_building_is_checked_at_send(
    manager: ExchangeManager,
) -> None:
    order = Order("SPY", "BUY", 1)
    order.client_order_id = "mine\x01"
    with pytest.raises(InvalidOrderError, match="client_order_id must be printable text"):
        await manager.send_order_async(order)
    assert manager.orders.get("mine\x01") is None


# -- STOP takes no limit price -----------------------------------------------------------
def test_a_stop_order_with_a_limit_price_is_refused() -> None:
    with pytest.raises(InvalidOrderError, match="a STOP order takes no price; use STOP_LIMIT"):
        Order("SPY", "BUY", 1, OrderType.STOP, price=10, stop_price=11)
    assert Order("SPY", "BUY", 1, OrderType.STOP_LIMIT, price=10, stop_price=11).price == 10


# -- the average fill price is exact -------------------------------------------------------
def test_average_fill_price_of_four_fills_is_exact() -> None:
    order = Order("SPY", "BUY", 100, client_order_id="c1")
    for i, (qty, price) in enumerate([(7, "60.01"), (13, "60.1"), (29, "60.05"), (51, "60.1")]):
        order.apply_fill(Fill("c1", f"e{i}", "SPY", "BUY", qty, price))
    exact = (7 * Fraction("60.01") + 13 * Fraction("60.1") + 29 * Fraction("60.05")
             + 51 * Fraction("60.1")) / 100
    assert Fraction(order.avg_fill_price) == exact  # type: ignore[arg-type]
    assert str(order.avg_fill_price) == "60.0792"


def test_average_after_a_non_terminating_one_does_not_drift() -> None:
    # Averaging the previous (rounded) average with each fill gave 60.07075000000000000000000001.
    order = Order("SPY", "BUY", 16, client_order_id="c1")
    for i, (qty, price) in enumerate([(7, "60.078"), (2, "60.09"), (5, "60.05"), (2, "60.078")]):
        order.apply_fill(Fill("c1", f"e{i}", "SPY", "BUY", qty, price))
    assert str(order.avg_fill_price) == "60.07075"


_prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=4)
_qtys = st.integers(min_value=1, max_value=10_000)


@given(st.lists(st.tuples(_qtys, _prices), min_size=1, max_size=12))
def test_average_fill_price_matches_an_exact_fraction(fills: list[tuple[int, Decimal]]) -> None:
    total = sum(q for q, _ in fills)
    order = Order("SPY", "BUY", total, client_order_id="c1")
    for i, (qty, price) in enumerate(fills):
        order.apply_fill(Fill("c1", f"e{i}", "SPY", "BUY", qty, price))
    exact = sum((Fraction(q) * Fraction(p) for q, p in fills), Fraction(0)) / total
    avg = order.avg_fill_price
    assert avg is not None and order.filled_quantity == total
    assert_average(avg, exact)
    assert "E" not in str(avg) and not (("." in str(avg)) and str(avg).endswith("0"))


def assert_average(avg: Decimal, exact: Fraction) -> None:
    """``avg`` is ``exact`` when that fits Order.AVG_PRICE_DIGITS significant digits, else
    ``exact`` rounded once: within half a unit of its last digit."""
    digits = Order.AVG_PRICE_DIGITS
    with localcontext(Context(prec=digits, traps=[Inexact])):
        try:
            fits: Decimal | None = Decimal(exact.numerator) / Decimal(exact.denominator)
        except Inexact:
            fits = None
    if fits is not None:
        assert avg == fits
    ulp = Fraction(10) ** (avg.adjusted() - digits + 1)
    assert abs(Fraction(avg) - exact) <= ulp / 2


# -- fills after a final status ------------------------------------------------------------
async def test_a_late_fill_after_a_cancel_is_applied_and_alerted(
    manager: ExchangeManager, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = await resting(manager)
    assert manager.cancel_order(order_id)
    done = await manager.wait_for_order_async(order_id)
    assert done.status is OrderStatus.CANCELLED
    a = manager.get_connector("a")
    fill = Fill(order_id, "late-1", "SPY", "BUY", 2, "1.00")
    manager.on_order_update(a, OrderUpdate(order_id, OrderStatus.PARTIALLY_FILLED, fill=fill))
    order = manager.get_order(order_id)
    assert order.status is OrderStatus.CANCELLED  # final stays final
    assert order.filled_quantity == 2  # the venue traded it: it is ours
    assert manager.positions()["SPY"].quantity == 2
    stats = manager.get_stats()
    assert stats["late_fills"] == 1
    assert stats["illegal_transitions"] == 0
    alert = next(r for r in caplog.records if "late fill" in r.getMessage())
    assert alert.levelname == "ERROR"
    await asyncio.sleep(0)  # the group commit of this loop iteration
    assert len(manager.journal.fills(order_id)) == 1
    # The same execution again: a duplicate, not a second late fill.
    manager.on_order_update(a, OrderUpdate(order_id, OrderStatus.PARTIALLY_FILLED, fill=fill))
    assert manager.positions()["SPY"].quantity == 2
    assert manager.get_stats()["late_fills"] == 1


@pytest.mark.parametrize(
    ("fill_args", "why"),
    [
        (("SPY", "BUY", 9, "1.00"), "overfill"),
        (("QQQ", "BUY", 1, "1.00"), "symbol"),
        (("SPY", "SELL", 1, "1.00"), "side"),
    ],
)
async def test_a_late_fill_that_is_not_genuine_is_refused_and_alerted(
    manager: ExchangeManager, fill_args: tuple[Any, ...], why: str
) -> None:
    order_id = await resting(manager)
    assert manager.cancel_order(order_id)
    await manager.wait_for_order_async(order_id)
    a = manager.get_connector("a")
    fill = Fill(order_id, "late-x", *fill_args)
    manager.on_order_update(a, OrderUpdate(order_id, OrderStatus.FILLED, fill=fill))
    order = manager.get_order(order_id)
    assert order.filled_quantity == 0 and order.status is OrderStatus.CANCELLED
    assert manager.positions().get("SPY") is None or manager.positions()["SPY"].quantity == 0
    stats = manager.get_stats()
    assert stats["late_fills"] == 0
    assert stats["refused_fills"] == 1
    assert manager.journal.fills(order_id) == []


async def test_a_fill_after_a_reject_is_refused_and_alerted(manager: ExchangeManager) -> None:
    manager.get_connector("a").state.reject_orders(1)
    order_id = await manager.send_order_async(Order("SPY", "BUY", 1))
    assert (await manager.wait_for_order_async(order_id)).status is OrderStatus.REJECTED
    fill = Fill(order_id, "late-r", "SPY", "BUY", 1, "1.00")
    manager.on_order_update(manager.get_connector("a"),
                            OrderUpdate(order_id, OrderStatus.FILLED, fill=fill))
    await asyncio.sleep(0)
    assert manager.get_order(order_id).filled_quantity == 0
    assert manager.get_stats()["refused_fills"] == 1
