"""bench/harness.py, the one way every benchmark times and reports, checked without
timing anything: samples are built by hand, cases return them."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "bench" / "harness.py"


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_harness", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_sample_rate_and_cpu_per_operation(harness: ModuleType) -> None:
    s = harness.Sample(ops=1000, wall=0.5, cpu=0.25, peer_cpu=0.1)
    assert s.rate == 2000
    assert s.cpu_us == pytest.approx(250.0)
    assert s.peer_cpu_us == pytest.approx(100.0)
    assert harness.Sample(ops=10, wall=1.0, cpu=0.1).peer_cpu_us is None


def test_interleave_rotates_the_order_every_round(harness: ModuleType) -> None:
    calls: list[str] = []

    def case(name: str) -> Callable[[], Any]:
        def run() -> Any:
            calls.append(name)
            return harness.Sample(1, 1.0, 1.0)
        return run

    samples = harness.interleave({n: case(n) for n in "abc"}, 4)
    assert calls == list("abc" "bca" "cab" "abc")
    assert {n: len(s) for n, s in samples.items()} == {"a": 4, "b": 4, "c": 4}


def test_interleave_warm_up_runs_each_case_once_unrecorded(harness: ModuleType) -> None:
    calls: list[str] = []
    cases = {n: (lambda n=n: calls.append(n) or harness.Sample(len(calls), 1.0, 1.0))
             for n in "ab"}
    samples = harness.interleave(cases, 2, warmup=True)
    assert calls == list("ab" "ab" "ba")
    # The warm-up's samples (ops 1 and 2) are not among those recorded.
    assert [s.ops for s in samples["a"]] == [3, 6]
    assert [s.ops for s in samples["b"]] == [4, 5]


def test_row_pairs_the_rounds_in_order_for_its_ratios(harness: ModuleType) -> None:
    Sample = harness.Sample
    # Round by round the project runs at half, then a quarter, then the same rate as the
    # baseline; the medians of the rates alone would give another ratio (200/400).
    project = [Sample(100, 1.0, 0.2), Sample(100, 0.5, 0.1), Sample(100, 0.25, 0.3)]
    bare = [Sample(100, 0.5, 0.1), Sample(100, 0.125, 0.1), Sample(100, 0.25, 0.1)]
    row = harness.Row.of("p", project, baseline="bare", bare=bare, rate_goal=0.5,
                         cpu_goal=2.0)
    assert row.rounds == 3
    assert row.rate == {"median": 200.0, "min": 100.0, "max": 400.0}
    assert row.rate_x == {"median": 0.5, "min": 0.25, "max": 1.0}
    assert row.cpu_x["median"] == pytest.approx(2.0)
    assert row.cpu_x["min"] == pytest.approx(1.0)
    assert row.cpu_x["max"] == pytest.approx(3.0)
    assert row.verdict == "met"
    assert harness.Row.of("p", project, bare=bare, rate_goal=0.6).verdict == "NOT met"
    assert harness.Row.of("p", project, bare=bare, cpu_goal=1.5).verdict == "NOT met"


def test_row_refuses_unpaired_rounds_and_has_no_ratio_without_a_baseline(
        harness: ModuleType) -> None:
    Sample = harness.Sample
    with pytest.raises(ValueError, match="zip"):
        harness.Row.of("p", [Sample(1, 1.0, 1.0)] * 2, bare=[Sample(1, 1.0, 1.0)] * 3)
    row = harness.Row.of("alone", [Sample(1, 1.0, 1.0, 0.5)], rate_goal=1.0)
    assert row.rate_x is None and row.cpu_x is None and row.verdict == ""
    assert row.peer_cpu_us == {"median": 500000.0, "min": 500000.0, "max": 500000.0}


def test_spread_drops_nan(harness: ModuleType) -> None:
    assert harness.spread([3.0, float("nan"), 1.0, 2.0]) == {
        "median": 2.0, "min": 1.0, "max": 3.0}
    empty = harness.spread([float("nan")])
    assert all(v != v for v in empty.values())


def test_collect_prints_every_result_file_in_one_table(harness: ModuleType,
                                                       tmp_path: Path) -> None:
    Sample = harness.Sample
    first = harness.Report("alpha", "the first")
    first.add(harness.Row.of("fast case", [Sample(1000, 1.0, 0.5)], unit="op",
                             baseline="bare thing", bare=[Sample(1000, 0.5, 0.25)],
                             goal="rate >= 0.4x", rate_goal=0.4))
    first.extra = {"note": 1}
    path = first.finish(tmp_path / "alpha.json")
    data = json.loads(path.read_text())
    assert data["benchmark"] == "alpha"
    assert len(data["load_average"]) == 2
    assert data["rows"][0]["benchmark"] == "alpha"
    assert data["rows"][0]["rate_x"]["median"] == 0.5
    assert data["extra"] == {"note": 1}

    second = harness.Report("beta")
    second.add(harness.Row.of("other", [Sample(10, 1.0, 1.0)]))
    second.finish(tmp_path / "beta.json")
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"no": "rows"}))

    text = harness.collect(tmp_path)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["benchmark", "case", "rate/s"]
    alpha = next(line for line in lines if line.startswith("alpha"))
    assert "fast case" in alpha and "bare thing" in alpha and "rate >= 0.4x met" in alpha
    assert "0.50x (0.50-0.50)" in alpha  # rate x bare: median (range)
    assert "1,000 (1,000-1,000)" in alpha  # the rate, median (range)
    beta = next(line for line in lines if line.startswith("beta"))
    assert beta.split()[1:2] == ["other"]
    assert "x (" not in beta  # no baseline: no ratios
    assert lines[-1].startswith("load average (before-after): alpha ")
    assert "beta " in lines[-1]
    assert "broken" not in text and "other " not in lines[-1]
