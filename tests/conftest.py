"""Cross-package tests: real installs of the project's distributions into throwaway
folders, run by a Python that sees nothing else (``python -S``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class Isolated:
    """A folder with some distributions installed, and a way to run Python on it alone."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def python(self, code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        bootstrap = f"import sys; sys.path.insert(0, {str(self.path)!r}); "
        return subprocess.run(
            [sys.executable, "-S", "-c", bootstrap + code, *args],
            capture_output=True, text=True, timeout=60, cwd=cwd,
        )

    def stockfish(self, *argv: str) -> subprocess.CompletedProcess:
        return self.python(
            "from stockfish_core.cli import main; sys.exit(main(sys.argv[1:]))", *argv
        )


@pytest.fixture
def isolated_install(tmp_path: Path) -> Callable[..., Isolated]:
    """Install the given project folders (relative to the repository) with their
    dependencies into a new folder."""

    def install(*folders: str) -> Isolated:
        target = tmp_path / "site"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-build-isolation", "--target", str(target),
             *(str(ROOT / f) for f in folders)],
            check=True, timeout=300, capture_output=True,
        )
        return Isolated(target)

    return install
