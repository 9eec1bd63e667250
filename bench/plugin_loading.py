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
Reported per case: wall time and CPU time (user + system of the child process, from
wait4), median and range over the rounds, and the median of the per-round ratio to the
bare scan; with the load average before and after. Goal: ``stockfish plugins`` with the
three connectors installed and no configuration under 150 ms.

    python bench/plugin_loading.py [--rounds 15]

Writes bench/results/plugin_loading.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of ``argv``."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # 1: a plugin failed, which the listing reports
        raise RuntimeError(f"{argv} exited with {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results"
                        / "plugin_loading.json")
    args = parser.parse_args()

    import importlib.metadata as metadata

    installed = sorted(ep.name for ep in metadata.entry_points(group="stockfish"))
    print(f"installed plugins: {', '.join(installed)} ({len(installed)})")
    # As a user runs it: no configuration, and byte code cached (the warm-up run writes
    # it where the environment forbade it, as pip does at install time).
    env = {k: v for k, v in os.environ.items()
           if k not in ("STOCKFISH_CONFIG", "PYTHONDONTWRITEBYTECODE")}
    todo = cases()
    names = list(todo)
    for argv in todo.values():  # warm the file cache once; not measured
        run_once(argv, env)
    load_before = os.getloadavg()
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            w, c = run_once(todo[name], env)
            wall[name].append(w * 1e3)
            cpu[name].append(c * 1e3)
    load_after = os.getloadavg()

    base = "entry points"
    results: dict[str, Any] = {}
    print(f"{'case':<14}{'wall ms (range)':>24}{'CPU ms (range)':>24}{'x scan':>8}")
    for name in names:
        ratios = [w / b for w, b in zip(wall[name], wall[base], strict=True)]
        results[name] = {"wall_ms": summary(wall[name]), "cpu_ms": summary(cpu[name]),
                         "x_entry_points": round(statistics.median(ratios), 2)}
        ws, cs = results[name]["wall_ms"], results[name]["cpu_ms"]
        print(f"{name:<14}{ws['median']:>8.1f} ({ws['min']:.1f}-{ws['max']:.1f})"
              f"{cs['median']:>10.1f} ({cs['min']:.1f}-{cs['max']:.1f})"
              f"{results[name]['x_entry_points']:>8.2f}")
    plugins_ms = results["plugins"]["wall_ms"]["median"]
    verdict = "met" if plugins_ms < GOAL_MS else "NOT met"
    print(f"`stockfish plugins`: median {plugins_ms:.1f} ms; goal < {GOAL_MS:.0f} ms {verdict}")
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "installed": installed, "rounds": args.rounds, "cases": {n: todo[n] for n in names},
        "results": results, "goal_ms": GOAL_MS,
        "load_average": [round(load_before[0], 2), round(load_after[0], 2)],
        "python": sys.version.split()[0],
    }, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
