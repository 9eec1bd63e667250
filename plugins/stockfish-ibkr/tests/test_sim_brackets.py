"""Native brackets and OCA groups in the gateway simulator, with real ib_insync /
ib_async clients (issue 25 item 4): the parent and its children wait untransmitted until
the last child is placed with transmit=True; the children work only once the parent has
filled; the first fill in an OCA group cancels the rest; a parent cancelled unfilled
cancels its children."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from stockfish_ibkr.testing import GatewaySimulator


def _msft(lib: ModuleType) -> Any:
    return lib.Stock("MSFT", "SMART", "USD", conId=272093)


@pytest.mark.parametrize(("exit_at", "filled", "cancelled"), [
    ((101.0, 101.05), "takeProfit", "stopLoss"),
    ((98.95, 99.0), "stopLoss", "takeProfit"),
])
async def test_a_bracket_placed_by_a_client_works_natively(
        quiet_gateway: GatewaySimulator, connect: Any, library: ModuleType,
        exit_at: tuple[float, float], filled: str, cancelled: str) -> None:
    gw = quiet_gateway
    inst = gw.instrument("MSFT")
    gw.broker.set_quote(inst, 100.0, 100.05, 100, 100)
    ib = await connect(gw, client_id=1)
    contract = _msft(library)
    # A parent below the market: it rests; nothing works before the last child arrives.
    bracket = ib.bracketOrder("BUY", 10, 99.5, 101.0, 99.0)
    assert [o.transmit for o in bracket] == [False, False, True]
    parent = ib.placeOrder(contract, bracket.parent)
    take = ib.placeOrder(contract, bracket.takeProfit)
    await gw.wait_for(lambda: take.orderStatus.status == "PreSubmitted" or None, 5,
                      "the untransmitted take profit")
    assert not any(o.engine_id for o in gw.broker.orders.values())
    stop = ib.placeOrder(contract, bracket.stopLoss)
    trades = {"takeProfit": take, "stopLoss": stop}
    await gw.wait_for(lambda: parent.orderStatus.status == "Submitted" or None, 5,
                      "the transmitted parent")
    # The children wait for the parent's fill.
    assert [o.engine_id != "" for o in gw.broker.orders.values()] == [True, False, False]
    assert stop.orderStatus.status == "PreSubmitted"
    gw.broker.set_quote(inst, 99.45, 99.5, 100, 100)
    await gw.wait_for(lambda: parent.orderStatus.status == "Filled" or None, 5, "the entry")
    gw.broker.set_quote(inst, 100.0, 100.05, 100, 100)
    await gw.wait_for(lambda: all(o.engine_id for o in gw.broker.orders.values()) or None,
                      5, "the children working")
    assert len(gw.broker.open_orders()) == 2
    gw.broker.set_quote(inst, *exit_at, 100, 100)
    won, lost = trades[filled], trades[cancelled]
    await gw.wait_for(lambda: won.orderStatus.status == "Filled" or None, 5, "the exit")
    await gw.wait_for(lambda: lost.orderStatus.status in ("Cancelled", "ApiCancelled")
                      or None, 5, "the other exit cancelled by its OCA group")
    assert lost.orderStatus.filled == 0
    assert gw.broker.open_orders() == []
    rows = [(i.key, q) for _a, i, q, _c in gw.broker.position_rows()]
    assert ("MSFT", 0.0) in rows


async def test_a_parent_cancelled_unfilled_cancels_its_children(
        quiet_gateway: GatewaySimulator, connect: Any, library: ModuleType) -> None:
    gw = quiet_gateway
    inst = gw.instrument("MSFT")
    gw.broker.set_quote(inst, 100.0, 100.05, 100, 100)
    ib = await connect(gw, client_id=1)
    contract = _msft(library)
    bracket = ib.bracketOrder("BUY", 10, 99.5, 101.0, 99.0)
    parent, take, stop = (ib.placeOrder(contract, o) for o in bracket)
    await gw.wait_for(lambda: parent.orderStatus.status == "Submitted" or None, 5,
                      "the transmitted parent")
    ib.cancelOrder(bracket.parent)
    for trade in (parent, take, stop):
        await gw.wait_for(lambda t=trade: t.orderStatus.status in ("Cancelled", "ApiCancelled")
                          or None, 5, "every order of the bracket cancelled")
    assert not gw.broker.executions


async def test_the_first_fill_in_an_oca_group_cancels_the_rest(
        quiet_gateway: GatewaySimulator, connect: Any, library: ModuleType) -> None:
    gw = quiet_gateway
    inst = gw.instrument("MSFT")
    gw.broker.set_quote(inst, 100.0, 100.05, 100, 100)
    ib = await connect(gw, client_id=1)
    contract = _msft(library)
    orders = [library.LimitOrder("BUY", 5, 99.0), library.LimitOrder("SELL", 5, 101.0)]
    for order in orders:
        order.ocaGroup, order.ocaType = "G1", 1
    buy, sell = (ib.placeOrder(contract, o) for o in orders)
    await gw.wait_for(lambda: sell.orderStatus.status == "Submitted" or None, 5, "working")
    gw.broker.set_quote(inst, 98.9, 98.95, 100, 100)
    await gw.wait_for(lambda: buy.orderStatus.status == "Filled" or None, 5, "the buy")
    await gw.wait_for(lambda: sell.orderStatus.status in ("Cancelled", "ApiCancelled")
                      or None, 5, "the sell cancelled by its OCA group")
    assert sell.orderStatus.filled == 0
