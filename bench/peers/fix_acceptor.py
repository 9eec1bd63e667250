"""The counterparty of bench/fix_roundtrip.py: the least a QuickFIX acceptor does to fill
every NewOrderSingle at once.

For each NewOrderSingle (D) it sends two ExecutionReports, as an exchange does for a
marketable order: an acknowledgement (ExecType 0, OrdStatus 0) and a fill of the whole
quantity at 100 (ExecType F, OrdStatus 2; FIX 4.2: ExecType 2). The fields it needs are
read from the message's FIX string with ``str.find``; the reports are FIX strings parsed
by QuickFIX in one call each (no data dictionary on this side, no order book, no market
data; sequence numbers are kept in memory, for the life of the process, and messages are
not stored for resending). It is not the project's exchange simulator
(``stockfish_fix.testing``, which runs a matching engine and serves the tests): it exists
so that the benchmark's counterparty costs less than the client it measures, on the same
two cores.

    python bench/peers/fix_acceptor.py [--port 0] [--begin-string FIX.4.4]

Prints ``READY <port>`` once it accepts, and runs until stdin closes or SIGTERM.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import threading
import time
from typing import Any

import quickfix

SOH = "\x01"


def _field(raw: str, tag: str) -> str:
    key = f"{SOH}{tag}="
    start = raw.find(key)
    if start < 0:
        return ""
    start += len(key)
    end = raw.find(SOH, start)
    return raw[start:end]


def _stamp() -> str:
    ns = time.time_ns()
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1_000_000:03d}"


class LeanExchange(quickfix.Application):  # type: ignore[misc]
    """Fills every NewOrderSingle at once (see the module docs)."""

    def __init__(self, begin_string: str) -> None:
        super().__init__()
        self.fix42 = begin_string == "FIX.4.2"
        self.prefix = f"8={begin_string}{SOH}9=0{SOH}35=8{SOH}"
        self.suffix = f"10=000{SOH}"
        self.ids = itertools.count(1)
        self.orders = 0

    def onCreate(self, session_id: Any) -> None:
        pass

    def onLogon(self, session_id: Any) -> None:
        pass

    def onLogout(self, session_id: Any) -> None:
        pass

    def toAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def toApp(self, message: Any, session_id: Any) -> None:
        pass

    def fromApp(self, message: Any, session_id: Any) -> None:
        raw = message.toString()
        if _field(raw, "35") != "D":
            return
        self.orders += 1
        n = next(self.ids)
        cl_ord_id, symbol, side, qty = (_field(raw, "11"), _field(raw, "55"),
                                        _field(raw, "54"), _field(raw, "38"))
        now = _stamp()
        common = (f"37=O{n}{SOH}11={cl_ord_id}{SOH}55={symbol}{SOH}54={side}{SOH}"
                  f"38={qty}{SOH}40=1{SOH}")
        trans = f"20=0{SOH}" if self.fix42 else ""
        ack = (f"{self.prefix}{common}17=A{n}{SOH}{trans}150=0{SOH}39=0{SOH}32=0{SOH}31=0{SOH}"
               f"151={qty}{SOH}14=0{SOH}6=0{SOH}60={now}{SOH}{self.suffix}")
        fill = (f"{self.prefix}{common}17=F{n}{SOH}{trans}150={'2' if self.fix42 else 'F'}"
                f"{SOH}39=2{SOH}32={qty}{SOH}31=100{SOH}151=0{SOH}14={qty}{SOH}6=100{SOH}"
                f"60={now}{SOH}{self.suffix}")
        quickfix.Session.sendToTarget(quickfix.Message(ack, False), session_id)
        quickfix.Session.sendToTarget(quickfix.Message(fill, False), session_id)


def settings(begin_string: str, port: int) -> Any:
    values = {
        "ConnectionType": "acceptor", "BeginString": begin_string,
        "SenderCompID": "EXCH", "TargetCompID": "CLIENT",
        "SocketAcceptHost": "127.0.0.1", "SocketAcceptPort": str(port),
        "SocketReuseAddress": "Y", "SocketNodelay": "Y",
        "PersistMessages": "N",
        "StartTime": "00:00:00", "EndTime": "00:00:00", "HeartBtInt": "30",
        "UseDataDictionary": "N", "ValidateUserDefinedFields": "N",
    }
    if begin_string == "FIXT.1.1":
        values["DefaultApplVerID"] = "FIX.5.0SP2"
    out = quickfix.SessionSettings()
    session = quickfix.Dictionary()
    for key, value in values.items():
        session.setString(key, value)
    out.set(quickfix.SessionID(begin_string, "EXCH", "CLIENT"), session)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--begin-string", default="FIX.4.4")
    args = parser.parse_args(argv)
    port = args.port
    if port == 0:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    config = settings(args.begin_string, port)
    app = LeanExchange(args.begin_string)
    # Sequence numbers in memory, for the life of this process (the benchmark's clients
    # log on again and again, and continue): no file written per message.
    acceptor = quickfix.SocketAcceptor(app, quickfix.MemoryStoreFactory(), config)
    # Its network loop on a Python thread (a thread QuickFIX made would create and drop a
    # Python thread state at every callback).
    thread = threading.Thread(target=quickfix._quickfix.Acceptor_block, args=(acceptor,),
                              daemon=True)
    thread.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"READY {port}", flush=True)

    def watch_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    stop.wait()
    # No graceful stop: the clients have logged out already, and stopping QuickFIX's
    # network loop from here while it runs on a thread of ours aborts the process now
    # and then ("exception not rethrown"). Every message is in the FileStore already.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
