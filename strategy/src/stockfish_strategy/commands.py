"""The ``stockfish`` subcommands of stockfish-strategy (entry point group
``stockfish.commands``)::

    stockfish backtest FILE.py:Class --data DIR [--from T] [--to T] [--symbols A,B]
                       [--capital N] [--commission MODEL] [--slippage MODEL] [--out DIR]
    stockfish backtest FILE.py:Class --history --symbols A,B --from T --to T [--interval 1d]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

__all__ = ["cmd_backtest", "register"]


def register(sub: Any) -> None:
    """Add ``backtest`` to the ``stockfish`` command line, and ``--paper`` to ``run``."""
    run = sub.choices.get("run")
    if run is not None:
        run.add_argument("--paper", action="store_true",
                         help="with --strategy: live data, orders to the paper venue "
                              "(stockfish-strategy)")
    b = sub.add_parser("backtest", help="run a strategy over recorded data; summary, files "
                                        "and an HTML report",
                       description="Run a strategy over a recording (stockfish record) "
                                   "through the manager, the paper venue's fill engine and "
                                   "a simulated clock.")
    b.add_argument("strategy", help="the strategy: path/to/file.py:Class or module:Class")
    data = b.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", help="the recording's folder")
    data.add_argument("--history", action="store_true",
                      help="bars from the history hook instead (of --config's connectors, "
                           "default the simulated venue), for --symbols over --from/--to")
    b.add_argument("--interval", default="1d", help="--history: the bar interval "
                                                     "(default 1d)")
    b.add_argument("--config", help="--history: the configuration whose connectors to ask")
    b.add_argument("--cache", help="--history: the history cache folder")
    b.add_argument("--from", dest="start", help="start, ISO 8601 (UTC unless an offset)")
    b.add_argument("--to", dest="end", help="end, ISO 8601, exclusive")
    b.add_argument("--symbols", help="symbols, comma separated (default: the strategy's, "
                                     "else every recorded one)")
    b.add_argument("--capital", default="100000", help="starting cash (default 100000)")
    b.add_argument("--commission", default="per_unit:0",
                   help="per_unit:R, per_share:R,min=M,max=F, bps:B or per_order:F "
                        "(default none)")
    b.add_argument("--slippage", default="bps:0", help="bps:B or spread:F (default none)")
    b.add_argument("--session", help="trade only in this exchange's sessions "
                                     "(exchange_calendars code: XNYS, XNAS, XLON...)")
    b.add_argument("--max-drawdown", type=float, help="stop the strategy at this drawdown "
                                                      "(a fraction: 0.2)")
    b.add_argument("--daily-loss", help="stop the strategy at this loss in a day")
    b.add_argument("--max-errors", type=int, default=10,
                   help="stop the strategy after this many callback errors in a row "
                        "(default 10)")
    b.add_argument("--out", default="backtest-results",
                   help="folder for fills, orders, trades, equity, summary.json and "
                        "report.html (default ./backtest-results)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("--json", action="store_true", help="the summary as JSON")
    b.set_defaults(func=cmd_backtest)


def cmd_backtest(args: argparse.Namespace, out: TextIO) -> int:
    from .adapter import adapt
    from .backtest import Backtest, BacktestError, download_history, load_strategy_class
    from .results import _num
    from .strategy import RiskLimits

    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols \
        else None
    try:
        target = load_strategy_class(args.strategy)
        try:
            strategy = adapt(target(), symbols)
        except Exception as exc:  # noqa: BLE001 - the user's constructor, reported
            raise BacktestError(f"strategy {args.strategy!r}: creating it failed: "
                                f"{type(exc).__name__}: {exc}") from None
        limits = RiskLimits(args.daily_loss, args.max_drawdown, args.max_errors)
        data = args.data
        if args.history:
            if not symbols:
                raise BacktestError("--history needs --symbols")
            data = download_history(symbols, args.start, args.end, args.interval,
                                    Path(args.out) / "data", config=args.config,
                                    cache=args.cache)
        backtest = Backtest(strategy, data, start=args.start, end=args.end,
                            symbols=symbols, capital=args.capital, commission=args.commission,
                            slippage=args.slippage, limits=limits, session=args.session,
                            progress=None if args.no_progress else sys.stderr)
        results = backtest.run()
    except (BacktestError, ValueError, TypeError) as exc:
        print(f"stockfish backtest: {exc}", file=sys.stderr)
        return 1
    paths = results.write(args.out)
    if args.json:
        json.dump(_num(results.summary), out, indent=2, sort_keys=True)
        out.write("\n")
    else:
        for key, value in results.summary.items():
            out.write(f"{key:>22}: {_num(value)}\n")
        for error in results.errors:
            out.write(f"  error {error['time']} {error['callback']}: {error['error']}\n")
        out.write(f"report: {paths['report']}\n")
    return 0
