"""Inbound FIX messages at the connector, from a scripted raw peer.

The peer is a small FIX acceptor written here with plain sockets (not QuickFIX, not the
project's simulator): it accepts the connector's Logon, then, for each generated case, an
order of the manager's comes in and the peer answers it with genuine execution reports
mixed with bad ones: fills that overfill (the bogus fill of issue 22), huge or
non-positive quantities, values of the wrong type, a missing required field, an unknown
MsgType, reports of ClOrdIDs the manager never sent, PossDup resends, stale CumQty, bad
checksums and garbage bytes.

Asserted for every case: no exception escapes anywhere (the connector's and the manager's
loggers record none); every bad message that reaches the connector is counted with its
reason in ``manager.get_stats()`` (``data_errors``, ``duplicate_fills``,
``fill_disagreements``, ``unknown_order_reports``); every genuine fill is applied exactly
once (the order's filled quantity, status and the manager's fill count). A message with a
bad checksum, and bytes that are no FIX message, are dropped by QuickFIX before the
connector sees them: they are asserted to change nothing, not counted.

One FIX session serves the whole run (the ``quick`` profile takes a few seconds).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import stockfish_fix.plugin as fix_plugin
from stockfish_core import ExchangeManager, Order, OrderStatus, PluginRegistry
from stockfish_core.config import ManagerConfig

SOH = "\x01"
BEGIN = "FIX.4.4"


def frame(msg_type: str, seq: int, body: list[tuple[int, str]], *,
          bad_checksum: bool = False, possdup: bool = False) -> bytes:
    """One FIX 4.4 message from EXCH to CLIENT with a right BodyLength and CheckSum (or
    a wrong CheckSum); ``possdup``: PossDupFlag and OrigSendingTime in its header."""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}"
    header = [(35, msg_type), (34, str(seq)), (49, "EXCH"), (52, stamp), (56, "CLIENT")]
    if possdup:
        header += [(43, "Y"), (122, stamp)]
    payload = "".join(f"{tag}={value}{SOH}" for tag, value in header + body)
    head = f"8={BEGIN}{SOH}9={len(payload.encode())}{SOH}"
    checksum = sum((head + payload).encode()) % 256
    if bad_checksum:
        checksum = (checksum + 1) % 256
    return f"{head}{payload}10={checksum:03d}{SOH}".encode()


class ScriptedAcceptor:
    """A FIX acceptor on 127.0.0.1 for one initiator: it answers the Logon and every
    TestRequest by itself; everything else it sends is scripted by the test."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(10)
        self.port = int(self.listener.getsockname()[1])
        self.conn: socket.socket | None = None
        self.seq = 0
        self.received: queue.Queue[dict[str, str]] = queue.Queue()
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._closed = False

    def accept(self) -> None:
        """Accept the initiator, answer its Logon, then read in a thread of its own."""
        conn, _ = self.listener.accept()
        conn.settimeout(0.2)
        self.conn = conn
        self._reader = threading.Thread(target=self._read, name="fuzz-fix-peer", daemon=True)
        self._reader.start()
        logon = self.expect("A", timeout=10)
        self.send("A", [(98, "0"), (108, logon.get("108", "30"))])

    def _read(self) -> None:
        buffer = b""
        assert self.conn is not None
        while not self._closed:
            try:
                chunk = self.conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while True:
                end = buffer.find(b"\x0110=")
                stop = buffer.find(b"\x01", end + 4) if end >= 0 else -1
                if stop < 0:
                    break
                text, buffer = buffer[:stop + 1].decode(), buffer[stop + 1:]
                message = dict(item.split("=", 1) for item in text.split(SOH) if "=" in item)
                if message.get("35") == "1":  # a TestRequest: answered at once
                    self.send("0", [(112, message.get("112", ""))])
                self.received.put(message)

    def expect(self, msg_type: str, timeout: float = 5.0,
               where: Callable[[dict[str, str]], bool] | None = None) -> dict[str, str]:
        """The next message of ``msg_type`` (and ``where``); others are passed over."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {msg_type} from the connector within {timeout}s")
            message = self.received.get(timeout=remaining)
            if message.get("35") == msg_type and (where is None or where(message)):
                return message

    def send(self, msg_type: str, body: list[tuple[int, str]], *,
             possdup: bool = False) -> None:
        with self._lock:
            self.seq += 1
            self._write(frame(msg_type, self.seq, body, possdup=possdup))

    def send_garbled(self, msg_type: str, body: list[tuple[int, str]]) -> None:
        """A message with a wrong CheckSum: QuickFIX drops it, its MsgSeqNum is not used."""
        with self._lock:
            self._write(frame(msg_type, self.seq + 1, body, bad_checksum=True))

    def send_bytes(self, data: bytes) -> None:
        with self._lock:
            self._write(data)

    def _write(self, data: bytes) -> None:
        assert self.conn is not None, "no initiator connected"
        self.conn.sendall(data)

    def close(self) -> None:
        self._closed = True
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
        self.listener.close()
        if self._reader is not None:
            self._reader.join(5)


class Exceptions(logging.Handler):
    """Every log record that carries an exception."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@attrs.define
class Session:
    manager: ExchangeManager
    peer: ScriptedAcceptor
    exceptions: Exceptions
    exec_ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    peer = ScriptedAcceptor()
    registry = PluginRegistry(entry_points=())
    registry.register(fix_plugin, "fix")
    manager = ExchangeManager(registry=registry, journal=":memory:",
                              config=ManagerConfig(connect_timeout=5))
    manager.add_connector("fix", "fix", host="127.0.0.1", port=peer.port, begin_string=BEGIN,
                          sender_comp_id="CLIENT", target_comp_id="EXCH", store="memory",
                          logon_timeout=10)
    exceptions = Exceptions()
    logging.getLogger("stockfish").addHandler(exceptions)
    acceptor = threading.Thread(target=peer.accept, name="fuzz-fix-accept", daemon=True)
    acceptor.start()
    try:
        assert manager.start_all(timeout=15)
        acceptor.join(10)
        yield Session(manager, peer, exceptions)
    finally:
        logging.getLogger("stockfish").removeHandler(exceptions)
        manager.close()
        peer.close()


# -- the cases ----------------------------------------------------------------------------
#: What a bad message does: the counter of get_stats() it must raise (None: not seen by
#: the connector, dropped by QuickFIX).
COUNTER = {
    "overfill": "fill_disagreements",
    "huge": "fill_disagreements",
    "non_positive": "data_errors",
    "wrong_type": "data_errors",
    "missing_field": "data_errors",
    "bad_msg_type": "data_errors",
    "unknown_order": "unknown_order_reports",
    "possdup": "duplicate_fills",
    "stale_cum": "duplicate_fills",
    "bad_checksum": None,
    "garbage": None,
}
COUNTERS = sorted({c for c in COUNTER.values() if c is not None} | {"fills", "venue_errors"})

Step = tuple[str, int]
steps = st.one_of(
    st.tuples(st.just("fill"), st.integers(1, 400)),
    st.tuples(st.sampled_from(sorted(COUNTER)), st.integers(0, 2**31)),
)
garbage = st.binary(min_size=1, max_size=64).filter(lambda b: b"8=" not in b and b"\x01" not in b)


def counters(manager: ExchangeManager) -> dict[str, int]:
    stats = manager.get_stats()
    fix = stats["connectors"]["fix"]
    out = {name: int(fix[name]) for name in COUNTERS if name in fix}
    out["unknown_order_reports"] = int(stats["unknown_order_reports"])
    return out


def report(cid: str, exec_id: str, exec_type: str, ord_status: str, qty: int, cum: Any,
           *, last: Any = None, price: str = "10", side: str = "1",
           avg: str = "10") -> list[tuple[int, str]]:
    leaves = max(qty - int(cum), 0) if isinstance(cum, int) else 0
    body = [(37, f"V-{cid}"), (11, cid), (17, exec_id), (150, exec_type), (39, ord_status),
            (55, "SPY"), (54, side), (38, str(qty)), (14, str(cum)), (151, str(leaves)),
            (6, avg)]
    if last is not None:
        body += [(32, str(last)), (31, price)]
    return body


#: The marker after each case: a report with no ClOrdID, counted as a venue error once the
#: connector has handled everything sent before it (a session is handled in order).
MARKER = [(37, "V-marker"), (17, "marker"), (150, "0"), (39, "0"), (55, "SPY"), (54, "1"),
          (151, "1"), (14, "0"), (6, "0")]


@given(qty=st.integers(1, 1000), plan=st.lists(steps, max_size=14), junk=garbage)
def test_inbound_messages_at_the_connector(session: Session, qty: int, plan: list[Step],
                                           junk: bytes) -> None:
    manager, peer = session.manager, session.peer
    before = counters(manager)
    cid = manager.send_order(Order("SPY", "BUY", qty, "LIMIT", price=10))
    peer.expect("D", where=lambda m: m.get("11") == cid)

    def exec_id() -> str:
        return f"E{next(session.exec_ids)}"

    peer.send("8", report(cid, exec_id(), "0", "0", qty, 0))
    filled = 0
    genuine: list[list[tuple[int, str]]] = []
    expected = dict.fromkeys(COUNTERS, 0)
    for kind, n in plan:
        status = "2" if filled == qty else ("1" if filled else "0")
        if kind == "fill":
            last = min(n, qty - filled)
            if last <= 0:
                continue
            filled += last
            body = report(cid, exec_id(), "F", "2" if filled == qty else "1", qty, filled,
                          last=last)
            genuine.append(body)
            peer.send("8", body)
            expected["fills"] += 1
            continue
        if kind == "possdup" and not genuine:
            continue  # nothing to resend yet
        counter = COUNTER[kind]
        if counter is not None:
            expected[counter] += 1
        if kind == "overfill":  # the bogus fill: more than is left, CumQty beyond the order
            last = qty - filled + 1 + n % 1000
            peer.send("8", report(cid, exec_id(), "F", "2", qty, filled + last, last=last))
        elif kind == "huge":
            last = 10**30 + n
            peer.send("8", report(cid, exec_id(), "F", "2", qty, filled + last, last=last))
        elif kind == "non_positive":
            peer.send("8", report(cid, exec_id(), "F", status, qty, filled,
                                  last=("0", "-5", "-0.001")[n % 3]))
        elif kind == "wrong_type":
            body = report(cid, exec_id(), "F", status, qty, filled, last=1)
            tag, value = ((14, "abc"), (31, "1.2.3"), (32, "x"), (6, "1e5"))[n % 4]
            peer.send("8", [(t, value if t == tag else v) for t, v in body])
        elif kind == "missing_field":
            body = report(cid, exec_id(), "F", status, qty, filled, last=1)
            gone = (150, 39, 17)[n % 3]
            peer.send("8", [(t, v) for t, v in body if t != gone])
        elif kind == "bad_msg_type":
            peer.send(("ZZ", "#", "8X")[n % 3], [(58, "what is this")])
        elif kind == "unknown_order":
            peer.send("8", report(f"NOBODY{n}", exec_id(), "F", "1", 5, 1, last=1))
        elif kind == "possdup":
            body = genuine[n % len(genuine)]
            peer.send("8", body, possdup=True)
        elif kind == "stale_cum":  # a new ExecID for what CumQty shows counted already
            peer.send("8", report(cid, exec_id(), "F", status, qty, filled, last=1 + n % 50))
        elif kind == "bad_checksum":
            peer.send_garbled("8", report(cid, exec_id(), "F", "2", qty, qty, last=qty))
        elif kind == "garbage":
            peer.send_bytes(junk)
    venue_errors = before["venue_errors"] + 1
    peer.send("8", MARKER)
    deadline = time.monotonic() + 10
    while counters(manager)["venue_errors"] < venue_errors:
        assert time.monotonic() < deadline, "the marker was not handled within 10s"
        time.sleep(0.002)

    after = counters(manager)
    order = manager.get_order(cid)
    assert not session.exceptions.records, session.exceptions.records[0].getMessage()
    assert order.filled_quantity == filled  # every genuine fill, once
    if filled == qty:
        assert order.status is OrderStatus.FILLED
    else:
        assert order.status is (OrderStatus.PARTIALLY_FILLED if filled
                                else OrderStatus.SUBMITTED)
    if filled:
        assert order.avg_fill_price == Decimal(10)
    got = {name: after[name] - before[name] for name in COUNTERS}
    expected["venue_errors"] = 1
    assert got == expected
