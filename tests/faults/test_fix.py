"""The FIX exchange simulator in a process of its own, killed with SIGKILL mid-stream of
orders and restarted on the same store: no order lost or duplicated, at the venue or at
the manager, and every order ends in a final state.

What the exchange keeps across a SIGKILL is what a FIX venue keeps on disk: its FileStore
(sequence numbers and every message it sent, so that reports the connector missed are
resent when it asks) and its message log, from which the test reads what the venue
received and what it executed. Its matching engine lives in memory: an order it had taken
but not yet reported is forgotten, as a venue that rolls back to its last persisted state
would forget it; the manager then learns from the status request after the reconnect that
the venue does not know it (REJECTED, "unknown order"), and the venue has no execution for
it either. The counts below compare the two sides order by order.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import stockfish_fix.plugin as fix_plugin
from stockfish_core import ExchangeManager, Order, OrderRejected, OrderStatus, PluginRegistry
from stockfish_core.config import ManagerConfig
from stockfish_fix.testing.exchange import free_port

SOH = "\x01"
ORDERS = 240
KILL_AT = (60, 150)


class ExchangeProcess:
    """``python -m stockfish_fix.testing`` on a fixed port, store and log directory."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.store = tmp_path / "exchange-store"
        self.logs = tmp_path / "exchange-log"
        self.proc: subprocess.Popen[str] | None = None
        self.starts = 0

    def start(self, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stockfish_fix.testing", "--host", "127.0.0.1",
             "--port", str(self.port), "--begin-strings", "FIX.4.4", "--symbols", "SPY",
             "--tick-interval", "0", "--replenish", "--store", str(self.store),
             "--log", str(self.logs)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError(f"the exchange did not start within {timeout}s")
        line = self.proc.stdout.readline()
        assert line.startswith("READY"), line
        self.starts += 1

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None

    def messages(self) -> list[dict[str, str]]:
        """Every message the exchange logged, received (49=CLIENT) and sent (49=EXCH), in
        both of its lives."""
        out = []
        for path in sorted(self.logs.glob("*.messages*.log")):
            for line in path.read_text(errors="replace").splitlines():
                _, _, raw = line.partition(" : ")
                if raw.startswith("8="):
                    out.append(dict(item.split("=", 1) for item in raw.split(SOH)
                                    if "=" in item))
        return out


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[ExchangeProcess]:
    process = ExchangeProcess(tmp_path)
    process.start()
    yield process
    process.stop()


def wait_for(predicate: object, timeout: float, what: str) -> None:
    """Poll ``predicate`` (the manager runs on its own thread; no event to await here)."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def test_exchange_killed_and_restarted_mid_stream(exchange: ExchangeProcess,
                                                  tmp_path: Path) -> None:
    registry = PluginRegistry(entry_points=())
    registry.register(fix_plugin, "fix")
    manager = ExchangeManager(
        registry=registry, journal=str(tmp_path / "journal.sqlite"),
        config=ManagerConfig(connect_timeout=5, reconnect_initial_delay=0.1,
                             reconnect_max_delay=0.5))
    manager.add_connector("fix", "fix", host="127.0.0.1", port=exchange.port,
                          begin_string="FIX.4.4", sender_comp_id="CLIENT",
                          target_comp_id="EXCH", file_store_path=str(tmp_path / "client"),
                          logon_timeout=5)
    sent: list[str] = []
    refused_locally = 0
    try:
        assert manager.start_all(timeout=20)
        for n in range(ORDERS):
            if n in KILL_AT:
                exchange.kill()
                time.sleep(0.05)  # orders keep coming while the venue is gone
            if n in [k + 8 for k in KILL_AT]:
                exchange.start()
                wait_for(lambda: manager.get_health_status()["fix"]["connected"], 30,
                         "the connector to be back")
            try:
                sent.append(manager.send_order(Order("SPY", "BUY", 1 + n % 5)))
            except OrderRejected:
                refused_locally += 1  # no connector up: never left, not lost
        wait_for(lambda: manager.get_health_status()["fix"]["connected"], 30,
                 "the connector to be back")
        wait_for(lambda: all(manager.get_order(c).is_final for c in sent), 30,
                 "every order to end")
        orders = {cid: manager.get_order(cid) for cid in sent}
        stats = manager.get_stats()
    finally:
        manager.close()
    exchange.stop()

    messages = exchange.messages()
    received: dict[str, int] = defaultdict(int)  # NewOrderSingles by ClOrdID
    executed: dict[str, dict[str, Decimal]] = defaultdict(dict)  # ClOrdID -> ExecID -> qty
    for m in messages:
        if m.get("49") == "CLIENT" and m.get("35") == "D":
            received[m["11"]] += 1
        elif m.get("49") == "EXCH" and m.get("35") == "8" and m.get("150") == "F":
            executed[m["11"]][m["17"]] = Decimal(m["32"])
    venue_filled = {cid: sum(fills.values(), Decimal(0)) for cid, fills in executed.items()}

    assert exchange.starts == 1 + len(KILL_AT)
    assert stats["total"]["reconnects"] >= len(KILL_AT)
    assert len(sent) + refused_locally == ORDERS
    assert refused_locally <= 8 * len(KILL_AT)  # only while the venue was gone
    duplicated_at_venue = [cid for cid, count in received.items() if count > 1]
    unknown_at_venue = [cid for cid in received if cid not in orders]
    lost_by_manager = [cid for cid, qty in venue_filled.items()
                       if orders[cid].filled_quantity < qty]
    counted_twice = [cid for cid, qty in venue_filled.items()
                     if orders[cid].filled_quantity > qty]
    filled_unknown_to_venue = [cid for cid, o in orders.items()
                               if o.filled_quantity and cid not in venue_filled]
    not_final = [cid for cid, o in orders.items() if not o.is_final]
    assert (duplicated_at_venue, unknown_at_venue, lost_by_manager, counted_twice,
            filled_unknown_to_venue, not_final) == ([], [], [], [], [], [])
    # Every order the venue executed ended FILLED at the manager; the others never
    # reached the venue's books (REJECTED as unknown to it, or refused before sending).
    for cid, order in orders.items():
        if cid in venue_filled:
            assert order.status is OrderStatus.FILLED, (cid, order.status, order.reason)
        else:
            assert order.status is OrderStatus.REJECTED, (cid, order.status, order.reason)
    # Reports resent by the restarted venue came once more at most, and were not applied.
    assert stats["total"]["fills"] == sum(len(f) for f in executed.values())
