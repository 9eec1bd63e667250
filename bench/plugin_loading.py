"""`stockfish plugins` end to end, against a bare entry-point scan, in fresh interpreters.

Each round runs every case once, in a fresh interpreter, in an order rotated from round
to round (interleaved, so a busy moment of this shared machine hits all cases alike):

  python        ``python -c pass``: interpreter start-up
  entry points  the bare scan, ``importlib.metadata.entry_points(group="stockfish")``
  plugins       exactly what a user runs: the ``stockfish`` console script, ``plugins``,
                no configuration (``STOCKFISH_CONFIG`` unset)
  verbose       ``stockfish plugins --verbose``: every installed plugin imported (their
                hooks and capabilities shown), for comparison

The interpreters run as a user's do: byte code cached (``PYTHONDONTWRITEBYTECODE`` is
dropped, and a warm-up run of each case writes it) and no ``STOCKFISH_CONFIG``.
Reported per case (bench/harness.py): wall time and CPU time (user + system of the
child process, from wait4), median and range over the rounds, and the median of the
per-round ratios to the bare scan; with the load average before and after. Goal:
``stockfish plugins`` with the three connectors installed and no configuration under
150 ms.

    python bench/plugin_loading.py [--rounds 15] [--quick]

Writes bench/results/plugin_loading.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from harness import Report, Row, Sample, interleave, spread

GOAL_MS = 150.0


def cases() -> dict[str, list[str]]:
    script = Path(sys.executable).with_name("stockfish")
    stockfish = [str(script)] if script.exists() else None
    if stockfish is None:
        found = shutil.which("stockfish")
        stockfish = [found] if found else [
            sys.executable, "-c",
            "import sys; from stockfish_core.cli import main; sys.exit(main())"]
    return {
        "python": [sys.executable, "-c", "pass"],
        "entry points": [sys.executable, "-c",
                         "import importlib.metadata as m; m.entry_points(group='stockfish')"],
        "plugins": [*stockfish, "plugins"],
        "verbose": [*stockfish, "plugins", "--verbose"],
    }


def run_once(argv: list[str], env: dict[str, str]) -> Sample:
    """One run of ``argv``: wall time, and the child's CPU (user + system) as the
    measured side's."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # 1: a plugin failed, which the listing reports
        raise RuntimeError(f"{argv} exited with {proc.returncode}")
    return Sample(1, wall, usage.ru_utime + usage.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="2 rounds (a check that it runs)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.rounds = 2

    import importlib.metadata as metadata

    installed = sorted(ep.name for ep in metadata.entry_points(group="stockfish"))
    print(f"installed plugins: {', '.join(installed)} ({len(installed)})")
    # As a user runs it: no configuration, and byte code cached (the warm-up run writes
    # it where the environment forbade it, as pip does at install time).
    env = {k: v for k, v in os.environ.items()
           if k not in ("STOCKFISH_CONFIG", "PYTHONDONTWRITEBYTECODE")}
    todo = cases()
    report = Report("plugin_loading", __doc__.splitlines()[0])
    samples = interleave({name: (lambda argv=argv: run_once(argv, env))
                          for name, argv in todo.items()}, args.rounds, warmup=True)
    base = "entry points"
    for name in todo:
        goal = f"wall < {GOAL_MS:.0f} ms" if name == "plugins" else ""
        row = Row.of(name, samples[name], unit="run",
                     baseline="" if name == base else "bare entry-point scan",
                     bare=None if name == base else samples[base], goal=goal,
                     wall_ms=spread(s.wall * 1e3 for s in samples[name]),
                     cpu_ms=spread(s.cpu * 1e3 for s in samples[name]),
                     argv=todo[name])
        if name == "plugins":
            row.verdict = "met" if row.extra["wall_ms"]["median"] < GOAL_MS else "NOT met"
        report.add(row)
    report.extra = {"installed": installed, "goal_ms": GOAL_MS}
    for row in report.rows:
        w, c = row.extra["wall_ms"], row.extra["cpu_ms"]
        print(f"{row.case:<14} wall {w['median']:.1f} ms ({w['min']:.1f}-{w['max']:.1f}), "
              f"CPU {c['median']:.1f} ms ({c['min']:.1f}-{c['max']:.1f})")
    report.finish(args.out)


if __name__ == "__main__":
    main()
