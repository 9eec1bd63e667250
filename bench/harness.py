"""One way of timing for every benchmark in bench/.

A benchmark compares the project with the bare library doing the same work in the same
run. This module gives every script the same method and the same report:

* ``measure(ops, work, peer=pid)`` runs ``work`` once and returns a :class:`Sample`: the
  wall time, the CPU time of this process (user + system, every thread; the measured
  side) and, when ``peer`` names a counterparty's process, that process's CPU apart, read
  from ``/proc``. ``Sample(ops, wall, cpu, peer_cpu)`` can also be built by hand when the
  measured side is a child process (``os.wait4`` gives its CPU).
* ``interleave(cases, rounds)`` runs every case once a round, in an order rotated from
  round to round, so a busy moment of this shared machine hits all cases alike.
* ``Row.compare(...)`` turns the samples of a case and of its baseline into one row of
  the report: the rate and the CPU per operation, median and range over the rounds, and
  the median of the per-round ratios against the baseline (rate: project / bare, higher
  is better; CPU: project / bare, lower is better).
* ``Report`` prints the rows as one table with the load average before and after, and
  writes ``bench/results/<name>.json`` in one shape, which ``python3 dev.py bench`` reads
  back to print every benchmark in one table.

Rates and CPU per operation are reported together: on two shared cores a wall-clock
rate moves 2x between runs; CPU time per operation moves much less.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int | None = None) -> float:
    """CPU seconds (user + system, every thread) used so far by this process, or by
    ``pid`` (from ``/proc``, in clock ticks). This process's own comes from
    ``time.process_time()``, to the microsecond: ``os.times()`` counts 10 ms ticks, too
    coarse for a short case."""
    if pid is None or pid == os.getpid():
        return time.process_time()
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / _TICKS


def thread_cpu() -> float:
    """CPU seconds used so far by the calling thread alone."""
    return time.thread_time()


@dataclass(frozen=True)
class Sample:
    """One run of one case: ``ops`` operations in ``wall`` seconds, using ``cpu`` seconds
    of the measured process and ``peer_cpu`` seconds of its counterparty (or None)."""

    ops: int
    wall: float
    cpu: float
    peer_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.ops / self.wall if self.wall > 0 else float("inf")

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.ops * 1e6 if self.ops else float("nan")

    @property
    def peer_cpu_us(self) -> float | None:
        if self.peer_cpu is None or not self.ops:
            return None
        return self.peer_cpu / self.ops * 1e6


def measure(ops: int, work: Callable[[], object], *, peer: int | None = None,
            cpu: Callable[[], float] = process_cpu) -> Sample:
    """Run ``work()`` once, timing it; ``ops`` is how many operations it performs (or,
    when ``work`` returns an int, that count is used instead)."""
    peer_before = process_cpu(peer) if peer is not None else None
    cpu_before = cpu()
    start = time.perf_counter()
    done = work()
    wall = time.perf_counter() - start
    used = cpu() - cpu_before
    peer_used = None
    if peer is not None and peer_before is not None:
        peer_used = process_cpu(peer) - peer_before
    if isinstance(done, int) and not isinstance(done, bool):
        ops = done
    return Sample(ops, wall, used, peer_used)


def interleave(cases: Mapping[str, Callable[[], Sample]], rounds: int, *,
               warmup: bool = False,
               progress: Callable[[str], None] | None = None) -> dict[str, list[Sample]]:
    """Every case once a round, the order rotated by one each round. With ``warmup``,
    each case runs once first, unrecorded."""
    names = list(cases)
    if warmup:
        for name in names:
            cases[name]()
    samples: dict[str, list[Sample]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            s = cases[name]()
            samples[name].append(s)
            if progress is not None:
                progress(f"round {r + 1}/{rounds} {name}: {s.rate:,.0f}/s, "
                         f"{s.cpu_us:.1f} us CPU/op")
    return samples


def spread(values: Iterable[float]) -> dict[str, float]:
    """Median, min and max of ``values``."""
    v = [x for x in values if x == x]  # drop NaN
    if not v:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"median": statistics.median(v), "min": min(v), "max": max(v)}


@dataclass
class Row:
    """One line of a report: a case, what it is compared against, and the figures."""

    case: str
    baseline: str
    unit: str
    rounds: int
    rate: dict[str, float]
    cpu_us: dict[str, float]
    peer_cpu_us: dict[str, float] | None = None
    rate_x: dict[str, float] | None = None
    cpu_x: dict[str, float] | None = None
    goal: str = ""
    verdict: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, case: str, samples: list[Sample], *, unit: str = "op",
           baseline: str = "", bare: list[Sample] | None = None, goal: str = "",
           rate_goal: float | None = None, cpu_goal: float | None = None,
           **extra: Any) -> Row:
        """A row for ``samples``; with ``bare``, the per-round ratios against it (the
        rounds are paired in order, as ``interleave`` ran them). ``rate_goal`` (at least
        that rate ratio) and ``cpu_goal`` (at most that CPU ratio) give the verdict."""
        peers = [s.peer_cpu_us for s in samples if s.peer_cpu_us is not None]
        row = cls(case=case, baseline=baseline, unit=unit, rounds=len(samples),
                  rate=spread(s.rate for s in samples),
                  cpu_us=spread(s.cpu_us for s in samples),
                  peer_cpu_us=spread(peers) if peers else None, goal=goal, extra=extra)
        if bare:
            pairs = list(zip(samples, bare, strict=True))
            row.rate_x = spread(p.rate / b.rate for p, b in pairs if b.rate)
            row.cpu_x = spread(p.cpu_us / b.cpu_us for p, b in pairs if b.cpu_us)
        verdicts = []
        if rate_goal is not None and row.rate_x is not None:
            verdicts.append(row.rate_x["median"] >= rate_goal)
        if cpu_goal is not None and row.cpu_x is not None:
            verdicts.append(row.cpu_x["median"] <= cpu_goal)
        if verdicts:
            row.verdict = "met" if all(verdicts) else "NOT met"
        return row


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _span(d: Mapping[str, float] | None, digits: int = 1, suffix: str = "") -> str:
    if not d:
        return "-"
    return (f"{_fmt(d['median'], digits)}{suffix} "
            f"({_fmt(d['min'], digits)}-{_fmt(d['max'], digits)})")


def table(rows: Iterable[Mapping[str, Any]], *, title: str | None = None) -> str:
    """Rows (as dicts) as a plain-text table, one line each."""
    head = ("benchmark", "case", "rate/s", "CPU us/op", "peer CPU us/op",
            "rate x bare", "CPU x bare", "baseline", "goal")
    lines = []
    for r in rows:
        lines.append((
            str(r.get("benchmark", "")), str(r["case"]), _span(r["rate"], 0),
            _span(r["cpu_us"], 2), _span(r.get("peer_cpu_us"), 2),
            _span(r.get("rate_x"), 2, "x"), _span(r.get("cpu_x"), 2, "x"),
            str(r.get("baseline", "")),
            (f"{r.get('goal', '')} {r.get('verdict', '')}").strip()))
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(head)]
    out = [] if title is None else [title]
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    out.extend("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
               for line in lines)
    return "\n".join(out)


class Report:
    """The rows of one benchmark run, with the load average around it."""

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self.rows: list[Row] = []
        self.extra: dict[str, Any] = {}
        self.load_before = os.getloadavg()
        self.started = time.time()

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def as_dict(self) -> dict[str, Any]:
        load_after = os.getloadavg()
        return {
            "benchmark": self.name,
            "description": self.description,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(time.time() - self.started, 1),
            "load_average": [round(self.load_before[0], 2), round(load_after[0], 2)],
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "rows": [{"benchmark": self.name, **asdict(r)} for r in self.rows],
            "extra": self.extra,
        }

    def finish(self, out: Path | None = None) -> Path:
        """Print the table and write the JSON; returns the file written."""
        data = self.as_dict()
        print(table(data["rows"]))
        la = data["load_average"]
        print(f"load average {la[0]:.2f} before, {la[1]:.2f} after; "
              f"{data['seconds']:.0f} s")
        path = out or RESULTS / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
        print(f"written to {path}")
        return path


def collect(directory: Path = RESULTS) -> str:
    """Every result file's rows in one table (what ``python3 dev.py bench`` prints)."""
    rows: list[Mapping[str, Any]] = []
    loads = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        if not isinstance(data, dict) or "rows" not in data:
            continue
        rows.extend(data["rows"])
        la = data.get("load_average") or ["?", "?"]
        loads.append(f"{data.get('benchmark', path.stem)} {la[0]}-{la[1]}")
    text = table(rows)
    if loads:
        text += "\nload average (before-after): " + ", ".join(loads)
    return text


if __name__ == "__main__":
    print(collect(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS))
