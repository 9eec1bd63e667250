#!/usr/bin/env python
"""IBKR ticks through the manager, one tick per update, against bare ib_insync.

The TWS-protocol gateway simulator (``stockfish-ibkr-sim --stream``) runs in a process
of its own. Each run connects a fresh client, subscribes to ``--symbols`` contracts,
waits for their first quotes, then asks the gateway for ``--ticks`` ticks with the
simulator's stream request: one tickPrice message per tick (bid, ask or last), round
robin over the subscriptions, and each tick written only once the client has handled the
one before (the client gives one credit back per tick it handles, ``--window`` in flight,
1 by default). So every tick reaches the client in a read of its own and comes out of
ib_insync as its own pendingTickers event (the events are counted and reported), and the
gateway goes exactly as fast as the client keeps up: the rate is the client's, not the
decoder's batching (the old burst mode) nor the gateway's pace (the old live mode).

  bare     a plain ``IB()`` subscribed to the same contracts, counting ticks in its
           ``pendingTickersEvent`` handler;
  manager  the ExchangeManager with the ``ibkr`` plugin (pendingTickersEvent ->
           connector.feed -> stockfish_normalize -> the market-data hub: counts,
           liveness, preferred feed, latest-value cache) to a subscriber's
           ``on_price_tick``.

Both give the credit back the same way, a prebuilt stream request written on the
library's connection in the per-tick handler. Each run checks its count: every tick the
gateway sent must be seen (a difference is reported and marks the row). The cases run in
interleaved rounds (bench/harness.py); reported are the rate and the client's CPU per
tick (this process: user + system), the gateway's CPU per tick apart (peer), median and
range, the per-round ratios to bare, and the load average. Goal (issue 27): at least
0.9x bare's rate and at most 1.3x its CPU per tick.

    python bench/ibkr_ticks.py [--ticks 10000] [--rounds 11] [--symbols 4] [--window 1]
                               [--library ib_insync|ib_async] [--profile manager]

``--profile CASE`` runs that case alone, once, for profiling (py-spy record -- python
bench/ibkr_ticks.py --profile manager --ticks 100000) and writes no result.
Writes bench/results/ibkr_ticks.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType
from typing import Any

from harness import Report, Row, Sample, interleave, process_cpu

import stockfish_ibkr.plugin as ibkr_plugin
from stockfish_core import ExchangeManager, MarketUpdate, PluginRegistry, Subscription
from stockfish_core.config import ManagerConfig
from stockfish_ibkr.testing import BURST_END_SIZE, stream_request

SYMBOLS = ("AAPL", "MSFT", "SPY", "IBM", "QQQ", "TSLA")
CON_IDS = {"AAPL": 265598, "MSFT": 272093, "SPY": 756733, "IBM": 8314, "QQQ": 320227571,
           "TSLA": 76792991}
RATE_GOAL = 0.9
CPU_GOAL = 1.3
_client_ids = itertools.count(100)


class Gateway:
    """The simulator in a process of its own (its market does not move by itself: every
    tick the client sees is one it asked for)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stockfish_ibkr.testing", "--port", "0", "--stream",
             "--tick-interval", "3600"], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.close()
            raise RuntimeError(f"gateway did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.pid = self.proc.pid

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


class Stream:
    """One run's count. ``tick`` is what the handlers call per tick: until the stream
    starts it only notes which subscriptions have had their first quote; then it counts,
    gives the credit back and notices the end."""

    def __init__(self, keys: Sequence[object], ticks: int, window: int, gateway: Gateway,
                 timeout: float) -> None:
        self.keys = set(keys)
        self.ticks = ticks
        self.window = window
        self.gateway = gateway
        self.timeout = timeout
        self.count = 0
        self.events = 0
        self.ready = asyncio.Event()
        self.done = asyncio.Event()
        self.conn: Any = None
        self.tick: Callable[[object, float], None] = self._warm

    def _warm(self, key: object, last_size: float) -> None:
        self.keys.discard(key)
        if not self.keys:
            self.ready.set()

    def on_event(self, tickers: Any) -> None:
        """A second pendingTickersEvent handler, in both cases: events per run."""
        self.events += 1

    async def run(self, conn: Any) -> Sample:
        """Wait for every first quote, then stream; the measured window is the stream."""
        await asyncio.wait_for(self.ready.wait(), 30)
        ack = stream_request(1)
        send = conn.sendMsg
        done = self.done

        def counting(key: object, last_size: float) -> None:
            self.count += 1
            send(ack)
            if last_size == BURST_END_SIZE:
                done.set()

        self.tick = counting
        self.events = 0
        gc.collect()
        peer0 = process_cpu(self.gateway.pid)
        cpu0 = time.process_time()  # this process, every thread, to the nanosecond
        t0 = time.perf_counter()
        conn.sendMsg(stream_request(self.window, self.ticks))
        await asyncio.wait_for(done.wait(), self.timeout)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        peer = process_cpu(self.gateway.pid) - peer0
        self.tick = self._warm
        return Sample(self.count, wall, cpu, peer)


# -- the cases ---------------------------------------------------------------------------
async def bare(lib: ModuleType, gw: Gateway, symbols: Sequence[str],
               args: argparse.Namespace) -> tuple[Sample, Stream]:
    stream = Stream([CON_IDS[s] for s in symbols], args.ticks, args.window, gw, args.timeout)
    ib = lib.IB()

    def on_tickers(tickers: Any) -> None:
        for ticker in tickers:
            stream.tick(ticker.contract.conId, ticker.lastSize)

    ib.pendingTickersEvent += on_tickers
    ib.pendingTickersEvent += stream.on_event
    await ib.connectAsync("127.0.0.1", gw.port, clientId=next(_client_ids), timeout=10)
    try:
        for symbol in symbols:
            ib.reqMktData(lib.Stock(symbol, "SMART", "USD", conId=CON_IDS[symbol]), "")
        sample = await stream.run(ib.client.conn)
    finally:
        ib.disconnect()
    return sample, stream


async def manager(lib: ModuleType, gw: Gateway, symbols: Sequence[str],
                  args: argparse.Namespace) -> tuple[Sample, Stream]:
    stream = Stream(list(symbols), args.ticks, args.window, gw, args.timeout)
    registry = PluginRegistry(entry_points=())
    registry.register(ibkr_plugin, "ibkr")
    mgr = ExchangeManager(registry=registry, journal=":memory:",
                          config=ManagerConfig(health_check_interval=5.0, staleness=60.0))
    mgr.add_connector("ibkr", "ibkr", primary=True, host="127.0.0.1", port=gw.port,
                      client_id=next(_client_ids), library=lib.__name__, generic_ticks="",
                      connect_timeout=10.0)

    class Subscriber:
        @staticmethod
        def on_price_tick(update: MarketUpdate) -> None:
            tick = update.payload
            stream.tick(tick.symbol, tick.last_size)

    mgr.add_subscriber(Subscriber())
    try:
        async with mgr:
            failed = await mgr.subscribe_async([Subscription(s) for s in symbols])
            if failed:
                raise RuntimeError(f"subscriptions failed: {failed}")
            ib = mgr.get_connector("ibkr").state.session.ib
            ib.pendingTickersEvent += stream.on_event
            sample = await stream.run(ib.client.conn)
    finally:
        mgr.journal.close()
    return sample, stream


CASES: dict[str, Callable[..., Awaitable[tuple[Sample, Stream]]]] = {
    "bare": bare, "manager": manager}


# -- the run -----------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--library", default="ib_insync", choices=["ib_insync", "ib_async"])
    p.add_argument("--symbols", type=int, default=4, choices=range(1, len(SYMBOLS) + 1))
    p.add_argument("--ticks", type=int, default=10_000, help="ticks per run")
    p.add_argument("--window", type=int, default=1,
                   help="ticks in flight (1: every tick its own read and event)")
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--timeout", type=float, default=120.0, help="longest run, seconds")
    p.add_argument("--profile", choices=list(CASES), default=None,
                   help="run this case once, for a profiler; no report")
    args = p.parse_args(argv)
    if args.window < 1:
        p.error("--window must be at least 1")
    if args.window > args.symbols:
        p.error("--window must not exceed --symbols: two ticks of one ticker in flight "
                "would reach the client as one update")
    lib = __import__(args.library)
    symbols = SYMBOLS[:args.symbols]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    gw = Gateway()
    mismatches: list[str] = []
    events: dict[str, list[int]] = {name: [] for name in CASES}

    def case(name: str) -> Callable[[], Sample]:
        def run() -> Sample:
            sample, stream = loop.run_until_complete(CASES[name](lib, gw, symbols, args))
            events[name].append(stream.events)
            if sample.ops != args.ticks:
                mismatches.append(f"{name}: saw {sample.ops} of {args.ticks} ticks")
            return sample
        return run

    try:
        if args.profile:
            sample = case(args.profile)()
            print(f"{args.profile}: {sample.rate:,.0f} ticks/s, {sample.cpu_us:.1f} us CPU "
                  f"per tick, gateway {sample.peer_cpu_us or 0:.1f} us; "
                  f"{events[args.profile][0]} pendingTickers events for {sample.ops} ticks")
            if mismatches:
                print("COUNTS DIFFER: " + "; ".join(mismatches))
            return 1 if mismatches else 0
        report = Report("ibkr_ticks", (__doc__ or "").splitlines()[0])
        samples = interleave({name: case(name) for name in CASES}, args.rounds,
                             warmup=True, progress=print)
    finally:
        gw.close()
        loop.close()
    for name in events:  # drop the warm-up runs
        events[name] = events[name][1:]
    baseline = f"bare {lib.__name__} {lib.__version__} pendingTickersEvent handler"
    report.add(Row.of("bare", samples["bare"], unit="tick",
                      events_per_run=events["bare"], ticks_per_run=args.ticks))
    row = report.add(Row.of(
        "manager", samples["manager"], unit="tick", baseline=baseline,
        bare=samples["bare"], goal=f"rate >= {RATE_GOAL}x, CPU <= {CPU_GOAL}x",
        rate_goal=RATE_GOAL, cpu_goal=CPU_GOAL, events_per_run=events["manager"],
        ticks_per_run=args.ticks))
    if mismatches:
        row.verdict = "COUNTS DIFFER"
    report.extra = {"library": f"{lib.__name__} {lib.__version__}", "symbols": list(symbols),
                    "ticks_per_run": args.ticks, "window": args.window,
                    "count_mismatches": mismatches}
    for name, counts in events.items():
        print(f"{name}: pendingTickers events per run {counts} for {args.ticks} ticks")
    if mismatches:
        print("COUNTS DIFFER: " + "; ".join(mismatches))
    report.finish()
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
