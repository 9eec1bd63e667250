#!/usr/bin/env python3
"""Everything a developer runs, on a machine with nothing but Python.

    python3 dev.py test [PYTEST ARGS]   install into .venv (first run), then run every test;
                                        with no arguments, the IBKR tests run a second
                                        time on ib_async (in .venv-ib_async)
    python3 dev.py demo [--duration S]  the three venue simulators, a failover, a summary
    python3 dev.py lint                 ruff and mypy over all packages
    python3 dev.py bench [NAME ...]     run the benchmarks in bench/ (or those named), then
                                        print every result in one table; --quick: small
                                        counts and 2 rounds each (a check that they run)
    python3 dev.py fuzz [PYTEST ARGS]   the fuzz suite's long profile (10,000+ cases a test)
    python3 dev.py docs [--serve]       build the documentation site (strict) into site/;
                                        --serve: serve it on http://127.0.0.1:8000
    python3 dev.py env                  only create/refresh .venv

The virtual environment is .venv in the repository; it is refreshed when a pyproject.toml
changes. Override its location with STOCKFISH_VENV. The first run builds quickfix from
source (several minutes); pip caches the wheel, so later runs take seconds.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("STOCKFISH_VENV", ROOT / ".venv"))

#: Every distribution in the repository, installed editable with its test extras.
DISTRIBUTIONS = [
    "core[test,dashboard,metrics,data]",
    "plugins/stockfish-zmq[test,fast]",
    "plugins/stockfish-fix[test]",
    "plugins/stockfish-ibkr[test,ibinsync]",
    "compat/stockfish-realtime",
    "examples/stockfish-jsonvenue",
    "strategy[test,calendars]",
]
#: The documentation site's generator (mkdocs.yml); nothing it uses is fetched at build time.
DOCS_TOOLS = [
    "mkdocs>=1.6,<2",
    "mkdocs-material>=9.5,<10",
    "mkdocstrings[python]>=0.26",
    "griffe-sphinx>=0.2",
]
TOOLS = ["ruff>=0.5", "mypy>=1.10", "types-PyYAML", *DOCS_TOOLS]

#: ib_insync and ib_async install the same `eventkit` module: one library per environment.
IB_ASYNC_VENV = VENV.with_name(VENV.name + "-ib_async")
IB_ASYNC_DISTRIBUTIONS = ["core[test]", "plugins/stockfish-ibkr[test,ibasync]"]


def python(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / "python"


PY = python(VENV)


def run(*cmd: str | Path, **kwargs: object) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=False, **kwargs).returncode  # type: ignore[call-overload]


def bench(args: list[str]) -> int:
    """Every benchmark script in bench/ (or those named: ``dev.py bench fix_roundtrip``),
    then one table of every result in bench/results/ (bench/harness.py)."""
    names = [a for a in args if not a.startswith("-")]
    flags = [a for a in args if a.startswith("-")]
    scripts = sorted(p for p in (ROOT / "bench").glob("*.py") if p.stem != "harness")
    if names:
        scripts = [p for p in scripts if p.stem in names]
    failures = 0
    for script in scripts:
        failures += run(PY, script, *flags) != 0
    print()
    run(PY, ROOT / "bench" / "harness.py")
    return 1 if failures else 0


def fingerprint(distributions: list[str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("**/pyproject.toml")):
        if ".venv" in path.parts or ".tox" in path.parts:
            continue
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    digest.update(" ".join(distributions).encode())
    return digest.hexdigest()


def ensure_env(env: Path = VENV, distributions: list[str] | None = None,
               tools: list[str] | None = None) -> None:
    distributions = DISTRIBUTIONS if distributions is None else distributions
    tools = TOOLS if tools is None else tools
    py = python(env)
    stamp = env / ".stockfish-installed"
    want = fingerprint(distributions + tools)
    if stamp.exists() and stamp.read_text() == want and py.exists():
        return
    if not py.exists():
        print(f"creating virtual environment {env}", flush=True)
        venv.EnvBuilder(with_pip=True).create(env)
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check"]
    steps = [
        [*pip, "--upgrade", "pip", "setuptools>=77", "wheel"],
        *([[*pip, *tools]] if tools else []),
        [*pip, *[arg for d in distributions for arg in ("-e", d)]],
    ]
    for step in steps:
        if run(*step) != 0:
            sys.exit("installing the development environment failed (see above)")
    stamp.write_text(want)


def docs(args: list[str]) -> int:
    """Build the site in strict mode (a warning fails it), or serve it on 127.0.0.1."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    if args[:1] == ["--serve"]:
        return run(PY, "-m", "mkdocs", "serve", "--strict", "--dev-addr", "127.0.0.1:8000",
                   *args[1:], env=env)
    return run(PY, "-m", "mkdocs", "build", "--strict", "--clean", *args, env=env)


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("test", [])
    if command not in ("test", "demo", "lint", "bench", "env", "fuzz", "docs"):
        print(__doc__)
        return 2
    ensure_env()
    if command == "env":
        return 0
    if command == "demo":
        return run(PY, "-m", "stockfish_core.cli", "demo", *rest)
    if command == "fuzz":
        return run(PY, "-m", "pytest", "tests/fuzz", "--timeout=0", *rest,
                   env={**os.environ, "HYPOTHESIS_PROFILE": "long"})
    if command == "test":
        # .venv has ib_insync; the IBKR tests run on ib_async below, in their own venv.
        code = run(PY, "-m", "pytest", *rest,
                   env={"STOCKFISH_IBKR_LIBRARY": "ib_insync", **os.environ})
        if rest:
            return code
        # The IBKR connector on its other library, ib_async, in an environment of its own.
        ensure_env(IB_ASYNC_VENV, IB_ASYNC_DISTRIBUTIONS, [])
        code_async = run(python(IB_ASYNC_VENV), "-m", "pytest", "plugins/stockfish-ibkr/tests",
                         env={**os.environ, "STOCKFISH_IBKR_LIBRARY": "ib_async"})
        return code or code_async
    if command == "docs":
        return docs(rest)
    if command == "lint":
        code = run(PY, "-m", "ruff", "check", ".")
        return run(PY, "-m", "mypy") or code
    return bench(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
