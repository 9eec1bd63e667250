"""The earlier system's documentation (seeds 000, 001 and 002, kept here as printed):
every Python example runs as written, or fails with a message that says exactly what to
write instead; the seed's YAML loads (earlier key names accepted with a note) and runs on
the three venue simulators; the seed's environment variables are honoured.

The examples run in order, one namespace per document, as a reader pasting them into one
session would; in a fresh interpreter (``stockfish-realtime`` installed, which provides
the earlier ``realtime`` import names), bounded in time.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stockfish_core import ExchangeManager, Order, OrderSide, OrderStatus, OrderType
from stockfish_core.cli import main as cli_main
from stockfish_core.config import load_config
from stockfish_core.testing import wait_until

HERE = Path(__file__).resolve().parent

RUNNER = r"""
import json, os, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
namespace = {"__name__": "__seed__"}
results = []
for index, block in enumerate(re.findall(r"```python\n(.*?)```", text, re.S)):
    try:
        exec(compile(block, f"{os.path.basename(sys.argv[1])} example {index}", "exec"),
             namespace)
        results.append({"outcome": "ok", "message": ""})
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        results.append({"outcome": type(exc).__name__, "message": str(exc)})
print(json.dumps(results))
sys.stdout.flush()
os._exit(0)  # a manager an example started is not waited for
"""

WRITE = r"write: "
#: Examples that are listings of signatures, not code: they cannot run in any system.
LISTING = "a listing of signatures, not code"
#: Fragments that use names no earlier example defines.
FRAGMENT = "a fragment: uses a name the document never defines"

# (outcome, pattern the message must match, why) for each ```python example, in order.
EXPECTED: dict[str, list[tuple[str, str, str]]] = {
    "000_quick_reference.md": [
        ("ok", "", "Order, its status, order_id and filled_quantity"),
        ("ok", "", "a market-update handler"),
        ("ValueError", r"the manager has no connectors; add one first, write: "
                       r"manager\.add_connector\('ibkr', primary=True, host='127\.0\.0\.1', "
                       r"port=7497\)", "a manager without connectors cannot subscribe"),
        ("TypeError", r"IBKRConnector\.connect: a connector runs inside an ExchangeManager "
                      r"here; write: manager = ExchangeManager\(\); "
                      r"manager\.add_connector\('ibkr', host='127\.0\.0\.1', port=7497\)",
         "connector objects do not connect by themselves"),
        ("TypeError", WRITE + r"manager\.add_connector\('ibkr', primary=True\)$",
         "add_connector takes a name, not a connector object"),
        ("NameError", r"'router' is not defined", FRAGMENT),
        ("StockfishError", r"the manager is not started: call start_all\(\) first",
         "send_order on a manager that example 4 never started"),
        ("TypeError", WRITE + r"manager\.add_connector\('ibkr', primary=True\)$",
         "add_connector takes a name, not a connector object"),
        ("NameError", r"'zmq_us' is not defined", FRAGMENT),
        ("NameError", r"'trading' is not defined", FRAGMENT),
    ],
    "001_implementation_guide.md": [
        ("SyntaxError", "", LISTING),
        ("IndentationError", "", LISTING),
        ("SyntaxError", "", LISTING),
        ("ok", "", "the earlier module's exports"),
        ("TypeError", WRITE + r"manager\.add_connector\('ibkr', primary=True, "
                      r"host='127\.0\.0\.1', port=7497\)$",
         "add_connector takes a name, not a connector object"),
        ("TypeError", r"class CustomConnector\(BaseConnector\): a venue is a plugin here",
         "a venue is a plugin, not a subclass"),
        ("ImportError", WRITE + r"manager = ExchangeManager\.from_config",
         "the engine loop is not part of the connectors"),
        ("ok", "", "test functions (defined)"),
    ],
    "002_final_summary.md": [
        ("ok", "", "the earlier imports"),
        ("TypeError", WRITE + r"manager\.add_connector\('ibkr'\)$",
         "add_connector takes a name, not a connector object"),
        ("TypeError", WRITE + r"manager\.add_connector\('ibkr', primary=True\)$",
         "add_connector takes a name, not a connector object"),
    ],
}


def _run_examples(document: str, tmp_path: Path) -> list[dict[str, str]]:
    env = {"PATH": "/usr/bin:/bin", "STOCKFISH_JOURNAL": str(tmp_path / "journal.sqlite"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", RUNNER, str(HERE / document)], env=env,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results: list[dict[str, str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


@pytest.mark.parametrize("document", sorted(EXPECTED))
def test_every_example_runs_or_says_what_to_write(document: str, tmp_path: Path) -> None:
    results = _run_examples(document, tmp_path)
    expected = EXPECTED[document]
    assert len(results) == len(expected)
    for index, (result, (outcome, pattern, why)) in enumerate(zip(results, expected,
                                                                  strict=True)):
        where = f"{document} example {index} ({why})"
        assert result["outcome"] == outcome, (where, result)
        if pattern:
            assert re.search(pattern, result["message"]), (where, result["message"])


# -- the seed's YAML on the simulators ---------------------------------------------------
def _seed_yaml(ibkr_port: int, fix_port: int, zmq_endpoint: str) -> str:
    """The seed's file with only hosts and ports pointed at the simulators."""
    text = (HERE / "001_stockfish.yaml").read_text()
    for old, new in (("port: 7497", f"port: {ibkr_port}"), ("host: fix.broker.com",
                     "host: 127.0.0.1"), ("port: 9876", f"port: {fix_port}"),
                     ("tcp://crypto.feed:5555", zmq_endpoint)):
        assert old in text
        text = text.replace(old, new)
    return text


@pytest.fixture
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("STOCKFISH_JOURNAL", str(tmp_path / "journal.sqlite"))
    for name in ("IB_HOST", "IB_PORT", "IB_CLIENT_ID", "IB_ACCOUNT", "IBKR_HOST", "IBKR_PORT",
                 "FIX_HOST", "FIX_PORT", "FIX_SENDER_ID", "FIX_TARGET_ID", "ZMQ_ENDPOINTS",
                 "ZMQ_FEED_TYPE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_the_seed_yaml_passes_config_check_with_a_note(
    private_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = private_state / "seed.yaml"
    path.write_text(_seed_yaml(7497, 9876, "tcp://127.0.0.1:5555"))
    assert cli_main(["config", "check", str(path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "note: connectors.fix.version: deprecated name of begin_string; write " \
           "begin_string: FIX.4.4" in out
    config = load_config(path)
    assert config.connectors["fix"].config.begin_string == "FIX.4.4"
    assert config.manager.health_check_interval == 30.0


class _Watch:
    """Wakes a wait when a connector's status changes or a tick arrives."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()

    def on_connector_status(self, name: str, status: Any, reason: str) -> None:
        self.changed.set()

    def on_price_tick(self, update: Any) -> None:
        self.changed.set()


@pytest.mark.slow
async def test_the_seed_yaml_runs_on_the_simulators(private_state: Path) -> None:
    zmq = pytest.importorskip("zmq")
    from stockfish_fix.testing.exchange import FixExchange
    from stockfish_ibkr.testing.gateway import GatewaySimulator

    gateway = GatewaySimulator()
    await gateway.start()
    exchange = FixExchange(sender_comp_id="EXCHANGE", target_comp_id="TRADER",
                           symbols=["SPY", "QQQ"])
    await asyncio.to_thread(exchange.start)
    context = zmq.Context.instance()
    publisher = context.socket(zmq.PUB)
    port = publisher.bind_to_random_port("tcp://127.0.0.1")
    path = private_state / "seed.yaml"
    path.write_text(_seed_yaml(gateway.port, exchange.port, f"tcp://127.0.0.1:{port}"))
    manager = ExchangeManager.from_config(path)
    watch = _Watch()
    manager.add_subscriber(watch)
    try:
        async with manager:
            await wait_until(lambda: all(c.is_connected for c in manager.connectors.values()),
                             watch.changed, 30, "the seed's three connectors connected")
            assert manager.primary_connector == "ibkr"
            assert [(n, p) for n, _s, p in manager.list_connectors()] == [
                ("ibkr", True), ("fix", False), ("zmq", False)]
            # The seed's blocking calls, from a thread of the script's own.
            await asyncio.to_thread(manager.subscribe_price, ["SPY", "QQQ"])
            order = Order("SPY", OrderSide.BUY, 100, OrderType.LIMIT, price=450.0)
            order_id = await asyncio.to_thread(manager.send_order, order)
            acked = await manager.wait_for_order_async(
                order_id, lambda o: o.status is not OrderStatus.PENDING, timeout=20)
            assert acked.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED,
                                    OrderStatus.FILLED), acked
            assert acked.connector in ("ibkr", "fix")
            stats = await asyncio.to_thread(manager.get_stats)
            assert stats["total"]["connected"] == 3
            health = await asyncio.to_thread(manager.get_health_status)
            assert health["ibkr"]["connected"] and health["fix"]["connected"]
    finally:
        manager.journal.close()
        publisher.close(linger=0)
        await asyncio.to_thread(exchange.stop)
        await gateway.stop()


@pytest.mark.slow
async def test_the_seed_zmq_feed_delivers_single_frame_json(private_state: Path) -> None:
    zmq = pytest.importorskip("zmq")
    context = zmq.Context.instance()
    publisher = context.socket(zmq.PUB)
    port = publisher.bind_to_random_port("tcp://127.0.0.1")
    text = _seed_yaml(1, 1, f"tcp://127.0.0.1:{port}")
    only_zmq = text[text.index("  zmq:"):text.index("manager:")]
    path = private_state / "seed.yaml"
    path.write_text("connectors:\n" + only_zmq)
    manager = ExchangeManager.from_config(path)
    watch = _Watch()
    manager.add_subscriber(watch)
    try:
        async with manager:
            await asyncio.to_thread(manager.subscribe_price, ["BTCUSD"])
            sequence = 0

            def publish() -> bool:
                nonlocal sequence
                sequence += 1
                publisher.send(json.dumps({  # the seed's message format, one frame
                    "type": "ticker", "symbol": "BTCUSD", "sequence": sequence,
                    "data": {"bid": 100.0, "ask": 100.5, "last": 100.25},
                    "timestamp": "2026-01-19T10:30:45.123Z"}).encode())
                return manager.latest("BTCUSD") is not None

            # Published again every 0.1 s until one arrives (a SUB joins late), 10 s at most.
            await wait_until(publish, watch.changed, 10, "a BTCUSD tick", recheck=0.1)
    finally:
        manager.journal.close()
        publisher.close(linger=0)


def test_the_seed_environment_variables(private_state: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Seed 001's variables (and seed 003's IB_*) fill what the YAML leaves out.
    monkeypatch.setenv("IBKR_HOST", "10.0.0.7")
    monkeypatch.setenv("IBKR_PORT", "7496")
    monkeypatch.setenv("IBKR_CLIENT_ID", "5")
    monkeypatch.setenv("IB_PAPER_ACCOUNT", "DU12345")
    monkeypatch.setenv("FIX_HOST", "127.0.0.2")
    monkeypatch.setenv("FIX_PORT", "9878")
    monkeypatch.setenv("FIX_SENDER_ID", "TRADER")
    monkeypatch.setenv("FIX_TARGET_ID", "EXCHANGE")
    monkeypatch.setenv("ZMQ_ENDPOINTS", "tcp://127.0.0.1:5555,tcp://localhost:5556")
    monkeypatch.setenv("ZMQ_FEED_TYPE", "ticker")
    path = private_state / "env.yaml"
    path.write_text("connectors:\n  ibkr: {primary: true}\n  fix: {}\n  zmq: {data_only: true}\n")
    config = load_config(path)
    ibkr, fix, zmq = (config.connectors[n].config for n in ("ibkr", "fix", "zmq"))
    assert (ibkr.host, ibkr.port, ibkr.client_id, ibkr.account) == ("10.0.0.7", 7496, 5,
                                                                    "DU12345")
    assert (fix.host, fix.port, fix.sender_comp_id, fix.target_comp_id) == (
        "127.0.0.2", 9878, "TRADER", "EXCHANGE")
    assert zmq.endpoints == ["tcp://127.0.0.1:5555", "tcp://localhost:5556"]
    assert zmq.feed_type == "ticker"
    notes = [str(n) for n in config.notes]
    assert f"{path}: connectors.fix.sender_comp_id: from the environment variable " \
           "FIX_SENDER_ID" in notes
    # seed 003's IB_* come first; the YAML always wins.
    monkeypatch.setenv("IB_PORT", "4002")
    path.write_text("connectors:\n  ibkr: {primary: true, client_id: 9}\n")
    ibkr = load_config(path).connectors["ibkr"].config
    assert (ibkr.port, ibkr.client_id) == (4002, 9)


# -- what the seeds call that the core lacked ----------------------------------------------
class _NewsWatch(_Watch):
    def __init__(self) -> None:
        super().__init__()
        self.news: list[Any] = []
        self.macro: list[Any] = []

    def on_news(self, update: Any) -> None:
        self.news.append(update)
        self.changed.set()

    def on_macro(self, update: Any) -> None:
        self.macro.append(update)
        self.changed.set()


@pytest.mark.slow
async def test_subscribe_news_and_macro(private_state: Path) -> None:
    pytest.importorskip("zmq")
    from stockfish_zmq.testing.publisher import Publisher

    publisher = Publisher().start()
    manager = ExchangeManager(journal=":memory:")
    manager.add_connector("feed", "zmq", data_only=True, endpoints=[publisher.endpoint])
    watch = _NewsWatch()
    manager.add_subscriber(watch)
    try:
        async with manager:
            await asyncio.to_thread(manager.subscribe_news)
            await asyncio.to_thread(manager.subscribe_macro)

            def publish() -> bool:
                publisher.publish("news", None, {"title": "rates unchanged", "sentiment": 0.1})
                publisher.publish("macro", None, {"event": "CPI", "country": "US",
                                                  "value": 3.1, "forecast": 3.0})
                return bool(watch.news and watch.macro)

            # Published again every 0.1 s until both arrive (a SUB joins late), 10 s at most.
            await wait_until(publish, watch.changed, 10, "news and macro", recheck=0.1)
    finally:
        manager.journal.close()
        publisher.stop()
    news, macro = watch.news[0].payload, watch.macro[0].payload
    assert news.title == "rates unchanged"
    assert news.to_dict()["title"] == "rates unchanged"
    assert macro.to_dict()["event"] == "CPI" and macro.surprise == pytest.approx(0.1)
    assert watch.news[0].to_dict()["data_type"] == "news"


def test_models_to_dict_round_trip() -> None:
    from stockfish_core.models import OrderBookLevel, OrderBookSnapshot, PriceTick
    from stockfish_core.serialization import from_dict

    tick = PriceTick("SPY", 1.0, 2.0, 1.5, 10, 20, 0, 5, timestamp_ns=123)
    assert from_dict(tick.to_dict(), PriceTick) == tick
    book = OrderBookSnapshot("SPY", [OrderBookLevel(1.0, 5)], [OrderBookLevel(2.0, 6)])
    assert book.to_dict()["bids"] == [OrderBookLevel(1.0, 5).to_dict()]
    assert from_dict(book.to_dict(), OrderBookSnapshot) == book


def test_add_connector_in_the_seeds_form_says_what_to_write() -> None:
    manager = ExchangeManager(journal=":memory:")
    with pytest.raises(TypeError, match=r"got object\); write: manager\.add_connector\("
                                        r"'ibkr', primary=True, \*\*settings\)"):
        manager.add_connector(object(), "ibkr", primary=True)  # type: ignore[arg-type]
    assert manager.connectors == {}
    assert manager.primary_connector is None
