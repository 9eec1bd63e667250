"""``stockfish run``: start the manager of a configuration and watch it until Ctrl-C or
SIGTERM, with a live dashboard or (``--headless``) JSON log lines.

With no configuration it runs the built-in simulated venue on a few symbols, so it
always does something. Shutdown is clean: the manager stops (sessions closed, the
journal flushed) before the process exits.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import importlib.util
import inspect
import logging
import signal
import time
from pathlib import Path
from typing import Any

import attrs

from ..config import Config, SubscriptionConfig, load_config
from ..manager import ExchangeManager
from ..models import DataType, MarketUpdate
from ..orders import Fill, Order
from ..plugins import PluginRegistry

__all__ = ["DEFAULT_SYMBOLS", "RunState", "default_config", "load_strategy", "run"]

log = logging.getLogger("stockfish.run")

DEFAULT_SYMBOLS = ["SPY", "QQQ", "AAPL", "BTCUSD"]


def default_config(registry: PluginRegistry) -> Config:
    """One simulated venue, price ticks for a few symbols and a book for the first."""
    config = Config.default(registry)
    subs = [SubscriptionConfig(list(DEFAULT_SYMBOLS)),
            SubscriptionConfig([DEFAULT_SYMBOLS[0]], DataType.ORDERBOOK_SNAPSHOT, depth=5)]
    return attrs.evolve(config, subscriptions=subs)


def load_strategy(spec: str, manager: ExchangeManager, *, paper: bool = False) -> object:
    """``package.module:Name`` or ``path/to/file.py:Name``: an object, or a class (or
    factory) called with the manager if it takes an argument, else with none.

    A class with a ``stockfish_runtime`` attribute (``"module:function"``: the strategies
    of stockfish-strategy) is handed to that function with the manager (and ``paper``);
    what it returns is a session: its ``started()`` is called once the manager runs, its
    ``finished()`` at the end (a summary line)."""
    source, _, attr = spec.rpartition(":")
    if not source or not attr:
        raise ValueError(f"--strategy takes module:Name or file.py:Name, got {spec!r}")
    if source.endswith(".py"):
        path = Path(source)
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"--strategy: cannot load {source}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(source)
    target = getattr(module, attr, None)
    if target is None:
        raise ValueError(f"--strategy: {source} has no {attr!r}")
    runtime = getattr(target, "stockfish_runtime", None)
    if isinstance(runtime, str):
        module_name, _, function = runtime.partition(":")
        attach = getattr(importlib.import_module(module_name), function)
        return attach(target, manager, paper=paper)
    if paper:
        raise ValueError("--paper runs a strategy of stockfish-strategy (a "
                         "stockfish_strategy.Strategy); install it: pip install "
                         "stockfish-strategy")
    if not callable(target):
        return target
    try:
        takes_manager = bool(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        takes_manager = False
    return target(manager) if takes_manager else target()


class RunState:
    """What the dashboard and the JSON log show: kept by a subscriber on the manager
    loop, read by the display."""

    def __init__(self, manager: ExchangeManager, max_events: int = 12) -> None:
        self.manager = manager
        self.started = time.monotonic()
        self.quote_sources: dict[str, str] = {}
        self.events: collections.deque[tuple[float, str]] = collections.deque(maxlen=max_events)
        self.orders: collections.OrderedDict[str, Order] = collections.OrderedDict()
        self.fills: collections.deque[Fill] = collections.deque(maxlen=max_events)
        self.listeners: list[Any] = []

    def on_price_tick(self, update: MarketUpdate) -> None:
        self.quote_sources[update.payload.symbol] = update.source

    def on_order_update(self, order: Order) -> None:
        cid = order.client_order_id or "?"
        self.orders[cid] = order
        self.orders.move_to_end(cid)
        while len(self.orders) > self.events.maxlen:  # type: ignore[operator]
            self.orders.popitem(last=False)
        for listener in self.listeners:
            listener("order", order)

    def on_fill(self, fill: Fill, order: Order) -> None:
        self.fills.append(fill)
        for listener in self.listeners:
            listener("fill", fill)

    def on_connector_status(self, name: str, status: Any, reason: str) -> None:
        text = f"{name}: {status.value}" + (f" ({reason})" if reason else "")
        self.events.append((time.monotonic() - self.started, text))
        for listener in self.listeners:
            listener("status", {"connector": name, "status": status.value, "reason": reason})


async def run(config: Config | None, *, registry: PluginRegistry | None = None,
              headless: bool = False, strategy: str | None = None,
              duration: float | None = None, interval: float = 1.0,
              paper: bool = False) -> int:
    """Run until a signal (or ``duration`` seconds); returns the exit code."""
    registry = registry if registry is not None else PluginRegistry()
    if config is None:
        config = default_config(registry)
    manager = ExchangeManager.from_config(config, registry)
    state = RunState(manager)
    manager.add_subscriber(state)
    session: Any = None
    if strategy:
        loaded = load_strategy(strategy, manager, paper=paper)
        if callable(getattr(loaded, "started", None)):
            session = loaded  # a runtime's session (stockfish-strategy)
        else:
            manager.add_subscriber(loaded)
    elif paper:
        raise ValueError("--paper needs --strategy")
    server = None
    if config.metrics.enabled:
        from .metrics import start_metrics_server

        server = start_metrics_server(manager, config.metrics.host, config.metrics.port)
        log.info("metrics on http://%s:%d/metrics", config.metrics.host, server.server_port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    display: Any
    if headless:
        from .headless import HeadlessDisplay

        display = HeadlessDisplay(state)
    else:
        from .dashboard import Dashboard

        display = Dashboard(state, config)
    try:
        async with manager:
            if session is not None:
                session.started()
            display.started(config)
            deadline = None if duration is None else loop.time() + duration
            while not stop.is_set() and not getattr(display, "done", False):
                display.refresh()
                timeout = interval if deadline is None else min(interval,
                                                                deadline - loop.time())
                if timeout <= 0:
                    break
                try:
                    await asyncio.wait_for(stop.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
            if session is not None:
                log.warning("%s", session.finished())
            display.stopping()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        display.close()
        if server is not None:
            server.shutdown()
        manager.journal.close()
    return 0


def run_command(path: str | None, *, headless: bool, strategy: str | None,
                duration: float | None, paper: bool = False) -> int:
    registry = PluginRegistry()
    config = load_config(path, registry) if path else None
    return asyncio.run(run(config, registry=registry, headless=headless, strategy=strategy,
                           duration=duration, paper=paper))
