"""The simulated back end's state file: what IB's servers keep while TWS is killed."""

from __future__ import annotations

from pathlib import Path

from stockfish_ibkr.testing import SimBroker


def test_a_new_back_end_on_the_state_file_continues_the_old_one(tmp_path: Path) -> None:
    state = tmp_path / "backend.json"
    first = SimBroker(tick_interval=None, state_file=state, max_fill_qty=30)
    inst = first.instruments.by_key("AAPL")
    quote = first.market(inst).quote("AAPL")
    filled = first.place(1, 5, inst, "BUY", 10, "MKT", None, None, "DAY", "", "A-1")
    rests = first.place(1, 6, inst, "SELL", 100, "LMT", quote.ask + 1, None, "GTC", "", "A-2")
    # 30 of the 100 fill before the "kill"; the rest must still work afterwards.
    first.set_quote(inst, quote.ask + 1, quote.ask + 1.01, 30, 30)
    first.set_quote(inst, quote.bid, quote.ask, 100, 100)
    assert filled.status == "Filled" and rests.filled == 30 and rests.status == "Submitted"

    second = SimBroker(tick_interval=None, state_file=state, max_fill_qty=30)
    again = second.order(1, 6)
    assert again is not None and again.order_ref == "A-2" and again.filled == 30
    assert [e.exec_id for e in second.executions] == [e.exec_id for e in first.executions]
    assert second.position_rows() == first.position_rows()
    assert second.next_valid_id == 7
    assert second.order(1, 5) is not None and second.order(1, 5).status == "Filled"  # type: ignore[union-attr]

    price = again.lmt_price
    assert price is not None
    second.set_quote(inst, price, price + 0.01, 100, 100)
    second.set_quote(inst, price, price + 0.01, 100, 100)
    second.set_quote(inst, price, price + 0.01, 100, 100)
    assert again.status == "Filled" and again.filled == 100
    assert abs(again.avg_fill_price - price) < 1e-9
    new_ids = {e.exec_id for e in second.executions} - {e.exec_id for e in first.executions}
    assert len(new_ids) == len(second.executions) - len(first.executions) > 0
    assert sum(e.shares for e in second.executions if e.order is again) == 100
    assert sum(e.shares for e in second.executions if e.exec_id in new_ids) == 70
