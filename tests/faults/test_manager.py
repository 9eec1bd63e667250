"""The manager itself killed with SIGKILL mid-stream, and restarted on the same journal.

Three processes: the FIX exchange simulator (``stockfish_fix.testing``), which lives
through the whole test; the manager, a small script sending a stream of orders to it
through the ``fix`` connector, killed with SIGKILL after a given number of orders and
restarted on the same journal (and the same FIX FileStore, as a deployment would); and
this test, which asks the exchange for every NewOrderSingle it received and every order
its matching engine holds, and reads the journal.

Counted, and asserted zero:

- sent twice at the venue: a ClOrdID the exchange received more than once;
- lost at the manager: an order id the manager handed out (printed after
  ``send_order`` returned) missing from the journal, or an order the exchange holds
  that the journal does not;
- lost at the venue: an order the journal says the venue took (acknowledged, filled,
  cancelled) that the exchange never received;
- left in doubt: an order still PENDING or with an unknown outcome after the final run
  reconciled with the exchange;
- disagreements: an order whose status or filled quantity in the journal differs from
  the exchange's (a fill lost or applied twice).

The same stream, killed at the same points, also runs against the built-in ``sim`` venue
in the manager's process (a venue that dies with the manager: its orders come back
REJECTED "unknown order", never silently dropped); see core/tests/test_crash_recovery.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("quickfix")
pytest.importorskip("stockfish_fix")

#: The exchange in its own process; commands on stdin, one JSON answer a line.
EXCHANGE = textwrap.dedent("""
    import json, sys
    from stockfish_fix.testing import FixExchange

    exchange = FixExchange(symbols=["SPY", "QQQ"], tick_interval=None, replenish=True)
    exchange.start()
    exchange.set_quote("SPY", "100.00", "100.02", 1_000_000, 1_000_000)
    exchange.set_quote("QQQ", "200.00", "200.04", 1_000_000, 1_000_000)
    print(json.dumps(exchange.connector_settings("FIX.4.4")), flush=True)
    for line in sys.stdin:
        if line.strip() == "orders":
            views = {v.order_id.split("|", 1)[1]: [v.status.value, str(v.cum_qty)]
                     for v in exchange.engine.orders()}
            received = [cl for _session, cl in exchange.orders_received]
            print(json.dumps({"received": received, "engine": views}), flush=True)
    exchange.close()
""")

#: The manager: sends orders until killed; with "final", reconciles, then sends a few
#: more, waits for every order to settle and stops cleanly.
MANAGER = textwrap.dedent("""
    import json, sys, time
    from stockfish_core import ExchangeManager, Order, OrderType, OrderStatus
    from stockfish_core.config import ManagerConfig

    journal, settings, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    config = ManagerConfig(connect_timeout=20.0, health_check_interval=0.2,
                           reconnect_initial_delay=0.1, reconnect_max_delay=0.5,
                           keep_final_orders=50, keep_final_seconds=1.0)
    manager = ExchangeManager(config=config, journal=journal)
    manager.add_connector("fix", "fix", primary=True, **settings)
    assert manager.start_all(timeout=30), "the fix connector did not connect"
    print("STARTED", flush=True)
    count = 20 if mode == "final" else 1_000_000
    ids = []
    for i in range(count):
        symbol = "SPY" if i % 2 else "QQQ"
        if i % 5 == 0:  # rests far from the market, then is cancelled (some are not yet)
            order = Order(symbol, "BUY", 1 + i % 3, OrderType.LIMIT, price="1.25")
        elif i % 5 == 1:
            order = Order(symbol, "BUY", 1 + i % 3, OrderType.LIMIT, price="1.25")
        else:
            order = Order(symbol, "SELL" if i % 2 else "BUY", 1 + i % 4)
        order_id = manager.send_order(order)
        ids.append(order_id)
        print("SENT", order_id, flush=True)
        if i % 5 == 3:
            manager.cancel_order(ids[-4])
    if mode == "final":
        # Every order of this run answered (those before it were reconciled first: one
        # FIX session answers in order), then the manager's view of every order it has.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = [o for o in manager._call(manager.open_orders)
                       if o.status is OrderStatus.PENDING or o.outcome_unknown]
            if not pending:
                break
            time.sleep(0.2)
        rows = manager.journal._db.execute("SELECT client_order_id FROM orders").fetchall()
        view = {}
        for (cid,) in rows:
            o = manager._call(manager.get_order, cid)
            view[cid] = [o.status.value, str(o.filled_quantity), o.outcome_unknown, o.reason]
        manager.stop_all()
        print("DONE", json.dumps(view), flush=True)
        manager.journal.close()
""")


class Exchange:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", EXCHANGE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.settings: dict[str, Any] = json.loads(self._line(30))

    def _line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        import select

        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "the exchange did not answer"
        line = self.proc.stdout.readline()
        assert line, "the exchange ended"
        return line

    def orders(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("orders\n")
        self.proc.stdin.flush()
        return json.loads(self._line(30))  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def run_manager(journal: Path, settings: dict[str, Any], kill_after: int | None,
                deadline: float) -> tuple[list[str], str]:
    """One manager run; SIGKILL after ``kill_after`` printed orders (None: the final
    run, to its end). Returns the ids it printed and its last line."""
    mode = "final" if kill_after is None else "stream"
    proc = subprocess.Popen([sys.executable, "-c", MANAGER, str(journal), json.dumps(settings),
                             mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    sent: list[str] = []
    last = ""
    try:
        for line in proc.stdout:  # bounded: killed after kill_after, or ends by itself
            last = line.strip()
            if last.startswith("SENT "):
                sent.append(last.split()[1])
                if kill_after is not None and len(sent) >= kill_after:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            assert time.monotonic() < deadline, "the fault test ran out of time"
    finally:
        if proc.poll() is None and kill_after is None:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        proc.wait(timeout=30)
    if kill_after is not None:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 0, f"the final manager run failed: {last}"
    return sent, last


@pytest.mark.timeout(300)
def test_manager_killed_mid_stream_loses_and_duplicates_no_order(tmp_path: Path) -> None:
    deadline = time.monotonic() + 280
    journal_path = tmp_path / "journal.sqlite"
    exchange = Exchange()
    try:
        settings = {**exchange.settings, "file_store_path": str(tmp_path / "fix-store")}
        handed_out: list[str] = []
        for kill_after in (50, 400, 150):
            sent, _ = run_manager(journal_path, settings, kill_after, deadline)
            assert len(sent) >= kill_after
            handed_out.extend(sent)
        sent, last = run_manager(journal_path, settings, None, deadline)
        handed_out.extend(sent)
        assert last.startswith("DONE ")
        venue = exchange.orders()
    finally:
        exchange.close()

    journaled: dict[str, list[Any]] = json.loads(last.split(" ", 1)[1])
    received = Counter(venue["received"])
    engine: dict[str, list[str]] = venue["engine"]

    sent_twice_at_venue = sorted(cid for cid, n in received.items() if n > 1)
    handed_out_not_journaled = sorted(set(handed_out) - set(journaled))
    at_venue_not_journaled = sorted(set(received) - set(journaled))
    venue_states = {"SUBMITTED", "PARTIALLY_FILLED", "FILLED", "CANCELLED"}
    lost_at_venue = sorted(cid for cid, (status, *_) in journaled.items()
                           if status in venue_states and cid not in received)
    in_doubt = sorted(cid for cid, (status, _, unknown, _) in journaled.items()
                      if status == "PENDING" or unknown)
    disagree = sorted(
        cid for cid, (status, filled, *_) in journaled.items() if cid in engine
        and (_venue_status(engine[cid][0]) != status
             or Decimal(engine[cid][1]) != Decimal(filled))
    )
    never_reached = sorted(cid for cid in journaled if cid not in received)
    assert all(journaled[cid][0] == "REJECTED" and "unknown order" in (journaled[cid][3] or "")
               for cid in never_reached)
    report = {
        "handed_out": len(handed_out), "journaled": len(journaled),
        "received_at_venue": len(received), "never_reached_rejected": len(never_reached),
        "sent_twice_at_venue": sent_twice_at_venue,
        "handed_out_not_journaled": handed_out_not_journaled,
        "at_venue_not_journaled": at_venue_not_journaled,
        "lost_at_venue": lost_at_venue, "in_doubt": in_doubt, "disagree": disagree,
    }
    print(json.dumps(report))
    assert sent_twice_at_venue == []
    assert handed_out_not_journaled == []
    assert at_venue_not_journaled == []
    assert lost_at_venue == []
    assert in_doubt == []
    assert disagree == []
    assert len(handed_out) >= 600


def _venue_status(status: str) -> str:
    return "SUBMITTED" if status == "PENDING" else status
