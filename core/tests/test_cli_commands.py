"""Commands added by installed distributions through the ``stockfish.commands`` entry
points: present when their distribution is installed, absent otherwise, a broken one
left out with a message."""

from __future__ import annotations

import io
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from stockfish_core import cli

BUILTIN = {"plugins", "run", "demo", "record", "history", "config", "journal"}


def _subcommands() -> set[str]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return set(action.choices)  # type: ignore[arg-type]


def _install(tmp_path: Path, name: str, module: str, body: str) -> None:
    """A distribution on sys.path: metadata with a stockfish.commands entry point."""
    dist = tmp_path / f"{name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[stockfish.commands]\n{name} = {module}:register\n")
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(body))


def test_only_installed_distributions_add_commands() -> None:
    provided = {ep.name for ep in entry_points(group=cli.COMMANDS_GROUP)}
    names = _subcommands()
    assert names >= BUILTIN
    # Every extra command comes from an installed distribution's entry point: with no
    # such distribution installed there are none.
    extra = names - BUILTIN
    assert bool(extra) == bool(provided)


def test_an_installed_distribution_adds_a_working_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "hello" not in _subcommands()
    _install(tmp_path, "hello", "hello_cmd", """
        def run(args, out):
            out.write(f"hello {args.who}\\n")
            return 3

        def register(sub):
            p = sub.add_parser("hello", help="say hello")
            p.add_argument("who")
            p.set_defaults(func=run)
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "hello" in _subcommands()
    out = io.StringIO()
    assert cli.main(["hello", "world"], out) == 3
    assert out.getvalue() == "hello world\n"
    monkeypatch.delitem(sys.modules, "hello_cmd", raising=False)


def test_a_broken_command_plugin_is_left_out_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _install(tmp_path, "broken", "broken_cmd", """
        def register(sub):
            sub.add_parser("half")
            raise RuntimeError("cannot register")
    """)
    _install(tmp_path, "quitter", "quitter_cmd", """
        import sys
        sys.exit(3)
    """)
    _install(tmp_path, "thief", "thief_cmd", """
        def register(sub):
            sub.add_parser("run")
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    names = _subcommands()
    assert "half" not in names
    err = capsys.readouterr().err
    assert "commands of broken" in err
    assert "RuntimeError: cannot register" in err
    assert "the command 'run' already exists" in err
    assert "commands of quitter" in err and "SystemExit: 3" in err
    assert names >= BUILTIN
    for module in ("broken_cmd", "quitter_cmd", "thief_cmd"):
        monkeypatch.delitem(sys.modules, module, raising=False)
