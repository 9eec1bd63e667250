"""``stockfish-fix-sim`` (or ``python -m stockfish_fix.testing``; earlier name
``stockfish-fix-exchange``): run the FIX exchange simulator until interrupted.

Prints one line ``READY <host> <port>`` once it accepts connections (scripts wait for it).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from .exchange import DEFAULT_BEGIN_STRINGS, FixExchange


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stockfish-fix-sim",
        description="A FIX 4.2 / 4.4 / 5.0SP2 exchange simulator on 127.0.0.1.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9876, help="0: pick a free port")
    parser.add_argument("--sender-comp-id", default="EXCH")
    parser.add_argument("--target-comp-id", default="CLIENT")
    parser.add_argument("--begin-strings", default=",".join(DEFAULT_BEGIN_STRINGS),
                        help="comma-separated sessions to accept")
    parser.add_argument("--symbols", default="SPY,QQQ,AAPL")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tick-interval", type=float, default=0.5,
                        help="seconds between market steps (0: the market stands still)")
    parser.add_argument("--max-fill-qty", type=int, default=None,
                        help="largest single fill (partial fills above it)")
    parser.add_argument("--replenish", action="store_true",
                        help="restore the quoted sizes after every order (endless liquidity)")
    parser.add_argument("--username", default=None)
    parser.add_argument("--password", default=None,
                        help="refuse a Logon without this Password (554)")
    parser.add_argument("--store", default=None, help="FileStore directory (default: temporary)")
    parser.add_argument("--log", default=None, help="QuickFIX message log directory")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    exchange = FixExchange(
        args.port,
        host=args.host,
        sender_comp_id=args.sender_comp_id,
        target_comp_id=args.target_comp_id,
        begin_strings=[b for b in args.begin_strings.split(",") if b],
        symbols=[s for s in args.symbols.split(",") if s],
        seed=args.seed,
        tick_interval=args.tick_interval or None,
        max_fill_qty=args.max_fill_qty,
        username=args.username,
        password=args.password,
        store_path=args.store,
        log_path=args.log,
        replenish=args.replenish,
    )
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with exchange:
        print(f"READY {exchange.host} {exchange.port}", flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
