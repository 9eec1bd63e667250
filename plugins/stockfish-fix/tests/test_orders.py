"""Orders against the exchange simulator, in FIX 4.2, 4.4 and 5.0SP2 (FIXT.1.1)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from stockfish_core import (
    ConnectorStatus,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    VenueUnavailable,
)
from stockfish_core.testing import ConnectorHarness
from stockfish_fix.testing import FixExchange

SOH = "\x01"


async def submit(h: ConnectorHarness, order: Order) -> None:
    await h.execute(OrderRequest(OrderAction.SUBMIT, order))


async def update_of(h: ConnectorHarness, cid: str,
                    where: Callable[[OrderUpdate], bool] = lambda u: True,
                    timeout: float = 5.0) -> OrderUpdate:
    return await h.next_order_update(timeout, lambda u: u.client_order_id == cid and where(u))


async def final(h: ConnectorHarness, cid: str) -> OrderUpdate:
    return await update_of(h, cid, lambda u: u.status.is_final and u.rejected_request is None)


def fills(h: ConnectorHarness, cid: str) -> list[tuple[Decimal, Decimal]]:
    return [(u.fill.quantity, u.fill.price) for u in h.listener.order_updates
            if u.client_order_id == cid and u.fill is not None]


def sent(exchange: FixExchange, cl_ord_id: str) -> dict[str, str]:
    """The fields of the last request the exchange received with this ClOrdID."""
    for _, text in reversed(exchange.messages):
        fields = dict(item.split("=", 1) for item in text.split(SOH) if item)
        if fields.get("11") == cl_ord_id:
            return fields
    raise AssertionError(f"the exchange never saw {cl_ord_id}")


@pytest.fixture
def quoted(exchange: FixExchange) -> FixExchange:
    exchange.set_quote("SPY", "99.50", "99.55", 500, 500)
    return exchange


async def test_limit_order_acknowledged_and_filled_exactly(
    connected: ConnectorHarness, quoted: FixExchange, version: str
) -> None:
    order = Order("SPY", "BUY", 100, "LIMIT", price=Decimal("99.600"), client_order_id="L1")
    await submit(connected, order)
    # The hook returned once the message was sent: nothing has come back yet.
    assert not [u for u in connected.listener.order_updates if u.client_order_id == "L1"]
    ack = await update_of(connected, "L1")
    assert ack.status is OrderStatus.SUBMITTED
    assert ack.venue_order_id and ack.connector == "fix"
    done = await final(connected, "L1")
    assert done.status is OrderStatus.FILLED
    assert fills(connected, "L1") == [(Decimal(100), Decimal("99.55"))]
    wire = sent(quoted, "L1")
    assert (wire["44"], wire["38"], wire["40"], wire["54"], wire["59"]) == (
        "99.600", "100", "2", "1", "0")
    assert wire["8"] == version
    assert quoted.engine.order(f"{quoted.session_key(version)}|L1").price == Decimal("99.600")


async def test_market_order_fills_in_parts(make_exchange: Callable[..., FixExchange],
                                           open_connector: Callable[..., Any],
                                           version: str) -> None:
    exchange = make_exchange(max_fill_qty=40)
    exchange.set_quote("SPY", "10.00", "10.01", 1000, 1000)
    h = await open_connector(exchange, version)
    await submit(h, Order("SPY", "SELL", 100, client_order_id="M1"))
    first = await update_of(h, "M1", lambda u: u.fill is not None)
    assert first.status is OrderStatus.PARTIALLY_FILLED
    exchange.step("SPY")
    exchange.step("SPY")
    done = await final(h, "M1")
    assert done.status is OrderStatus.FILLED
    quantities = [q for q, _ in fills(h, "M1")]
    assert sum(quantities) == 100 and max(quantities) == 40
    assert sent(exchange, "M1")["40"] == "1" and "44" not in sent(exchange, "M1")


async def test_stop_and_stop_limit_trigger_on_a_later_quote(
    connected: ConnectorHarness, quoted: FixExchange
) -> None:
    await submit(connected, Order("SPY", "BUY", 10, "STOP", stop_price=Decimal("100.25"),
                                  time_in_force="GTC", client_order_id="S1"))
    await submit(connected, Order("SPY", "SELL", 10, "STOP_LIMIT", price=Decimal("98.90"),
                                  stop_price=Decimal("99.00"), client_order_id="S2"))
    assert (await update_of(connected, "S1")).status is OrderStatus.SUBMITTED
    assert (await update_of(connected, "S2")).status is OrderStatus.SUBMITTED
    wire = sent(quoted, "S2")
    assert (wire["40"], wire["44"], wire["99"]) == ("4", "98.90", "99.00")
    assert (sent(quoted, "S1")["40"], sent(quoted, "S1")["59"]) == ("3", "1")
    quoted.set_quote("SPY", "100.20", "100.30")
    assert (await final(connected, "S1")).status is OrderStatus.FILLED
    assert fills(connected, "S1") == [(Decimal(10), Decimal("100.30"))]
    quoted.set_quote("SPY", "98.95", "99.05")
    assert (await final(connected, "S2")).status is OrderStatus.FILLED
    assert fills(connected, "S2") == [(Decimal(10), Decimal("98.95"))]


async def test_ioc_and_fok_expire_with_their_reason(make_exchange: Callable[..., FixExchange],
                                                    open_connector: Callable[..., Any],
                                                    version: str) -> None:
    exchange = make_exchange()
    exchange.set_quote("SPY", "10.00", "10.01", 30, 30)
    h = await open_connector(exchange, version)
    await submit(h, Order("SPY", "BUY", 50, "LIMIT", price=Decimal("10.01"),
                          time_in_force="IOC", client_order_id="I1"))
    done = await final(h, "I1")
    assert done.status is OrderStatus.CANCELLED
    assert done.reason == "expired: IOC remainder"
    assert fills(h, "I1") == [(Decimal(30), Decimal("10.01"))]
    await submit(h, Order("SPY", "SELL", 50, time_in_force="FOK", client_order_id="F1"))
    done = await final(h, "F1")
    assert done.status is OrderStatus.CANCELLED
    assert done.reason is not None and done.reason.startswith("expired: FOK")
    assert fills(h, "F1") == []
    assert (sent(exchange, "I1")["59"], sent(exchange, "F1")["59"]) == ("3", "4")


async def test_cancel_and_cancel_rejects(connected: ConnectorHarness,
                                         quoted: FixExchange) -> None:
    order = Order("SPY", "BUY", 100, "LIMIT", price=Decimal("90.00"), client_order_id="C1")
    await submit(connected, order)
    await update_of(connected, "C1")
    quoted.reject_cancels(1)
    await connected.execute(OrderRequest(OrderAction.CANCEL, order))
    refused = await update_of(connected, "C1")
    assert refused.rejected_request is OrderAction.CANCEL
    assert refused.status is OrderStatus.SUBMITTED
    assert refused.reason is not None and "refused on demand" in refused.reason
    await connected.execute(OrderRequest(OrderAction.CANCEL, order))
    done = await final(connected, "C1")
    assert done.status is OrderStatus.CANCELLED
    assert sent(quoted, "C1-C2")["41"] == "C1"
    await connected.execute(OrderRequest(OrderAction.CANCEL, order))
    late = await update_of(connected, "C1")
    assert late.rejected_request is OrderAction.CANCEL
    assert late.status is OrderStatus.CANCELLED
    assert late.reason is not None and "too late to cancel" in late.reason


async def test_replace_then_fill_at_the_new_price(connected: ConnectorHarness,
                                                  quoted: FixExchange) -> None:
    order = Order("SPY", "BUY", 100, "LIMIT", price=Decimal("99.00"), client_order_id="R1")
    await submit(connected, order)
    await update_of(connected, "R1")
    await connected.execute(OrderRequest(OrderAction.REPLACE, order, quantity=Decimal(150),
                                         price=Decimal("99.25")))
    replaced = await update_of(connected, "R1")
    assert replaced.replaced
    assert (replaced.quantity, replaced.price) == (Decimal(150), Decimal("99.25"))
    assert replaced.status is OrderStatus.SUBMITTED
    wire = sent(quoted, "R1-R1")
    assert (wire["41"], wire["38"], wire["44"]) == ("R1", "150", "99.25")
    # The order now goes by its new ClOrdID: a replace of a replace names it.
    await connected.execute(OrderRequest(OrderAction.REPLACE, order, price=Decimal("99.30")))
    await update_of(connected, "R1", lambda u: u.replaced)
    assert sent(quoted, "R1-R2")["41"] == "R1-R1"
    quoted.set_quote("SPY", "99.20", "99.30", 500, 500)
    done = await final(connected, "R1")
    assert done.status is OrderStatus.FILLED
    assert fills(connected, "R1") == [(Decimal(150), Decimal("99.30"))]
    await connected.execute(OrderRequest(OrderAction.REPLACE, order, price=Decimal("99.40")))
    late = await update_of(connected, "R1")
    assert late.rejected_request is OrderAction.REPLACE
    assert late.reason is not None and "too late to replace" in late.reason


async def test_status_request_of_a_live_and_of_an_unknown_order(
    connected: ConnectorHarness, quoted: FixExchange
) -> None:
    live = Order("SPY", "SELL", 5, "LIMIT", price=Decimal("120"), client_order_id="Q1")
    await submit(connected, live)
    await update_of(connected, "Q1")
    await connected.execute(OrderRequest(OrderAction.STATUS, live))
    answer = await update_of(connected, "Q1")
    assert answer.status is OrderStatus.SUBMITTED
    ghost = Order("SPY", "BUY", 5, client_order_id="NEVER-SENT")
    await connected.execute(OrderRequest(OrderAction.STATUS, ghost))
    unknown = await update_of(connected, "NEVER-SENT")
    assert unknown.status is OrderStatus.REJECTED
    assert unknown.reason is not None and "unknown order" in unknown.reason


async def test_rejects_carry_their_reason(connected: ConnectorHarness,
                                          quoted: FixExchange) -> None:
    quoted.reject_orders(1)
    await submit(connected, Order("SPY", "BUY", 1, client_order_id="X1"))
    done = await final(connected, "X1")
    assert done.status is OrderStatus.REJECTED
    assert done.reason is not None and done.reason.startswith("rejected on demand")
    await submit(connected, Order("NOPE", "BUY", 1, client_order_id="X2"))
    done = await final(connected, "X2")
    assert done.status is OrderStatus.REJECTED
    assert done.reason is not None and "unknown symbol" in done.reason


async def test_business_and_session_rejects(connected: ConnectorHarness,
                                            quoted: FixExchange) -> None:
    quoted.business_reject_next(1)
    await submit(connected, Order("SPY", "BUY", 1, client_order_id="B1"))
    done = await final(connected, "B1")
    assert done.status is OrderStatus.REJECTED
    assert done.reason == "business reject: rejected on demand (BusinessRejectReason 0: other)"
    resting = Order("SPY", "BUY", 1, "LIMIT", price=Decimal(1), client_order_id="B2")
    await submit(connected, resting)
    await update_of(connected, "B2")
    quoted.session_reject_next(1)
    await connected.execute(OrderRequest(OrderAction.CANCEL, resting))
    refused = await update_of(connected, "B2")
    assert refused.rejected_request is OrderAction.CANCEL
    assert refused.reason is not None and refused.reason.startswith(
        "cancel rejected by session reject: rejected on demand")
    assert refused.status is OrderStatus.SUBMITTED


async def test_nothing_is_sent_while_not_connected(exchange: FixExchange,
                                                   open_connector: Callable[..., Any],
                                                   version: str) -> None:
    h = await open_connector(exchange, version)
    await h.disconnect()
    assert h.connector.status is ConnectorStatus.DISCONNECTED
    with pytest.raises(VenueUnavailable, match="not logged on"):
        await submit(h, Order("SPY", "BUY", 1, client_order_id="N1"))
    assert "N1" not in h.connector.state.tracker.orders
    assert not [k for k in exchange.orders_received if k[1] == "N1"]
