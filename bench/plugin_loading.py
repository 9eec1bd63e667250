"""Discovery and loading time of `stockfish plugins`, against bare Python baselines.

Runs, N times each, in fresh interpreters:
  python        `python -c pass`                      interpreter start-up
  entry points  bare importlib.metadata scan of the `stockfish` group
  libraries     importing the venue libraries the plugins wrap (pyzmq, quickfix,
                ib_insync); plugins that import their library only when a connector
                connects load faster than this
  discover      PluginRegistry().installed()          (no plugin imported)
  load all      discover + load every installed plugin (imports them)
  cli           `stockfish plugins` end to end
and reports the median wall time of each and its ratio to the start-up baseline.

    python bench/plugin_loading.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "python": "pass",
    "entry points": "import importlib.metadata as m; m.entry_points(group='stockfish')",
    "libraries": (
        "import importlib.util as u\n"
        "for m in ('zmq', 'quickfix', 'ib_insync'):\n"
        "    u.find_spec(m) and __import__(m)"
    ),
    "discover": "from stockfish_core.plugins import PluginRegistry; PluginRegistry().installed()",
    "load all": (
        "from stockfish_core.plugins import PluginRegistry; r = PluginRegistry(); "
        "f = r.load(r.installed()); assert not f, f"
    ),
    "cli": "from stockfish_core.cli import main; import io; main(['plugins'], out=io.StringIO())",
}


def measure(code: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    from stockfish_core.plugins import PluginRegistry

    registry = PluginRegistry()
    installed = registry.installed()
    print(f"installed plugins: {', '.join(installed)} ({len(installed)})")

    results = {}
    for name, code in CASES.items():
        results[name] = statistics.median(measure(code, args.runs))
    base = results["python"]
    print(f"{'case':<14}{'median ms':>10}{'x python':>10}{'+ms':>8}")
    for name, value in results.items():
        print(f"{name:<14}{value * 1e3:>10.1f}{value / base:>10.2f}{(value - base) * 1e3:>8.1f}")


    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "plugin_loading.json").write_text(json.dumps(
        {"installed": list(installed), "runs": args.runs,
         "median_seconds": results}, indent=2))


if __name__ == "__main__":
    main()
