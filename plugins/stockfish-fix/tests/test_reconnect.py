"""Losing the session and getting it back: the exchange killed and restarted mid-session,
reports resent after a reconnect, orders whose outcome was unknown reconciled."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from stockfish_core import (
    ConnectorStatus,
    DataType,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Subscription,
    VenueUnavailable,
)
from stockfish_core.oms import OrderStore
from stockfish_core.testing import ConnectorHarness
from stockfish_fix.messages import flat
from stockfish_fix.testing import FixExchange


async def submit(h: ConnectorHarness, order: Order) -> None:
    await h.execute(OrderRequest(OrderAction.SUBMIT, order))


async def update_of(h: ConnectorHarness, cid: str,
                    where: Callable[[OrderUpdate], bool] = lambda u: True,
                    timeout: float = 5.0) -> OrderUpdate:
    return await h.next_order_update(timeout, lambda u: u.client_order_id == cid and where(u))


def seen(h: ConnectorHarness, cid: str) -> list[OrderUpdate]:
    return [u for u in h.listener.order_updates if u.client_order_id == cid]


async def final_status(h: ConnectorHarness, cid: str, timeout: float = 10.0) -> OrderStatus:
    def done() -> OrderStatus | None:
        finals = [u.status for u in seen(h, cid) if u.status.is_final]
        return finals[-1] if finals else None

    status: OrderStatus = await h.listener.wait_for(done, timeout, f"{cid} to end")
    return status


@attrs.frozen
class Applied:
    order: Order
    fills: list[Decimal]
    duplicates: int


def apply_in_core(h: ConnectorHarness, order: Order) -> Applied:
    """Every update reported for ``order``, applied as the core applies them."""
    book = OrderStore(None)
    order.connector = h.connector.name
    book.add(order)
    fills, duplicates = [], 0
    for update in seen(h, order.client_order_id or ""):
        outcome = book.apply(update, h.connector.name)
        assert outcome is not None and outcome.refused is None, outcome and outcome.refused
        if outcome.fill is not None:
            fills.append(outcome.fill.quantity)
        duplicates += outcome.duplicate_fill
    return Applied(order, fills, duplicates)


def client_sequence(h: ConnectorHarness) -> tuple[int, int]:
    import quickfix

    session = quickfix.Session.lookupSession(h.connector.state.session_id)
    return int(session.getExpectedSenderNum()), int(session.getExpectedTargetNum())


async def test_exchange_killed_and_restarted_mid_session(
    exchange: FixExchange, version: str, open_connector: Callable[..., Any]
) -> None:
    exchange.set_quote("SPY", "50.00", "50.02", 1000, 1000)
    h: ConnectorHarness = await open_connector(exchange, version, reconnect="session")
    await h.subscribe(Subscription("SPY", DataType.PRICE_TICK))
    first = await h.next_update(5)
    resting = Order("SPY", "BUY", 10, "LIMIT", price=Decimal("49.00"), client_order_id="A")
    await submit(h, resting)
    await update_of(h, "A")
    await submit(h, Order("SPY", "BUY", 10, client_order_id="B"))
    assert await final_status(h, "B") is OrderStatus.FILLED
    # An order the exchange takes in but never answers: its outcome is unknown.
    exchange.ignore_next(1)
    unknown = Order("SPY", "SELL", 10, "LIMIT", price=Decimal("60"), client_order_id="C")
    await submit(h, unknown)
    # Once this is answered the exchange has read C (a session is processed in order).
    await h.execute(OrderRequest(OrderAction.STATUS, resting))
    await update_of(h, "A")
    before_exchange = exchange.sequence_numbers(version)
    before_client = client_sequence(h)

    exchange.stop(kill=True)
    reason = await h.listener.wait_for(
        lambda: h.connector.status is ConnectorStatus.RECONNECTING and h.connector.status_reason,
        10, "the loss")
    assert reason.startswith(f"session with EXCH at 127.0.0.1:{exchange.port} lost")
    with pytest.raises(VenueUnavailable):
        await submit(h, Order("SPY", "BUY", 1, client_order_id="D"))

    exchange.start()
    await h.wait_status(ConnectorStatus.CONNECTED, 15)
    # What the core does once the connector is back (it owns resubscription and
    # reconciliation): subscribe again, and ask for the state of each open order.
    await h.subscribe(Subscription("SPY", DataType.PRICE_TICK))
    for order in (resting, unknown):
        await h.execute(OrderRequest(OrderAction.STATUS, order))
    # The subscription is a new one, as a new stream.
    again = await h.next_update(10, lambda u: u.stream != first.stream)
    assert again.symbol == "SPY" and again.payload.bid == 50.0
    # The unknown order is asked about and found never to have reached the book.
    assert await final_status(h, "C") is OrderStatus.REJECTED
    assert "unknown order" in (seen(h, "C")[-1].reason or "")
    after_exchange = exchange.sequence_numbers(version)
    after_client = client_sequence(h)
    assert after_exchange[0] > before_exchange[0] and after_exchange[1] > before_exchange[1]
    assert after_client[0] > before_client[0] and after_client[1] > before_client[1]
    assert exchange.logon_count == 2

    # The resting order survived at the exchange and fills once.
    exchange.set_quote("SPY", "48.90", "48.95", 1000, 1000)
    assert await final_status(h, "A") is OrderStatus.FILLED
    assert [u.fill.quantity for u in seen(h, "A") if u.fill] == [Decimal(10)]
    received = [cid for _, cid in exchange.orders_received]
    assert sorted(received) == ["A", "B"]  # C was swallowed, D never sent
    engine_ids = [o.order_id for o in exchange.engine.orders()]
    assert len(engine_ids) == len(set(engine_ids)) == 2
    exec_ids = [u.fill.execution_id for u in h.listener.order_updates if u.fill]
    assert len(exec_ids) == len(set(exec_ids)) == 2


async def test_reports_held_back_by_a_drop_are_resent_once(
    exchange: FixExchange, version: str, open_connector: Callable[..., Any]
) -> None:
    exchange.set_quote("SPY", "50.00", "50.02", 1000, 1000)
    h: ConnectorHarness = await open_connector(exchange, version, reconnect="session")
    exchange.drop_before_reports(1)
    await submit(h, Order("SPY", "BUY", 10, client_order_id="E"))
    await h.wait_status(ConnectorStatus.RECONNECTING, 10)
    await h.wait_status(ConnectorStatus.CONNECTED, 15)
    assert await final_status(h, "E") is OrderStatus.FILLED
    updates = seen(h, "E")
    assert all(u.possible_duplicate for u in updates if u.fill is not None)
    assert [u.fill.quantity for u in updates if u.fill] == [Decimal(10)]
    assert [cid for _, cid in exchange.orders_received] == ["E"]


async def test_manager_mode_reports_the_loss_and_reconnects_when_asked(
    exchange: FixExchange, version: str, open_connector: Callable[..., Any]
) -> None:
    exchange.set_quote("SPY", "50.00", "50.02", 1000, 1000)
    h: ConnectorHarness = await open_connector(exchange, version)  # reconnect: manager
    resting = Order("SPY", "BUY", 10, "LIMIT", price=Decimal("49.50"), client_order_id="M")
    await submit(h, resting)
    await update_of(h, "M")
    exchange.disconnect()
    await h.wait_status(ConnectorStatus.DISCONNECTED, 10)
    assert "lost" in h.connector.status_reason
    # What the manager does: disconnect, connect, then ask about its open orders.
    await h.disconnect()
    await h.connect()
    await h.execute(OrderRequest(OrderAction.STATUS, resting))
    answer = await update_of(h, "M")
    assert answer.status is OrderStatus.SUBMITTED
    # Answered, so the exchange has seen the Logon: QuickFIX did not reconnect by itself.
    assert exchange.logon_count == 2
    exchange.set_quote("SPY", "49.40", "49.45")
    assert await final_status(h, "M") is OrderStatus.FILLED


async def test_reports_resent_after_a_lost_store_write_are_dropped(
    exchange: FixExchange, version: str, open_connector: Callable[..., Any], tmp_path: Path
) -> None:
    exchange.set_quote("SPY", "50.00", "50.02", 1000, 1000)
    h: ConnectorHarness = await open_connector(exchange, version)
    order = Order("SPY", "BUY", 10, client_order_id="P")
    await submit(h, order)
    assert await final_status(h, "P") is OrderStatus.FILLED
    count = len(seen(h, "P"))
    await h.disconnect()
    # As if the process had died before QuickFIX stored that it received the last three
    # messages (the two reports and the Logout): the counterparty resends them.
    seqnums = tmp_path / "client" / f"{version}-CLIENT-EXCH.seqnums"
    sender, target = (int(x) for x in seqnums.read_text().split(":"))
    seqnums.write_text(f"{sender:020d} : {target - 3:020d}")
    mark = len(h.listener.order_updates)
    await h.connect()
    await h.execute(OrderRequest(OrderAction.STATUS, order))  # answered after the resend
    after = await h.listener.wait_for(
        lambda: [u for u in h.listener.order_updates[mark:] if not u.possible_duplicate], 10,
        "the answer")
    assert [(u.client_order_id, u.status, u.fill) for u in after] == [
        ("P", OrderStatus.FILLED, None)]
    # The resent reports are reported again, marked as such, as facts: the core, which
    # de-duplicates fills by ExecID (and by CumQty), applies the fill once.
    resent = [u for u in h.listener.order_updates[mark:] if u.possible_duplicate]
    assert len(seen(h, "P")) == count + 1 + len(resent)
    applied = apply_in_core(h, Order("SPY", "BUY", 10, client_order_id="P"))
    assert applied.fills == [Decimal(10)] and applied.duplicates == len(resent)
    assert applied.order.status is OrderStatus.FILLED


async def test_a_logon_refused_on_reconnect_waits_before_trying_again(
    make_exchange: Callable[..., FixExchange], version: str,
    open_connector: Callable[..., Any],
) -> None:
    exchange = make_exchange(begin_strings=(version,), password="old")
    h: ConnectorHarness = await open_connector(exchange, version, password="old",
                                               reconnect="session", reconnect_max_delay=0.5)
    exchange.stop(kill=True)
    exchange.password = "rotated"
    exchange.start()
    # Each refused attempt is reported (the status names the attempt).
    await h.listener.wait_for(lambda: "attempt 2 failed" in h.connector.status_reason, 15,
                              "two refused attempts")
    assert h.connector.status is ConnectorStatus.ERROR
    assert h.connector.status_reason.endswith(
        "invalid username or password; attempt 2 failed, next in 0.5s")
    assert len(exchange.logon_refusals) == 2
    first, second = exchange.logon_refusals[:2]
    assert second - first >= 0.45  # backed off, not a tight loop


def stored_sequence(tmp_path: Path, version: str) -> tuple[int, int]:
    """(next MsgSeqNum sent, next one expected) in the client's FileStore."""
    seqnums = tmp_path / "client" / f"{version}-CLIENT-EXCH.seqnums"
    sender, target = (int(x) for x in seqnums.read_text().split(":"))
    return sender, target


async def test_a_disconnect_leaves_both_sides_in_step(
    exchange: FixExchange, version: str, open_connector: Callable[..., Any], tmp_path: Path
) -> None:
    exchange.set_quote("SPY", "50.00", "50.02", 1000, 1000)
    h: ConnectorHarness = await open_connector(exchange, version)
    for cid in ("S1", "S2"):
        await submit(h, Order("SPY", "BUY", 10, client_order_id=cid))
        assert await final_status(h, cid) is OrderStatus.FILLED
    await h.disconnect()
    # The Logout went both ways and nothing followed it (no answer to the answer, no new
    # Logon): each side expects exactly what the other sends next.
    sender, target = stored_sequence(tmp_path, version)
    assert exchange.sequence_numbers(version) == (target, sender)
    assert not exchange.logged_on(version)
    await h.connect()
    await submit(h, Order("SPY", "BUY", 10, client_order_id="S3"))
    assert await final_status(h, "S3") is OrderStatus.FILLED
    assert [cid for _, cid in exchange.orders_received] == ["S1", "S2", "S3"]
    assert all(u.possible_duplicate is False for u in h.listener.order_updates)


async def test_an_order_asked_for_again_is_reconciled_not_resent(
    exchange: FixExchange, version: str, open_connector: Callable[..., Any]
) -> None:
    exchange.set_quote("SPY", "50.00", "50.02", 1000, 1000)
    h: ConnectorHarness = await open_connector(exchange, version)
    exchange.ignore_next(1)  # as if the NewOrderSingle never arrived
    await submit(h, Order("SPY", "BUY", 10, client_order_id="G"))
    sent_as = client_sequence(h)[0] - 1
    exchange.request_resend(version, sent_as)
    # Gap-filled instead of resent, then asked about: the exchange does not know it.
    update = await update_of(h, "G", lambda u: u.status.is_final)
    assert update.status is OrderStatus.REJECTED
    assert "unknown order" in (update.reason or "")
    received = [f for key, raw in exchange.messages if (f := flat(raw)).get("11") == "G"]
    assert [(f["35"], f.get("43")) for f in received] == [("D", None), ("H", None)]
    assert h.connector.is_connected
    # Refusing the resend pinned nothing of the session: it can be opened again.
    await h.disconnect()
    await h.connect()
    assert h.connector.is_connected


async def test_a_cancel_asked_for_again_is_reported_not_done(
    exchange: FixExchange, version: str, open_connector: Callable[..., Any]
) -> None:
    exchange.set_quote("SPY", "50.00", "50.02", 1000, 1000)
    h: ConnectorHarness = await open_connector(exchange, version)
    resting = Order("SPY", "BUY", 10, "LIMIT", price=Decimal("49.00"), client_order_id="K")
    await submit(h, resting)
    assert (await update_of(h, "K")).status is OrderStatus.SUBMITTED
    exchange.ignore_next(1)  # the cancel never arrives
    await h.execute(OrderRequest(OrderAction.CANCEL, resting))
    exchange.request_resend(version, client_sequence(h)[0] - 1)
    update = await update_of(h, "K", lambda u: u.rejected_request is not None)
    assert update.rejected_request is OrderAction.CANCEL
    assert update.status is OrderStatus.SUBMITTED
    assert "asked for it again after a sequence gap" in (update.reason or "")
    assert not h.connector.state.tracker.orders["K"].pending
    # The order is still live and can be cancelled for real.
    await h.execute(OrderRequest(OrderAction.CANCEL, resting))
    assert await final_status(h, "K") is OrderStatus.CANCELLED
