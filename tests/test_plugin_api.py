"""The plugin API is one module, ``stockfish_core.plugin_api``: every plugin's runtime
modules import nothing else from the core, and the module's names are pinned, so that a
change to what the plugin API version covers is made on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stockfish_core import plugin_api

ROOT = Path(__file__).resolve().parents[1]

#: Every plugin's import package (runtime modules, and a testing/ package).
PLUGIN_SOURCES = [
    *sorted((ROOT / "plugins").glob("*/src/stockfish_*")),
    ROOT / "examples" / "stockfish-csvfeed" / "src",
    ROOT / "examples" / "stockfish-jsonvenue" / "src",
]
#: The core's own plugins that follow the same rule.
CORE_PLUGIN_MODULES = [ROOT / "core" / "src" / "stockfish_core" / "data" / "replay.py"]

#: What a module under testing/ (a venue simulator, test helpers) may use beyond the
#: plugin API: the core's test support and the simulated market and matching engine.
TESTING_ALLOWED = ("stockfish_core.testing", "stockfish_core.sim")

#: The plugin API, version ``API_VERSION``. Adding a name is a minor version, removing
#: or changing one a major one: change this set with the version, never alone.
PLUGIN_API = {
    "API_VERSION", "KEEP_FINAL_ORDERS", "KEEP_FINAL_SECONDS", "PAYLOAD_TYPES",
    # declaring a plugin, the connector it serves
    "Capabilities", "Connector", "PluginSpec", "Subscription", "hookimpl",
    # the order contract: fills by client order id, the STATUS answer, supervised tasks
    "Execution", "UNKNOWN_ORDER", "answer_status", "cancel_spawned", "spawned",
    # market data
    "ConnectorStatus", "DataType", "MacroEvent", "MarketUpdate", "NewsEvent", "OHLCVBar",
    "OrderBookLevel", "OrderBookSnapshot", "PriceTick", "Trade",
    # orders
    "Fill", "Order", "OrderAction", "OrderRequest", "OrderSide", "OrderStatus", "OrderType",
    "OrderUpdate", "Position", "TimeInForce",
    # venue state: accounts, positions, instruments
    "AccountValues", "Instrument", "VenuePosition",
    # errors
    "ConfigError", "InvalidOrderError", "OrderRejected", "StockfishError",
    "VenueUnavailable",
    # a plugin's config class
    "ConfigCompat", "KeyAlias", "Secret", "SettingError", "in_range", "non_negative",
    "port_number", "positive", "HistoryRequest",
    # shared helpers
    "BookError", "L2Book", "NoEvents", "RateLimitedLog", "SequenceEvents", "Sequencer",
    "Tracker", "cancel_and_wait", "now_ns", "ns_to_datetime", "parse_interval",
    "sequencer_for", "to_decimal", "to_ns", "show", "without_gc",
}


def core_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a stockfish_core module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == "stockfish_core":  # `from stockfish_core import plugin_api`
                modules = [f"stockfish_core.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        found += [(node.lineno, m) for m in modules if m.split(".")[0] == "stockfish_core"]
    return found


def plugin_modules() -> list[tuple[Path, bool]]:
    """Every module of every plugin, and whether it is test support (under testing/)."""
    modules = []
    for source in PLUGIN_SOURCES:
        for path in sorted(source.rglob("*.py")):
            modules.append((path, "testing" in path.relative_to(source).parts))
    return modules + [(path, False) for path in CORE_PLUGIN_MODULES]


def test_every_plugin_module_is_found() -> None:
    names = {path.relative_to(ROOT).as_posix() for path, _ in plugin_modules()}
    for expected in ("plugins/stockfish-zmq/src/stockfish_zmq/plugin.py",
                     "plugins/stockfish-fix/src/stockfish_fix/orders.py",
                     "plugins/stockfish-ibkr/src/stockfish_ibkr/session.py",
                     "plugins/stockfish-fix/src/stockfish_fix/testing/exchange.py",
                     "examples/stockfish-csvfeed/src/stockfish_csvfeed.py"):
        assert expected in names


def test_plugins_import_only_the_plugin_api_from_the_core() -> None:
    wrong = []
    for path, testing in plugin_modules():
        allowed = ("stockfish_core.plugin_api", *(TESTING_ALLOWED if testing else ()))
        for line, module in core_imports(path):
            if not any(module == a or module.startswith(a + ".") for a in allowed):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert wrong == [], "plugins import the core only through stockfish_core.plugin_api"


def test_the_rule_catches_a_core_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import stockfish_core.models\nfrom stockfish_core import Order\n"
                      "from stockfish_core.plugin_api import Order\n"
                      "def f():\n    from stockfish_core.oms import OrderBook\n")
    assert core_imports(module) == [(1, "stockfish_core.models"), (2, "stockfish_core.Order"),
                                    (3, "stockfish_core.plugin_api"), (5, "stockfish_core.oms")]


def test_the_plugin_api_is_the_listed_set() -> None:
    assert set(plugin_api.__all__) == PLUGIN_API
    assert len(plugin_api.__all__) == len(PLUGIN_API), "a name is listed twice in __all__"


@pytest.mark.parametrize("name", sorted(PLUGIN_API))
def test_every_name_of_the_plugin_api_is_there(name: str) -> None:
    assert getattr(plugin_api, name) is not None
