"""The install lines, with the pip a fresh ``python3 -m venv`` ships (ensurepip's bundled
pip, not upgraded: 23.2.1 with Python 3.11): the core and each connector from the local
folders, extras as documented, give working connectors. One venv; pip's wheel cache
makes it quick after the first run."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow

#: What the README tells a user to run (the extras have no separator: every pip finds them).
INSTALL = ["./core", "./plugins/stockfish-zmq", "./plugins/stockfish-fix",
           "./plugins/stockfish-ibkr[ibinsync]"]


def test_the_readme_gives_these_install_lines() -> None:
    readme = (ROOT / "README.md").read_text()
    lines = [line.split("#")[0].split() for line in readme.splitlines()
             if line.startswith("pip install ")]
    given = {arg.strip("'") for line in lines for arg in line[2:]}
    assert set(INSTALL) <= given, sorted(set(INSTALL) - given)


@pytest.mark.timeout(600)
def test_bundled_pip_installs_every_connector(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    pip_version = subprocess.run([python, "-m", "pip", "--version"], capture_output=True,
                                 text=True, check=True, timeout=60).stdout
    bundled = subprocess.run([sys.executable, "-c", "import ensurepip; print(ensurepip.version())"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
    assert pip_version.split()[1] == bundled.strip()  # the pip the venv ships, not upgraded

    install = subprocess.run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", *INSTALL],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert "does not provide the extra" not in install.stdout + install.stderr

    listing = subprocess.run([env_dir / "bin" / "stockfish", "plugins", "--json",
                              "--verbose"],
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    rows = {r["name"]: r for r in json.loads(listing.stdout)["plugins"]}
    for name in ("zmq", "fix", "ibkr"):
        assert rows[name]["status"] == "loaded", rows[name]
        assert rows[name]["distribution"] == f"stockfish-{name}"

    # Each connector's config class accepts a configuration (IBKR's checks that a TWS
    # library is installed, which is what the extra brings).
    config = tmp_path / "all.yaml"
    config.write_text(
        "connectors:\n"
        "  ibkr: {primary: true, host: 127.0.0.1, port: 7497}\n"
        "  fix: {host: 127.0.0.1, port: 9876, sender_comp_id: A, target_comp_id: B}\n"
        "  zmq: {data_only: true, endpoints: ['tcp://127.0.0.1:5555']}\n"
        "manager: {journal: ':memory:'}\n"
    )
    check = subprocess.run([env_dir / "bin" / "stockfish", "config", "check", str(config)],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    library = subprocess.run([python, "-c", "import ib_insync, quickfix, zmq"],
                             capture_output=True, text=True, timeout=120)
    assert library.returncode == 0, library.stderr

    # Why the extras were renamed: this pip does not match the underscore spelling
    # against the metadata's normalised 'ib-insync' (pip 23.3 and later do).
    if tuple(int(p) for p in pip_version.split()[1].split(".")[:2]) < (23, 3):
        old = subprocess.run(
            [python, "-m", "pip", "install", "--disable-pip-version-check", "--dry-run",
             "./plugins/stockfish-ibkr[ib_insync]"],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        assert "does not provide the extra 'ib_insync'" in old.stdout + old.stderr


def _python310() -> str | None:
    """A Python 3.10 on this machine (the oldest the project supports), if there is one."""
    for candidate in ("python3.10", str(Path.home() / ".pyenv/versions/3.10.13/bin/python3")):
        found = subprocess.run(["sh", "-c", f"command -v {candidate}"], capture_output=True,
                               text=True, check=False).stdout.strip()
        if found:
            check = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"],
                                   capture_output=True, text=True, check=False, timeout=60)
            if check.returncode == 0 and check.stdout.strip() == "(3, 10)":
                return found
    return None


@pytest.mark.timeout(600)
def test_bundled_pip_of_python_3_10_installs_the_ib_extra(tmp_path: Path) -> None:
    # The extras are what differs between pips: the core and the IBKR connector with
    # its documented extra, by the pip a fresh Python 3.10 venv ships (no quickfix to
    # build: the FIX connector's install is the same on every pip).
    python310 = _python310()
    if python310 is None:
        pytest.skip("no Python 3.10 on this machine")
    env_dir = tmp_path / "venv310"
    subprocess.run([python310, "-m", "venv", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "./core",
         "./plugins/stockfish-ibkr[ibinsync]"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert "does not provide the extra" not in install.stdout + install.stderr
    listing = subprocess.run([env_dir / "bin" / "stockfish", "plugins", "--json",
                              "--verbose"],
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    rows = {r["name"]: r for r in json.loads(listing.stdout)["plugins"]}
    assert rows["ibkr"]["status"] == "loaded", rows["ibkr"]
    library = subprocess.run([python, "-c", "import ib_insync"], capture_output=True,
                             text=True, timeout=120)
    assert library.returncode == 0, library.stderr
