"""Per-order state of the core leaves memory with the order (the soak's findings)."""

from __future__ import annotations

import time

from stockfish_core import Order, OrderStatus, OrderUpdate
from stockfish_core.journal import Journal
from stockfish_core.oms import OrderBook
from stockfish_core.orders import Fill


def test_orders_retired_while_their_status_was_asked_leave_no_trace() -> None:
    # The execution layer notes an order whose fills the venue disagreed about in
    # ``reconciling`` (one status request per interval); it forgot the note only when a
    # later report of the order agreed. An order that went final on the disagreeing
    # report kept its note after it left memory, one entry per such order, for ever.
    journal = Journal(":memory:")
    book = OrderBook(journal, keep_final=5, keep_final_seconds=3600)
    for i in range(500):
        cid = f"c{i}"
        book.add(Order("SPY", "BUY", 1, client_order_id=cid, connector="v"))
        book.reconciling[cid] = time.monotonic()
        book.apply(OrderUpdate(cid, OrderStatus.FILLED, fill=Fill(
            cid, f"e{i}", "SPY", "BUY", 1, "10")), "v")
        assert len(book.reconciling) <= 6
    assert len(book.orders) <= 5
    journal.close()
