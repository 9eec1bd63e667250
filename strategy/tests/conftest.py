"""Fixtures: recordings written directly (stockfish_strategy.testing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockfish_strategy.testing import bar_updates, closes, record


@pytest.fixture
def bars(tmp_path: Path) -> Path:
    """120 hourly bars of AAPL (five days: a recording holds a folder a day)."""
    return record(tmp_path / "daily", bar_updates("AAPL", closes()))
