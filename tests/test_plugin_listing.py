"""`stockfish plugins` lists the installed connectors from their metadata alone: with no
configuration it imports none of them, nor the venue libraries they wrap."""

from __future__ import annotations

import json
import os
import subprocess
import sys

#: What importing a connector would bring in (numpy comes with ib_insync's dependencies).
HEAVY = ("stockfish_zmq", "stockfish_fix", "stockfish_ibkr", "zmq", "quickfix", "ib_insync",
         "ib_async", "numpy")

LISTING = """
import io, json, sys
from stockfish_core.cli import main
out = io.StringIO()
code = main(["plugins", *sys.argv[1:]], out=out)
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def listing(*args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "STOCKFISH_CONFIG"}
    done = subprocess.run([sys.executable, "-c", LISTING, *args], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    result: dict = json.loads(done.stdout)
    return result


def test_plugins_imports_no_connector_and_no_venue_library() -> None:
    result = listing("--json")
    imported = [m for m in HEAVY if m in result["modules"]]
    assert imported == []
    rows = {r["name"]: r for r in json.loads(result["out"])["plugins"]}
    # The three connectors are installed (the development environment), and listed with
    # their distribution's name, version and summary.
    for name in ("zmq", "fix", "ibkr"):
        assert rows[name]["distribution"] == f"stockfish-{name}"
        assert rows[name]["version"] and rows[name]["summary"]
        assert rows[name]["status"] == "not loaded"
    assert result["code"] == 0


def test_plugins_reads_metadata_only() -> None:
    """Listing costs little more than the entry-point scan: none of the core's machinery
    (pluggy, attrs, asyncio, PyYAML, logging) and no other distribution's commands."""
    result = listing()
    light = ("pluggy", "attr", "asyncio", "yaml", "cattrs", "logging", "stockfish_strategy",
             "stockfish_core.plugins", "stockfish_core.models")
    assert [m for m in light if m in result["modules"]] == []
    assert "zmq" in result["out"] and result["code"] == 0


def test_plugins_verbose_imports_them_to_show_their_hooks() -> None:
    result = listing("--verbose", "--json")
    rows = {r["name"]: r for r in json.loads(result["out"])["plugins"]}
    for name in ("zmq", "fix", "ibkr"):
        assert rows[name]["status"] == "loaded", rows[name]
        assert "execute" in rows[name]["hooks"] or name == "zmq"
        assert f"stockfish_{name}" in result["modules"]
