"""Every annotated example configuration passes `stockfish config check` with the
project's plugins installed, so the examples the README points to are always right."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stockfish_core.cli import main

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "examples" / "config").glob("*.yaml"))


def test_there_is_an_example_for_each_plugin() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"sim", "zmq", "fix", "ibkr", "all"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_config_checks(path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FIX_PASSWORD", "example-only")
    out = io.StringIO()
    code = main(["config", "check", str(path)], out=out)
    assert code == 0, capsys.readouterr().err
    assert "OK" in out.getvalue()
