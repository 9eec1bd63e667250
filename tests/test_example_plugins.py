"""The example plugins as a third party has them: their tests run from a copy of their
folder with only their own pyproject.toml, and the conformance suite catches the order
bugs a venue plugin is known to have (each injected into the JSON venue in turn)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

pytestmark = pytest.mark.slow


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(EXAMPLES / name, target,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache"))
    return target


def _pytest(folder: Path, *args: str, path: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PYTHONPATH"))}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (*path, folder / "src"))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("name", ["stockfish-jsonvenue", "stockfish-csvfeed"])
def test_an_example_s_tests_run_from_a_copy_of_its_folder(name: str, tmp_path: Path) -> None:
    folder = _copy(name, tmp_path)
    assert not (tmp_path / "pyproject.toml").exists()
    result = _pytest(folder)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"rootdir: {folder}" in result.stdout
    assert "configfile: pyproject.toml" in result.stdout
    assert " passed" in result.stdout and " failed" not in result.stdout


#: Each bug a venue plugin was seen with, as a change to the JSON venue plugin, the
#: conformance test that must catch it (None: the first that sends an order) and what
#: its failure says.
BUGS = {
    "a fill reported twice with the same execution id": (
        """
real = pv.on_fill
def on_fill(connector, event):
    real(connector, event)
    real(connector, event)
pv.on_fill = on_fill
""", None, "duplicate_fills=2"),
    "a fill reported twice with a new execution id": (
        """
real = pv.on_fill
def on_fill(connector, event):
    real(connector, event)
    real(connector, {**event, "exec": event["exec"] + "-again"})
pv.on_fill = on_fill
""", None, "refused_fills="),
    "STATUS never answered": (
        """
pv.on_status = lambda connector, event: None
""", "test_status_of_an_unknown_order_is_rejected", "the answer to STATUS"),
    "an unknown order answered as still open": (
        """
real = pv.on_status
def on_status(connector, event):
    real(connector, {**event, "state": event["state"] or "SUBMITTED"})
pv.on_status = on_status
""", "test_status_of_an_unknown_order_is_rejected", "not CONFORMANCE-NEVER-SENT-1 SUBMITTED"),
    "a STATUS answer without its fills": (
        """
real = pv.on_status
def on_status(connector, event):
    real(connector, {**event, "fills": []})
pv.on_status = on_status
""", "test_status_answer_carries_the_fills", "a STATUS answer states the order's fills"),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_the_conformance_suite_catches_the_bug(bug: str, tmp_path: Path) -> None:
    patch, failing_test, says = BUGS[bug]
    folder = _copy("stockfish-jsonvenue", tmp_path)
    (tmp_path / "bug").mkdir()
    (tmp_path / "bug" / "venue_bug.py").write_text("import stockfish_jsonvenue as pv\n" + patch)
    result = _pytest(folder, "-x", "-p", "venue_bug", "tests/test_conformance.py",
                     path=(tmp_path / "bug",))
    output = result.stdout
    assert result.returncode == 1, output[-4000:] + result.stderr[-2000:]
    failed = [line for line in output.splitlines()
              if line.startswith(("FAILED", "ERROR")) and "test_conformance.py" in line]
    assert failed, output[-4000:]
    if failing_test is not None:
        assert failing_test in failed[0], output[-4000:]
    assert says in output, output[-4000:]
    assert "what the connector reported" in output  # the failure shows the reports
