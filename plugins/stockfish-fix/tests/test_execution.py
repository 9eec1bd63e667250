"""ExecutionReport, OrderCancelReject and rejects mapped onto the core's order states.

These feed the handler the fields of reports as a FIX session delivers them (the
integration tests get the same from the exchange simulator), for the ExecTypes the
simulator does not produce: done for day, pending cancel/replace, suspended, restated,
trade corrections, FIX 4.2's ExecTransType.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from stockfish_core import Connector, Order, OrderAction, OrderStatus, OrderUpdate
from stockfish_core.journal import Journal
from stockfish_core.oms import OrderStore
from stockfish_core.testing import RecordingListener
from stockfish_fix.orders import ExecutionHandler
from stockfish_fix.tracking import OrderTracker


@pytest.fixture
def handler() -> ExecutionHandler:
    connector = Connector("fix", "fix", listener=RecordingListener())
    return ExecutionHandler(connector, OrderTracker())


def listener(handler: ExecutionHandler) -> RecordingListener:
    result = handler.connector.listener
    assert isinstance(result, RecordingListener)
    return result


def track(handler: ExecutionHandler, cid: str = "O1", qty: int = 100) -> None:
    handler.tracker.add(Order("SPY", "BUY", qty, "LIMIT", price=Decimal("10.05"),
                              client_order_id=cid))


def core_order(handler: ExecutionHandler, cid: str = "O1", qty: int = 100) -> Order:
    """What the core makes of every update reported so far for ``cid`` (its OrderStore
    applies them: it counts and de-duplicates fills, not the connector)."""
    book = OrderStore(None)
    order = Order("SPY", "BUY", qty, "LIMIT", price=Decimal("10.05"), client_order_id=cid,
                  connector="fix")
    book.add(order)
    for update in reported(handler, cid):
        book.apply(update, "fix")
    return order


def reported(handler: ExecutionHandler, cid: str) -> list[OrderUpdate]:
    return [u for u in listener(handler).order_updates if u.client_order_id == cid]


def report(exec_type: str, ord_status: str, cid: str = "O1", exec_id: str = "E1",
           **extra: str) -> dict[str, str]:
    fields = {"35": "8", "11": cid, "17": exec_id, "150": exec_type, "39": ord_status,
              "37": "V1", "55": "SPY", "54": "1", "38": "100", "14": "0", "151": "100",
              "6": "0", "60": "20260102-14:30:00.250"}
    fields.update(extra)
    return fields


def test_new_partial_fill_fill_in_fix44(handler: ExecutionHandler) -> None:
    track(handler)
    new = handler.execution_report(report("0", "0"), 1)
    assert new is not None and new.status is OrderStatus.SUBMITTED
    assert new.venue_order_id == "V1"
    assert new.timestamp_ns == 1767364200250000000
    part = handler.execution_report(report("F", "1", exec_id="E2", **{
        "32": "40", "31": "10.05", "14": "40", "12": "0.4", "13": "3"}), 2)
    assert part is not None and part.status is OrderStatus.PARTIALLY_FILLED
    assert part.fill is not None
    assert (part.fill.quantity, part.fill.price, part.fill.commission) == (
        Decimal(40), Decimal("10.05"), Decimal("0.4"))
    assert part.fill.execution_id == "E2"
    done = handler.execution_report(report("F", "2", exec_id="E3", **{
        "32": "60", "31": "10.04", "14": "100", "12": "0.01", "13": "1"}), 3)
    assert done is not None and done.status is OrderStatus.FILLED
    assert done.fill is not None and done.fill.commission == Decimal("0.60")
    assert (done.cum_qty, done.leaves_qty) == (Decimal(100), Decimal(100))
    order = core_order(handler)
    assert order.avg_fill_price == Decimal("10.044")
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, Decimal(100))


def test_fix42_fills_and_exec_trans_type(handler: ExecutionHandler) -> None:
    track(handler)
    part = handler.execution_report(report("1", "1", exec_id="E2", **{
        "20": "0", "32": "30", "31": "10", "14": "30"}), 1)
    assert part is not None and part.status is OrderStatus.PARTIALLY_FILLED
    assert part.fill is not None and part.fill.quantity == 30
    # ExecTransType 1 (cancel) / 2 (correct) revise an execution: reported, not applied.
    assert handler.execution_report(report("2", "2", exec_id="E3", **{
        "20": "2", "19": "E2", "32": "30", "31": "10", "14": "30"}), 2) is None
    error = listener(handler).errors[-1]
    assert "trade correction for execution E2" in error.message
    assert error.code == "8:trade-correction"
    # ExecTransType 3 answers a status request.
    answer = handler.execution_report(report("1", "1", exec_id="0", **{"20": "3", "14": "30"}), 3)
    assert answer is not None and answer.status is OrderStatus.PARTIALLY_FILLED
    assert answer.fill is None


@pytest.mark.parametrize(("exec_type", "ord_status", "reason"), [
    ("6", "6", "pending cancel"),
    ("E", "E", "pending replace"),
    ("3", "3", "done for day"),
    ("9", "9", "suspended"),
    ("A", "A", "pending new"),
])
def test_statuses_the_core_lacks_keep_the_order_live(handler: ExecutionHandler, exec_type: str,
                                                     ord_status: str, reason: str) -> None:
    track(handler)
    update = handler.execution_report(report(exec_type, ord_status), 1)
    assert update is not None
    assert update.status is OrderStatus.SUBMITTED
    assert update.reason == reason


def test_cancel_expire_and_reject(handler: ExecutionHandler) -> None:
    track(handler, "A")
    track(handler, "B")
    track(handler, "C")
    cancelled = handler.execution_report(report("4", "4", cid="A-C1", exec_id="X1", **{
        "41": "A"}), 1)
    assert cancelled is not None and cancelled.client_order_id == "A"
    assert cancelled.status is OrderStatus.CANCELLED
    expired = handler.execution_report(report("C", "C", cid="B", exec_id="X2", **{
        "58": "IOC remainder"}), 1)
    assert expired is not None and expired.status is OrderStatus.CANCELLED
    assert expired.reason == "expired: IOC remainder"
    rejected = handler.execution_report(report("8", "8", cid="C", exec_id="X3", **{
        "58": "price out of band", "103": "99"}), 1)
    assert rejected is not None and rejected.status is OrderStatus.REJECTED
    assert rejected.reason == "price out of band (OrdRejReason 99: other)"


def test_replace_moves_the_order_to_its_new_clordid(handler: ExecutionHandler) -> None:
    track(handler)
    tracked = handler.tracker.orders["O1"]
    new_id = handler.tracker.request_id(tracked, "R")
    tracked.pending[new_id] = "replace"
    update = handler.execution_report(report("5", "0", cid=new_id, **{
        "41": "O1", "38": "150", "44": "10.10"}), 1)
    assert update is not None and update.replaced
    assert (update.quantity, update.price) == (Decimal(150), Decimal("10.10"))
    assert tracked.fix_id == new_id and not tracked.pending
    # A later report names only the new ClOrdID.
    later = handler.execution_report(report("F", "1", cid=new_id, exec_id="E2", **{
        "32": "50", "31": "10.10", "14": "50"}), 2)
    assert later is not None and later.client_order_id == "O1"
    assert later.fill is not None


def test_a_rejected_request_leaves_the_order_as_it_was(handler: ExecutionHandler) -> None:
    track(handler)
    handler.execution_report(report("0", "0"), 1)
    tracked = handler.tracker.orders["O1"]
    cancel_id = handler.tracker.request_id(tracked, "C")
    tracked.pending[cancel_id] = "cancel"
    update = handler.cancel_reject({"11": cancel_id, "41": "O1", "37": "V1", "39": "0",
                                    "434": "1", "102": "0", "58": "too late"}, 2)
    assert update is not None
    assert update.status is OrderStatus.SUBMITTED
    assert update.rejected_request is OrderAction.CANCEL
    assert update.reason == "cancel rejected: too late (CxlRejReason 0: too late to cancel)"
    assert not tracked.pending
    # A venue that answers a replace with an ExecutionReport Rejected instead.
    replace_id = handler.tracker.request_id(tracked, "R")
    tracked.pending[replace_id] = "replace"
    rejected = handler.execution_report(report("8", "0", cid=replace_id, exec_id="E9", **{
        "41": "O1", "58": "no such price"}), 3)
    assert rejected is not None and rejected.status is OrderStatus.SUBMITTED
    assert rejected.rejected_request is OrderAction.REPLACE


def test_duplicates_reach_the_core_which_applies_them_once(handler: ExecutionHandler) -> None:
    # The connector reports every report as it came; the core de-duplicates (both did it
    # before, and a refused fill then hid every later one: see the next test).
    track(handler)
    fill = report("F", "1", exec_id="E2", **{"32": "40", "31": "10", "14": "40"})
    assert handler.execution_report(fill, 1) is not None
    again = dict(fill, **{"43": "Y"})
    resent = handler.execution_report(again, 2)  # same ExecID
    assert resent is not None and resent.possible_duplicate and resent.fill is not None
    # A different ExecID for an execution already counted (CumQty not beyond the count).
    other = dict(fill, **{"17": "E2b", "43": "Y"})
    update = handler.execution_report(other, 3)
    assert update is not None and update.possible_duplicate and update.cum_qty == 40
    order = core_order(handler)
    assert order.filled_quantity == Decimal(40)
    assert order.status is OrderStatus.PARTIALLY_FILLED


def test_a_refused_fill_hides_no_later_fill(handler: ExecutionHandler) -> None:
    """Issue 22 item 1: an order of 10; a fill of 5, a bogus fill of 10 (CumQty 15), then
    the genuine fill of 5 (CumQty 10). The bogus one is refused by the core as an
    overfill; the genuine one is reported and applied: FILLED 10, not 5 forever."""
    track(handler, qty=10)
    book = OrderStore(None)
    order = Order("SPY", "BUY", 10, "LIMIT", price=Decimal("10.05"), client_order_id="O1",
                  connector="fix")
    book.add(order)
    outcomes = []
    for exec_id, last, cum, status in (("E1", "5", "5", "1"), ("E2", "10", "15", "2"),
                                       ("E3", "5", "10", "2")):
        update = handler.execution_report(report("F", status, exec_id=exec_id, **{
            "38": "10", "32": last, "31": "10", "14": cum, "151": "0", "6": "10"}), 1)
        assert update is not None and update.fill is not None
        outcome = book.apply(update, "fix")
        assert outcome is not None
        outcomes.append(outcome)
    assert [o.fill is not None for o in outcomes] == [True, False, True]
    assert outcomes[1].refused is not None and "overfills" in outcomes[1].refused
    # The disagreement is the core's to alert on and reconcile (a STATUS request).
    assert outcomes[1].disagreement is not None and outcomes[2].disagreement is None
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, Decimal(10))
    assert book.positions["SPY"].quantity == Decimal(10)


def test_a_fill_report_that_cannot_be_read_is_counted(handler: ExecutionHandler) -> None:
    track(handler, qty=10)
    update = handler.execution_report(report("F", "1", exec_id="E1", **{
        "38": "10", "32": "abc", "31": "10", "14": "4", "6": "10"}), 1)
    assert update is not None and update.fill is None and update.cum_qty == 4
    error = listener(handler).errors[-1]
    assert error.code == "8:bad-fill" and error.data
    # The core sees CumQty 4 beyond its count: it reconciles the 4 from AvgPx.
    order = core_order(handler, qty=10)
    assert order.filled_quantity == Decimal(4)


def test_status_answer_reconciles_what_filled_unseen(handler: ExecutionHandler) -> None:
    track(handler)
    handler.execution_report(report("F", "1", exec_id="E2", **{
        "32": "40", "31": "10", "14": "40", "6": "10"}), 1)
    answer = handler.execution_report(report("I", "2", exec_id="S1", **{
        "14": "100", "151": "0", "6": "10.06"}), 2)
    assert answer is not None and answer.status is OrderStatus.FILLED
    assert answer.fill is None  # the facts: the core fills in what it did not hear of
    assert (answer.cum_qty, answer.avg_price) == (Decimal(100), Decimal("10.06"))
    book = OrderStore(None)
    order = Order("SPY", "BUY", 100, "LIMIT", price=Decimal("10.05"), client_order_id="O1",
                  connector="fix")
    book.add(order)
    outcomes = [book.apply(u, "fix") for u in reported(handler, "O1")]
    last = outcomes[-1]
    assert last is not None and last.reconciled and last.fill is not None
    assert last.fill.quantity == 60
    assert last.fill.price == Decimal("10.1")  # 40 @ 10 + 60 @ 10.1 = 100 @ 10.06
    assert last.fill.execution_id == "reconciled:V1:100"
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, Decimal(100))
    assert order.avg_fill_price == Decimal("10.06")


def test_unknown_order_is_rejected_and_foreign_reports_adopted(
    handler: ExecutionHandler,
) -> None:
    track(handler)
    answer = handler.execution_report(report("I", "8", exec_id="S1", **{
        "37": "NONE", "103": "5", "58": "unknown order"}), 1)
    assert answer is not None and answer.status is OrderStatus.REJECTED
    assert answer.reason == "unknown order (OrdRejReason 5)"
    # A report about an order sent before a restart of ours is adopted by its ClOrdID.
    adopted = handler.execution_report(report("0", "0", cid="OLD-7-R2", exec_id="Z1"), 2)
    assert adopted is not None and adopted.client_order_id == "OLD-7"
    assert handler.tracker.resolve("OLD-7-R2") is handler.tracker.orders["OLD-7"]
    assert handler.execution_report({"35": "8", "11": "", "17": "Z2", "150": "0"}, 3) is None
    assert listener(handler).errors[-1].code == "8:unknown-order"


def test_business_and_session_rejects_of_our_requests(handler: ExecutionHandler) -> None:
    track(handler, "N")
    assert handler.refused("business reject", "D", "N", "not authorized", "j:6")
    new = listener(handler).order_updates[-1]
    assert (new.status, new.reason) == (OrderStatus.REJECTED, "business reject: not authorized")
    track(handler, "L")
    handler.execution_report(report("0", "0", cid="L", exec_id="L0"), 1)
    tracked = handler.tracker.orders["L"]
    cancel_id = handler.tracker.request_id(tracked, "C")
    tracked.pending[cancel_id] = "cancel"
    assert handler.refused("session reject", "F", cancel_id, "value is incorrect", "3:5")
    refused = listener(handler).order_updates[-1]
    assert refused.status is OrderStatus.SUBMITTED
    assert refused.rejected_request is OrderAction.CANCEL
    assert refused.reason == "cancel rejected by session reject: value is incorrect"
    assert not handler.refused("business reject", "V", "md1", "x")
    assert not handler.refused("business reject", "D", "nobody", "x")


def test_reports_for_an_order_restored_from_the_journal_count_once(
    handler: ExecutionHandler, tmp_path: Path
) -> None:
    """The connector no longer remembers ExecIDs: after a restart of the manager, the
    reports the venue resends (PossDup) and the status answer are still applied once,
    because the core's ExecIDs and fills come back from its journal."""
    track(handler, qty=10)
    fill = report("F", "1", exec_id="E1", **{"38": "10", "32": "4", "31": "10", "14": "4",
                                            "151": "6", "6": "10"})
    journal = Journal(tmp_path / "journal.sqlite")
    book = OrderStore(journal)
    book.add(Order("SPY", "BUY", 10, "LIMIT", price=Decimal("10.05"), client_order_id="O1",
                   connector="fix"))
    first = handler.execution_report(fill, 1)
    assert first is not None and book.apply(first, "fix") is not None
    journal.close()

    journal = Journal(tmp_path / "journal.sqlite")
    book = OrderStore(journal)
    (order,) = book.restore()
    assert order.filled_quantity == Decimal(4)
    fresh = ExecutionHandler(handler.connector, OrderTracker())  # a new process's connector
    resent = fresh.execution_report(dict(fill, **{"43": "Y"}), 2)
    answer = fresh.execution_report(report("I", "1", exec_id="S1", **{
        "38": "10", "14": "4", "151": "6", "6": "10"}), 3)
    assert resent is not None and answer is not None
    outcomes = [book.apply(resent, "fix"), book.apply(answer, "fix")]
    assert outcomes[0] is not None and outcomes[0].duplicate_fill
    assert outcomes[1] is not None and outcomes[1].fill is None
    assert not any(o.disagreement for o in outcomes if o is not None)
    assert (order.filled_quantity, order.status) == (Decimal(4), OrderStatus.PARTIALLY_FILLED)
    journal.close()


def test_final_orders_are_forgotten_by_count_and_age(handler: ExecutionHandler) -> None:
    """Memory stays flat: the tracker keeps the latest final orders only (count), and
    none older than its age limit; open orders stay whatever their age."""
    tracker = handler.tracker = OrderTracker(max_final=3, keep_final_seconds=3600.0)
    track(handler, "OPEN")
    for n in range(10):
        cid = f"F{n}"
        track(handler, cid)
        handler.execution_report(report("F", "2", cid, exec_id=f"E{n}", **{
            "32": "100", "31": "10", "14": "100", "151": "0", "6": "10"}), 1)
    assert set(tracker.orders) == {"OPEN", "F7", "F8", "F9"}
    assert {t.client_order_id for t in tracker._aliases.values()} == set(tracker.orders)
    assert tracker.forgotten == 7
    tracker.keep_final_seconds = 0.0
    tracker.prune()
    assert set(tracker.orders) == {"OPEN"} and len(tracker._aliases) == 1


def test_a_late_report_of_a_forgotten_order_reaches_the_core(
    handler: ExecutionHandler, tmp_path: Path
) -> None:
    """A fill that raced a cancel, reported after the connector forgot the order, still
    reaches the core, which reads the order back from its journal and applies it."""
    handler.tracker = OrderTracker(max_final=1, keep_final_seconds=3600.0)
    journal = Journal(tmp_path / "journal.sqlite")
    book = OrderStore(journal, keep_final=0, keep_final_seconds=0.0)
    for cid in ("O1", "O2"):
        book.add(Order("SPY", "BUY", 10, "LIMIT", price=Decimal("10.05"), client_order_id=cid,
                       connector="fix"))
        track(handler, cid, qty=10)
        update = handler.execution_report(report("4", "4", cid, exec_id=f"X{cid}", **{
            "38": "10", "151": "0"}), 1)
        assert update is not None and book.apply(update, "fix") is not None
        book.flush()
    assert "O1" not in handler.tracker.orders and "O1" not in book.orders
    late = handler.execution_report(report("F", "4", "O1", exec_id="LATE", **{
        "38": "10", "32": "3", "31": "10", "14": "3", "151": "0", "6": "10"}), 2)
    assert late is not None and late.fill is not None and late.fill.quantity == 3
    outcome = book.apply(late, "fix")
    assert outcome is not None and outcome.late_fill
    book.flush()
    stored = book.lookup("O1")
    assert stored is not None and stored.filled_quantity == 3 and book.late_fills == 1
    journal.close()
