"""One plugin shape: the same module names for the same roles in every plugin, the same
simulator script naming and the same test extras (issue 19, item 7).

- ``plugin.py`` the hook implementations, ``config.py`` the settings class,
  ``session.py`` the connection, ``marketdata.py`` normalize, ``orders.py`` the order
  path (a plugin that takes orders);
- ``testing/`` the simulator: ``cli.py`` its command line, ``__main__.py`` so that
  ``python -m stockfish_<name>.testing`` runs it, and the script ``stockfish-<name>-sim``;
- the ``test`` extra is the core's (with the core's other extras its tests need).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.name.removeprefix("stockfish-") for p in (ROOT / "plugins").glob("stockfish-*"))
ROLES = ["plugin.py", "config.py", "session.py", "marketdata.py", "testing/__init__.py",
         "testing/__main__.py", "testing/cli.py"]
def is_the_cores_test_extra(requirements: list[str]) -> bool:
    """One requirement: stockfish-core with its ``test`` extra (and others, such as
    ``data`` for tests that go through the history cache), any version bound."""
    if len(requirements) != 1:
        return False
    name, _, rest = requirements[0].partition("[")
    extras = rest.partition("]")[0].split(",")
    return name == "stockfish-core" and "test" in extras


def pyproject(folder: Path) -> dict:
    with (folder / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def test_the_plugins_are_found() -> None:
    assert {"fix", "ibkr", "zmq"} <= set(PLUGINS)


@pytest.mark.parametrize("name", PLUGINS)
def test_modules_by_role(name: str) -> None:
    package = ROOT / "plugins" / f"stockfish-{name}" / "src" / f"stockfish_{name}"
    missing = [role for role in ROLES if not (package / role).is_file()]
    assert missing == []
    spec = importlib.import_module(f"stockfish_{name}.plugin").stockfish_plugin_spec()
    takes_orders = bool(spec.capabilities.order_types)
    assert (package / "orders.py").is_file() == takes_orders, \
        "orders.py holds the order path of a plugin that takes orders (and only then)"


@pytest.mark.parametrize("name", PLUGINS)
def test_pyproject_entry_point_script_and_extras(name: str) -> None:
    project = pyproject(ROOT / "plugins" / f"stockfish-{name}")["project"]
    assert project["entry-points"]["stockfish"] == {name: f"stockfish_{name}.plugin"}
    scripts = project["scripts"]
    assert scripts[f"stockfish-{name}-sim"] == f"stockfish_{name}.testing.cli:main"
    # Earlier names stay as aliases of the same command; no script runs anything else.
    assert set(scripts.values()) == {f"stockfish_{name}.testing.cli:main"}
    assert is_the_cores_test_extra(project["optional-dependencies"]["test"])


def test_the_example_plugin_has_the_same_test_extra() -> None:
    for example in ("stockfish-csvfeed", "stockfish-jsonvenue"):
        project = pyproject(ROOT / "examples" / example)["project"]
        assert is_the_cores_test_extra(project["optional-dependencies"]["test"]), example


@pytest.mark.parametrize("name", PLUGINS)
def test_the_installed_script_and_python_m_run_the_simulator(name: str) -> None:
    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert scripts.get(f"stockfish-{name}-sim") == f"stockfish_{name}.testing.cli:main"
    run = subprocess.run([sys.executable, "-m", f"stockfish_{name}.testing", "--help"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"usage: stockfish-{name}-sim")
