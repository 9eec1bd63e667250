"""``stockfish-ibkr-sim`` (or ``python -m stockfish_ibkr.testing``; earlier name
``stockfish-ibkr-gateway``): run the gateway simulator.

Prints ``listening on HOST:PORT`` once it accepts connections and runs until interrupted
(Ctrl-C or SIGTERM). Point TWS clients (ib_insync, ib_async, this project's ``ibkr``
connector) at that address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from .gateway import GatewaySimulator

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stockfish-ibkr-sim",
        description="A simulated TWS / IB Gateway speaking the TWS socket protocol (v176).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=4002,
                   help="port to listen on; 0 picks a free one (default %(default)s)")
    p.add_argument("--accounts", default="DU1234567",
                   help="comma-separated managed accounts (default %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="market random seed")
    p.add_argument("--tick-interval", type=float, default=0.05,
                   help="seconds between market steps (default %(default)s)")
    p.add_argument("--max-fill-qty", type=float, default=None,
                   help="largest single fill; larger orders fill in parts")
    p.add_argument("--pacing-limit", type=int, default=50,
                   help="messages per second per client before error 100 (default %(default)s)")
    p.add_argument("--burst", type=int, default=0,
                   help="benchmarks: stream this many market steps on every new market-data "
                        "subscription, ending with a last size of BURST_END_SIZE; bursts go "
                        "out together --burst-delay seconds after the last subscription")
    p.add_argument("--burst-delay", type=float, default=0.5,
                   help="seconds to wait for more subscriptions before sending bursts")
    p.add_argument("--stream", action="store_true",
                   help="benchmarks: serve the stream request with which a client asks for "
                        "N ticks over its subscriptions, each written on its own once the "
                        "client has handled the one before (see feeds.stream_request)")
    p.add_argument("--state", default=None, metavar="FILE",
                   help="keep orders, executions, positions and ids in FILE and start from "
                        "it: the back end survives this process, as IB survives a TWS "
                        "restart (fault tests kill the simulator and start it again)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every connection")
    return p


async def _run(args: argparse.Namespace) -> None:
    gateway = GatewaySimulator(
        args.host, args.port, pacing_limit=args.pacing_limit,
        accounts=[a for a in args.accounts.split(",") if a], seed=args.seed,
        tick_interval=args.tick_interval, max_fill_qty=args.max_fill_qty,
        state_file=args.state,
    )
    gateway.burst = args.burst
    gateway.burst_delay = args.burst_delay
    gateway.stream = args.stream
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with gateway:
        print(f"listening on {gateway.host}:{gateway.port}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_run(args))
    except OSError as exc:
        print(f"stockfish-ibkr-sim: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return 1
    return 0
