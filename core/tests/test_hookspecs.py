"""Meta-tests: every hook is documented in the plugin guide with its exact signature, the
guide's example code is the example plugin's real code, and every hook is exercised."""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from stockfish_core import (
    DataType,
    Order,
    OrderAction,
    OrderRejected,
    OrderRequest,
    PluginRegistry,
    Subscription,
    hookimpl,
    hookspecs,
)
from stockfish_core.data import HistoryRequest
from stockfish_core.testing import ConnectorHarness

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugin-guide.md"
EXAMPLE = ROOT / "examples" / "stockfish-csvfeed" / "src" / "stockfish_csvfeed.py"
HOOKS = hookspecs.hook_names()


def spec_signature(name: str) -> str:
    params = inspect.signature(getattr(hookspecs, name)).parameters
    return f"{name}({', '.join(params)})"


def test_there_are_hooks_for_the_four_verbs() -> None:
    for verb in ("connect", "subscribe", "normalize", "execute"):
        assert f"stockfish_{verb}" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_documented_heading_with_its_signature(hook: str) -> None:
    headings = re.findall(r"^### `(.+?)`$", GUIDE.read_text(), flags=re.MULTILINE)
    assert spec_signature(hook) in headings


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_has_a_docstring(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and len(doc.splitlines()[0]) > 10


def test_guide_examples_are_the_example_plugin_code() -> None:
    source = EXAMPLE.read_text()
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    hook_blocks = [
        b for b in blocks
        if re.search(r"^@hookimpl\n(async )?def stockfish_", b, re.M)
        and not b.rstrip().endswith("...")
    ]
    assert len(hook_blocks) >= 5
    for block in hook_blocks:
        # Each top-level definition shown must be in the plugin exactly as shown.
        for part in re.split(r"\n\n(?=[@A-Za-z])", block.strip()):
            assert part in source, f"guide code not in the example plugin:\n{part}"


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("stockfish_csvfeed", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("stockfish_csvfeed", module)
    spec.loader.exec_module(module)
    return module


class HookRecorder:
    """A non-venue plugin that wraps every hook and records the calls."""

    def __init__(self) -> None:
        self.called: set[str] = set()

    def _record(self, name: str) -> Any:
        self.called.add(name)
        return (yield)


for _hook in HOOKS:
    def _make(name: str) -> Any:
        def wrapper(self: HookRecorder) -> Any:
            return (yield from self._record(name))

        wrapper.__name__ = name
        return hookimpl(wrapper=True)(wrapper)

    setattr(HookRecorder, _hook, _make(_hook))


def _exists(path: str) -> bool:
    return Path(path).exists()


async def test_every_hook_is_exercised(tmp_path: Path) -> None:
    csv = tmp_path / "q.csv"
    csv.write_text("timestamp_ns,symbol,bid,ask,last,bid_size,ask_size,volume\n1,SPY,1,2,,,,\n")
    registry = PluginRegistry(entry_points=(), trace=True)  # trace: normalize via the hook
    recorder = HookRecorder()
    registry.register(recorder, "recorder")
    example = _load_example()
    async with ConnectorHarness(example, "csvfeed", {"path": str(csv)}, registry=registry) as h:
        await h.connect()
        await h.subscribe(Subscription("SPY"))
        await h.next_update(timeout=5)
        with pytest.raises(OrderRejected):
            await h.execute(OrderRequest(OrderAction.SUBMIT, Order("SPY", "buy", 1)))
        await h.unsubscribe(Subscription("SPY", DataType.PRICE_TICK))
        bars = await h.call("stockfish_history", request=HistoryRequest("SPY", 0, 10))
        assert [b.symbol for b in bars] == ["SPY"]
        # A data feed keeps no account: the venue-state hooks answer None (not offered).
        assert await h.call("stockfish_account") is None
        assert await h.call("stockfish_positions") is None
        assert await h.call("stockfish_executions", since_ns=0) is None
        assert await h.call("stockfish_instrument", symbol="SPY") is None
        assert await h.call("stockfish_market_listener") is None  # a feed needs no market
        simulator = await h.call("stockfish_simulator", symbols=["SPY"])
        settings = await simulator.start()
        assert _exists(settings["path"])
        await simulator.stop()
        assert not _exists(settings["path"])
    assert recorder.called == set(HOOKS)
