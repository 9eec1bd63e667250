"""The skeleton plugin of docs/plugin-guide.md ("A skeleton to copy"), taken from the
page as a user copies it: its files have the plugin shape, import only the plugin API
from the core, and its own test passes against its simulator on 127.0.0.1."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugin-guide.md"
BLOCK = re.compile(r'^```(?:python|toml) title="([^"]+)"\n(.*?)^```$', re.M | re.S)
ROLES = ["plugin.py", "config.py", "session.py", "marketdata.py", "orders.py",
         "testing/__init__.py", "testing/__main__.py", "testing/cli.py"]


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The skeleton's files, written where their titles say."""
    root = tmp_path_factory.mktemp("guide")
    blocks = BLOCK.findall(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 10, "the guide shows the skeleton's files"
    for title, text in blocks:
        path = root / title
        assert not path.exists(), f"{title} is shown twice"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "stockfish-myvenue"


def run(skeleton: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(skeleton / "src")}
    return subprocess.run([sys.executable, *args], cwd=skeleton, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_skeleton_has_the_plugin_shape(skeleton: Path) -> None:
    package = skeleton / "src" / "stockfish_myvenue"
    assert [role for role in ROLES if not (package / role).is_file()] == []
    pyproject = (skeleton / "pyproject.toml").read_text()
    assert 'myvenue = "stockfish_myvenue.plugin"' in pyproject
    assert 'stockfish-myvenue-sim = "stockfish_myvenue.testing.cli:main"' in pyproject
    assert 'test = ["stockfish-core[test]"]' in pyproject


def test_the_skeleton_imports_only_the_plugin_api(skeleton: Path) -> None:
    wrong = []
    for path in sorted(skeleton.rglob("*.py")):
        testing = "testing" in path.parts or "tests" in path.parts
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                    node.module.split(".")[0] == "stockfish_core":
                allowed = ["stockfish_core.plugin_api"] + (["stockfish_core.testing"]
                                                           if testing else [])
                if node.module not in allowed:
                    wrong.append(f"{path.relative_to(skeleton)}: {node.module}")
    assert wrong == []


def test_the_skeletons_own_test_passes_against_its_simulator(skeleton: Path) -> None:
    result = run(skeleton, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_python_m_testing_runs_the_simulator(skeleton: Path) -> None:
    result = run(skeleton, "-m", "stockfish_myvenue.testing", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: stockfish-myvenue-sim")


def test_the_skeleton_loads_as_a_plugin(skeleton: Path) -> None:
    result = run(skeleton, "-c", (
        "from stockfish_core.plugins import PluginRegistry\n"
        "import stockfish_myvenue.plugin as p\n"
        "loaded = PluginRegistry(entry_points=()).register(p, 'myvenue')\n"
        "print(sorted(loaded.spec.capabilities.order_types))\n"))
    assert result.returncode == 0, result.stderr
    assert "LIMIT" in result.stdout.upper()
