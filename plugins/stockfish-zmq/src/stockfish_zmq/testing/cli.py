"""``stockfish-zmq-sim`` (or ``python -m stockfish_zmq.testing``; earlier name
``stockfish-zmq-publisher``): run the publisher from the command line.

Examples::

    stockfish-zmq-sim --symbols 5 --rate 1000                  # synthetic feed
    stockfish-zmq-sim --snapshot-endpoint tcp://127.0.0.1:5556  # + snapshot service
    stockfish-zmq-sim --replay day.jsonl --rate 0 --count 100000
    stockfish-zmq-sim --gen-keys ./keys                          # CURVE certificates
    stockfish-zmq-sim --curve-secret-key-file keys/server.key_secret

It prints ``READY endpoint=... snapshot=... session=...`` once bound, and
``DONE sent=N seconds=S rate=R`` when a bounded run (``--count``/``--duration``) ends,
so that scripts can drive it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import zmq
import zmq.auth

from ..schema import dumps, topic_of
from .publisher import WIRE_FORMATS, Faults, Publisher, make_message
from .synthetic import SyntheticMarket, symbol_names

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stockfish-zmq-sim",
        description="Publish market data in the stockfish-zmq wire format (synthetic or "
                    "replayed), with an optional snapshot service and fault injection.",
    )
    p.add_argument("--endpoint", default="tcp://127.0.0.1:5555",
                   help="bind address of the PUB socket; tcp://127.0.0.1:* for a free port "
                        "(default %(default)s)")
    p.add_argument("--snapshot-endpoint", help="bind address of the snapshot service (ROUTER)")
    p.add_argument("--symbols", type=int, default=3, help="number of synthetic symbols")
    p.add_argument("--symbol", action="append", default=[], help="a symbol name (repeatable)")
    p.add_argument("--types", default="ticker,depth,trade",
                   help="synthetic message types, comma-separated (default %(default)s)")
    p.add_argument("--rate", type=float, default=100.0,
                   help="messages per second, 0 for as fast as possible (default %(default)s)")
    p.add_argument("--count", type=int, help="stop after this many messages")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--replay", type=Path, metavar="FILE.jsonl",
                   help="publish the messages of a JSON-lines file instead of synthetic data")
    p.add_argument("--session", help="session id sent in every message (default: random)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the synthetic market")
    p.add_argument("--levels", type=int, default=10, help="synthetic book levels per side")
    p.add_argument("--snapshot-every", type=int, default=50,
                   help="a depth snapshot every N depth messages of a symbol")
    p.add_argument("--wait-subscribers", type=int, default=0, metavar="N",
                   help="start publishing once N subscribers have subscribed to every "
                        "synthetic symbol (with --replay: once anyone subscribed)")
    p.add_argument("--wait-timeout", type=float, default=60.0)
    p.add_argument("--pregenerate", action="store_true",
                   help="encode all --count messages first, then send them as fast as possible")
    p.add_argument("--curve-secret-key-file", type=Path,
                   help="the publisher's CURVE secret certificate (or set "
                        "STOCKFISH_ZMQ_CURVE_SECRET_KEY to the Z85 secret key)")
    p.add_argument("--curve-allow-dir", type=Path,
                   help="accept only the client public certificates in this folder")
    p.add_argument("--gen-keys", type=Path, metavar="DIR",
                   help="write server and client CURVE certificates to DIR and exit")
    for fault in ("drop", "duplicate", "reorder", "garbage"):
        p.add_argument(f"--{fault}-every", type=int, default=0, metavar="N",
                       help=f"{fault} every Nth message (fault injection)")
    p.add_argument("--wire-format", choices=WIRE_FORMATS, default="prefix",
                   help="prefix: one frame 'TOPIC {json}'; frames: two frames [TOPIC, json]; "
                        "json: one frame of JSON alone, as the seeds send it "
                        "(default %(default)s)")
    p.add_argument("--sndhwm", type=int, default=100_000, help="send high-water mark (0: none)")
    p.add_argument("--linger", type=float, default=5.0,
                   help="seconds allowed for queued messages to leave after the last one")
    return p


def _say(*parts: Any) -> None:
    print(*parts, flush=True)


def _curve_secret(args: argparse.Namespace) -> bytes | None:
    if args.curve_secret_key_file is not None:
        _, secret = zmq.auth.load_certificate(str(args.curve_secret_key_file))
        if secret is None:
            raise SystemExit(f"{args.curve_secret_key_file}: no secret-key in this certificate")
        return secret
    env = os.environ.get("STOCKFISH_ZMQ_CURVE_SECRET_KEY")
    return env.strip().encode() if env else None


def _allowed_clients(folder: Path | None) -> list[bytes] | None:
    if folder is None:
        return None
    keys = []
    for path in sorted(folder.glob("*.key")):
        public, _ = zmq.auth.load_certificate(str(path))
        keys.append(public)
    return keys


def _replay(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
            except ValueError as exc:
                print(f"{path}:{number}: skipped, not JSON: {exc}", file=sys.stderr)
                continue
            if isinstance(msg, dict):
                yield msg


def _pregenerate(pub: Publisher, market: SyntheticMarket, count: int) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for kind, symbol, data in market:
        if len(out) >= count:
            break
        msg = make_message(kind, symbol, data, sequence=pub.next_sequence(symbol),
                           session=pub.session)
        out.append((topic_of(msg).encode(), dumps(msg)))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.gen_keys is not None:
        args.gen_keys.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in ("server", "client"):
            public, secret = zmq.auth.create_certificates(str(args.gen_keys), name)
            os.chmod(secret, 0o600)  # pyzmq writes it with the umask's mode
            _say(f"{name}: public {public}  secret {secret}")
        return 0
    faults = Faults(args.drop_every, args.duplicate_every, args.reorder_every,
                    args.garbage_every)
    pub = Publisher(args.endpoint, snapshot_endpoint=args.snapshot_endpoint,
                    session=args.session, curve_secret_key=_curve_secret(args),
                    allowed_client_keys=_allowed_clients(args.curve_allow_dir),
                    faults=faults, sndhwm=args.sndhwm, wire_format=args.wire_format)
    symbols = args.symbol or symbol_names(args.symbols)
    market = SyntheticMarket(symbols, [t.strip() for t in args.types.split(",") if t.strip()],
                             levels=args.levels, snapshot_every=args.snapshot_every,
                             seed=args.seed)
    encoded = None
    if args.pregenerate:
        if args.count is None or args.replay is not None:
            raise SystemExit("--pregenerate needs --count and synthetic data")
        encoded = _pregenerate(pub, market, args.count)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    pub.start()
    _say(f"READY endpoint={pub.endpoint} snapshot={pub.snapshot_endpoint or '-'} "
         f"session={pub.session}")
    try:
        if args.wait_subscribers:
            deadline = time.monotonic() + args.wait_timeout
            # Every synthetic topic must have its subscribers (a replay: any subscription).
            topics = [b"\x00any"] if args.replay is not None else [s.encode() for s in symbols]
            for topic in topics:
                if topic == b"\x00any":
                    pub.wait_any_subscription(max(0.0, deadline - time.monotonic()))
                else:
                    pub.wait_subscribed(topic, max(0.0, deadline - time.monotonic()),
                                        args.wait_subscribers)
            _say(f"SUBSCRIBED {args.wait_subscribers}")
        started = time.perf_counter()
        if encoded is not None:
            pub.send_encoded(encoded)
            pub.flush(timeout=600)
        else:
            source: Any = _replay(args.replay) if args.replay is not None else market
            pub.stream(source, rate=args.rate, count=args.count)
            deadline = None if args.duration is None else time.monotonic() + args.duration
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if args.count is not None or args.replay is not None:
                    try:
                        pub.wait_stream_done(0.2)
                        break
                    except TimeoutError:
                        continue
                stop.wait(0.2)
            pub.stop_stream()
            pub.flush()
        elapsed = time.perf_counter() - started
    except KeyboardInterrupt:
        elapsed = 0.0
    finally:
        pub.stop(linger=args.linger)
    _say(f"DONE sent={pub.sent} seconds={elapsed:.3f} "
         f"rate={pub.sent / elapsed if elapsed else 0:.0f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
