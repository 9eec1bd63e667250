"""The ``stockfish`` command line tool.

``stockfish plugins``            installed plugins and versions (imports none); --verbose: hooks
``stockfish config check FILE``  validate a configuration (exit 0, or 1 with the problems)
``stockfish run [FILE]``         run a configuration: live dashboard, or ``--headless`` JSON
``stockfish demo``               the three venue simulators, a failover, and a summary
``stockfish record FILE --out DIR``   record what a configuration delivers, as Parquet
``stockfish history SYMBOL ...``      download historical bars into a Parquet cache
``stockfish journal compact``    remove old final orders from the order journal
``stockfish journal archive``    move old final orders into an archive file

Installed distributions add commands through the entry-point group ``stockfish.commands``
(stockfish-strategy adds ``backtest``): each entry point is a function that takes the
argparse subparsers and adds its own (see :func:`add_plugin_commands`); an install
without them has none of their commands.

One broken plugin never stops the tool: it is reported and the rest still work.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .__about__ import API_VERSION, __version__

if TYPE_CHECKING:
    from .config import Config
    from .discovery import PluginInfo
    from .plugins import PluginRegistry

# The core's modules are imported by the commands that use them: `stockfish plugins`
# with no configuration reads entry points and metadata only (stockfish_core.discovery).

__all__ = ["COMMANDS_GROUP", "add_plugin_commands", "main"]

Command = Callable[[argparse.Namespace, TextIO], int]

#: The entry-point group through which distributions add ``stockfish`` subcommands.
COMMANDS_GROUP = "stockfish.commands"


def _short_hook(name: str) -> str:
    return name.removeprefix("stockfish_")


def plugin_rows(registry: PluginRegistry | None, config: Config | None,
                verbose: bool = False) -> list[dict[str, Any]]:
    """One row per installed plugin, from its entry point and its distribution's metadata.

    Only the plugins a configuration enables are loaded (imported), or every installed
    one with ``verbose``: with neither, nothing is imported and a row has no hooks. With
    no ``registry``, the rows come from the metadata alone (nothing may be loaded).
    """
    if registry is None:
        if config is not None or verbose:
            raise ValueError("loading plugins needs a PluginRegistry")
        from .discovery import scan

        found = scan()
        installed = {name: infos[0] for name, infos in sorted(found.items())}
        conflicts = {n: i for n, i in sorted(found.items()) if len(i) > 1}
        return [_row(name, info, None, None, conflicts) for name, info in installed.items()]
    from .errors import PluginError

    installed = registry.installed()
    enabled = set(config.enabled_plugins()) if config is not None else set()
    to_load = set(installed) if verbose else enabled & set(installed)
    for name in sorted(to_load):
        try:
            registry.load([name])
        except PluginError as exc:
            registry.failures.setdefault(name, _failure(name, str(exc)))
    conflicts = registry.conflicts()
    rows = []
    for name, info in installed.items():
        row = _row(name, info, registry.loaded.get(name), registry.failures.get(name),
                   conflicts)
        if config is not None:
            row["enabled"] = name in enabled
        rows.append(row)
    if config is not None:
        for name in sorted(enabled - set(installed)):
            rows.append({"name": name, "distribution": f"stockfish-{name}", "version": None,
                         "summary": None, "module": None, "builtin": False, "enabled": True,
                         "status": "not installed", "hooks": [], "capabilities": None,
                         "error": f"pip install stockfish-{name}"})
    return rows


def _row(name: str, info: PluginInfo, loaded: Any, failure: Any,
         conflicts: dict[str, list[PluginInfo]]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "distribution": info.distribution,
        "version": info.version,
        "summary": info.summary,
        "module": info.value,
        "builtin": info.builtin,
        "enabled": None,
        "status": "loaded" if loaded else ("failed" if failure else "not loaded"),
        "hooks": [_short_hook(h) for h in loaded.hook_names] if loaded else [],
        "capabilities": (
            loaded.spec.capabilities.describe() if loaded and loaded.spec else None
        ),
        "error": failure.reason if failure else None,
    }
    if name in conflicts:
        row["status"] = "conflict"
        row["error"] = "claimed by " + ", ".join(str(i.distribution) for i in conflicts[name])
    return row


def _failure(name: str, reason: str) -> Any:
    from .plugins import PluginFailure

    return PluginFailure(name, reason)


def cmd_plugins(args: argparse.Namespace, out: TextIO) -> int:
    registry = None
    config = None
    config_path = args.config or os.environ.get("STOCKFISH_CONFIG")
    if config_path or args.verbose:
        from .plugins import PluginRegistry

        _configure_logging(args)
        registry = PluginRegistry()
    if config_path:
        from .config import load_config
        from .errors import ConfigError

        try:
            config = load_config(config_path, registry, validate_plugins=False)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
    rows = plugin_rows(registry, config, verbose=args.verbose)
    if args.json:
        import json

        json.dump({"core": __version__, "api": API_VERSION, "plugins": rows}, out, indent=2)
        out.write("\n")
    else:
        _print_plugins(rows, out)
        if not args.verbose and any(r["status"] == "not loaded" for r in rows):
            out.write("(not loaded: their hooks and capabilities with --verbose)\n")
    return 1 if any(r["status"] in ("failed", "conflict", "not installed") for r in rows) else 0


def _print_plugins(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    out.write(f"stockfish-core {__version__} (plugin API {API_VERSION})\n")
    if not rows:
        out.write("no plugins installed; install one, e.g.: pip install stockfish-zmq\n")
        return
    headers = ["NAME", "DISTRIBUTION", "VERSION", "ENABLED", "STATUS"]
    table = []
    for r in rows:
        dist = r["distribution"] or "?"
        if r["builtin"]:
            dist += " (built-in)"
        enabled = "-" if r["enabled"] is None else ("yes" if r["enabled"] else "no")
        table.append([r["name"], dist, r["version"] or "-", enabled, r["status"]])
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out.write(line.format(*headers).rstrip() + "\n")
    for r, t in zip(rows, table, strict=True):
        out.write(line.format(*t).rstrip() + "\n")
        indent = " " * 2
        if r.get("summary"):
            out.write(f"{indent}{r['summary']}\n")
        if r["hooks"]:
            out.write(f"{indent}hooks: {', '.join(r['hooks'])}\n")
        if r["capabilities"]:
            out.write(f"{indent}{r['capabilities']}\n")
        if r["error"]:
            out.write(f"{indent}error: {r['error']}\n")


def cmd_config_check(args: argparse.Namespace, out: TextIO) -> int:
    from .config import load_config
    from .errors import ConfigError
    from .plugins import PluginRegistry

    registry = PluginRegistry()
    try:
        config = load_config(args.file, registry)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    enabled = config.enabled
    out.write(f"{args.file}: OK, {len(enabled)} enabled connector(s)\n")
    for name, conn in config.connectors.items():
        role = "primary" if conn.primary else ("data only" if conn.data_only else "")
        state = "enabled" if conn.enabled else "disabled"
        out.write(f"  {name}: plugin {conn.plugin}, {state}{', ' + role if role else ''}\n")
    for note in config.notes:
        out.write(f"  note: {note.path}: {note.message}\n")
    return 0


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    from .app.runner import run_command
    from .errors import ConfigError, StockfishError

    try:
        return run_command(args.config, headless=args.headless, strategy=args.strategy,
                           duration=args.duration, paper=getattr(args, "paper", False))
    except (ConfigError, StockfishError, ValueError, ImportError) as exc:
        print(f"stockfish run: {exc}", file=sys.stderr)
        return 1


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from .app.demo import demo_command
    from .errors import ConfigError, StockfishError

    try:
        return demo_command(args.duration, out)
    except (StockfishError, ConfigError) as exc:
        print(f"stockfish demo: {exc}", file=sys.stderr)
        return 1


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _data_manager(config_path: str | None) -> Any:
    from .config import Config, load_config
    from .manager import ExchangeManager
    from .plugins import PluginRegistry

    registry = PluginRegistry()
    config = load_config(config_path, registry) if config_path else Config.default(registry)
    return ExchangeManager.from_config(config, registry)


def cmd_record(args: argparse.Namespace, out: TextIO) -> int:
    import signal
    import threading

    from .data.settings import RecordingConfig
    from .errors import ConfigError, StockfishError

    try:
        from .data import require_pyarrow

        require_pyarrow()
        manager = _data_manager(args.config)
        settings = manager.config.recording
        recording = RecordingConfig(
            args.out, types=_csv(args.types), symbols=_csv(args.symbols),  # type: ignore[arg-type]
            rotate_seconds=args.rotate_seconds if args.rotate_seconds else (
                settings.rotate_seconds if settings else 60.0))
    except (ConfigError, StockfishError, ImportError, ValueError) as exc:
        print(f"stockfish record: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    recorder = manager.record(recording)
    try:
        manager.start_all()
        out.write(f"recording to {args.out}; Ctrl-C stops\n")
        out.flush()
        stop.wait(args.duration)
    finally:
        manager.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stats = recorder.stats()
    out.write(f"recorded {stats['recorded']} updates in {stats['files_closed']} files "
              f"({stats['bytes_closed']} bytes) under {args.out}; dropped from the recording: "
              f"{stats['dropped_queue_full']}, unrecordable: {stats['unrecordable']}, "
              f"inexact values: {stats['inexact_values']}\n")
    return 0 if not stats["write_errors"] else 1


def cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    import attrs

    from .errors import ConfigError, StockfishError

    try:
        from .data import require_pyarrow

        require_pyarrow()
        manager = _data_manager(args.config)
    except (ConfigError, StockfishError, ImportError) as exc:
        print(f"stockfish history: {exc}", file=sys.stderr)
        return 1
    manager.config = attrs.evolve(manager.config, history_cache=args.out)
    try:
        manager.start_all(timeout=30)
        frame = manager.history(args.symbol, args.start, args.end, args.interval,
                                args.connector)
    except (StockfishError, ValueError, TypeError, TimeoutError) as exc:
        print(f"stockfish history: {exc}", file=sys.stderr)
        return 1
    finally:
        manager.close()
    out.write(f"{len(frame)} bars of {args.symbol} ({args.interval}) from {args.start} to "
              f"{args.end}, cached under {args.out}\n")
    if len(frame):
        out.write(frame.head(args.show).to_string() + "\n")
    return 0


def cmd_journal(args: argparse.Namespace, out: TextIO) -> int:
    import math
    import time

    from .journal import DEFAULT_RETENTION_DAYS, Journal, default_journal_path

    days = DEFAULT_RETENTION_DAYS if args.older_than is None else args.older_than
    if not math.isfinite(days) or days < 0:
        print(f"stockfish journal: --older-than must be a number of days >= 0, not {days}",
              file=sys.stderr)
        return 2
    path = os.path.expanduser(args.journal) if args.journal else str(default_journal_path())
    if not os.path.isfile(path):
        print(f"stockfish journal: no journal at {path}", file=sys.stderr)
        return 1
    archive = getattr(args, "to", None)
    before_ns = time.time_ns() - int(days * 86_400e9)
    try:
        journal = Journal(path)
        try:
            removed = journal.compact(before_ns, archive=archive)
        finally:
            journal.close()
    except Exception as exc:  # noqa: BLE001 - sqlite3, file and argument errors, reported
        print(f"stockfish journal: {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    moved = f"moved to {archive}" if archive else "removed"
    out.write(f"{path}: {removed['orders']} final order(s) and {removed['fills']} fill(s) "
              f"older than {days:g} day(s) {moved}"
              f"{'' if removed['vacuumed'] or not removed['orders'] else '; not vacuumed'}\n")
    return 0


#: journal.DEFAULT_RETENTION_DAYS as the help shows it (a test holds the two together).
_RETENTION_DAYS_TEXT = "30"


def _journal_parser(sub: Any) -> None:
    # The journal module is not imported to build the parser: every command pays for it.
    j = sub.add_parser("journal", help="compact or archive the order journal")
    jsub = j.add_subparsers(dest="journal_command", metavar="ACTION")
    for name, text in (("compact", "remove final orders (and their fills) older than "
                                   "--older-than days; open orders always stay"),
                       ("archive", "move final orders (and their fills) older than "
                                   "--older-than days into an archive SQLite file")):
        p = jsub.add_parser(name, help=text, description=text)
        p.add_argument("--journal", "-j", help="the journal file (default: $STOCKFISH_JOURNAL, "
                                               "else ~/.local/state/stockfish/journal.sqlite)")
        p.add_argument("--older-than", type=float, default=None,
                       metavar="DAYS", help="age in days of the last change (default "
                                            f"{_RETENTION_DAYS_TEXT}, the journal's retention)")
        if name == "archive":
            p.add_argument("--to", required=True, metavar="FILE",
                           help="the archive (SQLite, the journal's schema; created if need be)")
        p.set_defaults(func=cmd_journal)


def build_parser(plugin_commands: bool = True) -> argparse.ArgumentParser:
    """The command line; ``plugin_commands=False`` leaves out the ``stockfish.commands``
    entry points (their distributions are not imported)."""
    parser = argparse.ArgumentParser(
        prog="stockfish", description="Trading Stockfish connectors: venues as plugins."
    )
    parser.add_argument("--version", action="version",
                        version=f"stockfish-core {__version__} (plugin API {API_VERSION})")
    parser.add_argument("--log-level", default=os.environ.get("STOCKFISH_LOG_LEVEL", "WARNING"),
                        help="logging level (default WARNING; env STOCKFISH_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plugins", help="list installed plugins, versions and hooks")
    p.add_argument("--config", "-c", help="a configuration: only its enabled plugins are loaded")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="load every installed plugin to show its hooks, capabilities and "
                        "import errors (without it, only a configuration's enabled plugins "
                        "are loaded)")
    p.set_defaults(func=cmd_plugins)

    r = sub.add_parser("run", help="run a configuration with a live dashboard")
    r.add_argument("config", nargs="?", help="YAML configuration (default: the built-in "
                                             "simulated venue)")
    r.add_argument("--headless", action="store_true",
                   help="JSON log lines on standard output instead of the dashboard")
    r.add_argument("--strategy", help="a subscriber to attach, as module:Name")
    r.add_argument("--duration", type=float, help="stop after this many seconds")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="the three venue simulators, failover and a summary")
    d.add_argument("--duration", type=float, default=30.0, help="seconds (default 30)")
    d.set_defaults(func=cmd_demo)

    rec = sub.add_parser("record", help="record what a configuration delivers, as Parquet")
    rec.add_argument("config", nargs="?", help="YAML configuration (default: the built-in "
                                               "simulated venue)")
    rec.add_argument("--out", required=True, help="the recording's folder")
    rec.add_argument("--duration", type=float, help="stop after this many seconds")
    rec.add_argument("--types", help="data types to record, comma separated (default: all)")
    rec.add_argument("--symbols", help="symbols to record, comma separated (default: all)")
    rec.add_argument("--rotate-seconds", type=float, help="close files after this many "
                                                          "seconds (default 60)")
    rec.set_defaults(func=cmd_record)

    h = sub.add_parser("history", help="download historical bars into a Parquet cache")
    h.add_argument("symbol")
    h.add_argument("--from", dest="start", required=True, help="start, ISO 8601 (UTC)")
    h.add_argument("--to", dest="end", required=True, help="end, ISO 8601 (UTC), exclusive")
    h.add_argument("--interval", default="1m", help="bar interval: 1s, 1m, 1h, 1d... "
                                                    "(default 1m)")
    h.add_argument("--out", required=True, help="the cache folder")
    h.add_argument("--config", help="YAML configuration (default: the built-in simulated "
                                     "venue)")
    h.add_argument("--connector", help="the connector to ask (default: the first that "
                                       "offers history)")
    h.add_argument("--show", type=int, default=5, help="bars to print (default 5)")
    h.set_defaults(func=cmd_history)

    c = sub.add_parser("config", help="work with configuration files")
    csub = c.add_subparsers(dest="config_command", metavar="ACTION")
    check = csub.add_parser("check", help="validate a configuration file")
    check.add_argument("file")
    check.set_defaults(func=cmd_config_check)
    _journal_parser(sub)
    if plugin_commands:
        add_plugin_commands(sub)
    return parser


#: Built-in commands that no ``stockfish.commands`` entry point extends: running one
#: imports no other distribution's commands. (stockfish-strategy adds ``--paper`` to
#: ``run``, so ``run`` is not here.)
_PLAIN_COMMANDS = frozenset({"plugins", "config", "journal", "demo", "record", "history"})


def _needs_plugin_commands(argv: Sequence[str]) -> bool:
    """Whether the command line may name or extend a command added by an entry point."""
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--log-level":
            i += 2
            continue
        if arg.startswith("--log-level="):
            i += 1
            continue
        if arg.startswith("-"):
            return True  # --help lists every command
        return arg not in _PLAIN_COMMANDS
    return True


def add_plugin_commands(sub: Any) -> list[str]:
    """Let every ``stockfish.commands`` entry point add its subcommands.

    An entry point names a function ``register(subparsers)`` that calls
    ``subparsers.add_parser(...)`` and sets ``func`` (``(args, out) -> exit code``) as the
    built-in commands do. One that fails to load or to register is reported on standard
    error and left out; a name already taken is refused. Returns the names added.
    """
    from importlib.metadata import entry_points

    added: list[str] = []
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        before = set(sub.choices)
        try:
            register = ep.load()
            register(_NoOverride(sub, before))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - costs only its commands
            dist = getattr(ep.dist, "name", None) or ep.value
            print(f"stockfish: the commands of {dist} ({ep.name} = {ep.value}) are left "
                  f"out: {type(exc).__name__}: {exc}", file=sys.stderr)
            partial = set(sub.choices) - before
            for name in partial:
                del sub.choices[name]
            sub._choices_actions[:] = [a for a in sub._choices_actions
                                       if a.dest not in partial]
            continue
        added.extend(sorted(set(sub.choices) - before))
    return added


class _NoOverride:
    """The subparsers as a plugin sees them: a command name already taken is refused."""

    def __init__(self, sub: Any, taken: set[str]) -> None:
        self._sub = sub
        self._taken = taken

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name in self._taken:
            raise ValueError(f"the command {name!r} already exists")
        parser: argparse.ArgumentParser = self._sub.add_parser(name, **kwargs)
        return parser

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._sub, attr)


def _configure_logging(args: argparse.Namespace) -> None:
    import logging

    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(plugin_commands=_needs_plugin_commands(argv))
    args = parser.parse_args(argv)
    func: Command | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    if func is not cmd_plugins:  # which configures it only when it loads plugins
        _configure_logging(args)
    return func(args, out or sys.stdout)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
