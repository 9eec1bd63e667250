"""``stockfish demo``: the three venue simulators on 127.0.0.1, one configuration with
ibkr as primary, fix as backup and zmq as a data-only feed, a stream of orders, and the
primary taken away part-way so that the failover shows. Ends with a summary.

Nothing here knows a venue: each plugin provides its simulator through the
``stockfish_simulator`` hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import attrs
import yaml

from ..config import Config, parse_config
from ..errors import OrderRejected, StockfishError
from ..manager import ExchangeManager
from ..models import ConnectorStatus, MarketUpdate
from ..orders import Order
from ..plugins import PluginRegistry
from ..simulator import VenueSimulator

__all__ = ["DemoResult", "run_demo"]

#: (connector name, role settings, symbols its simulator quotes)
ROLES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("ibkr", {"primary": True}, ["SPY", "QQQ"]),
    ("fix", {"priority": 0}, ["SPY", "QQQ"]),
    ("zmq", {"data_only": True}, ["BTCUSD", "ETHUSD"]),
]
ORDER_SYMBOL = "SPY"


@attrs.define
class DemoResult:
    duration: float
    updates: dict[str, int]
    orders_sent: int = 0
    by_status: dict[str, int] = attrs.Factory(dict)
    fills: int = 0
    by_connector: dict[str, int] = attrs.Factory(dict)
    primary_lost_at: float | None = None
    first_backup_order_ms: float | None = None
    primary_back_at: float | None = None
    lost: list[str] = attrs.Factory(list)
    duplicated: list[str] = attrs.Factory(list)

    @property
    def ok(self) -> bool:
        return (not self.lost and not self.duplicated and self.first_backup_order_ms is not None
                and all(self.updates.get(name, 0) > 0 for name, _r, _s in ROLES))

    def render(self) -> str:
        lines = [f"Demo summary ({self.duration:.1f} s)"]
        lines.append("  updates:  " + ", ".join(f"{n} {c:,}" for n, c in self.updates.items()))
        statuses = ", ".join(f"{c} {s.lower()}" for s, c in sorted(self.by_status.items()))
        lines.append(f"  orders:   {self.orders_sent} sent ({statuses}); {self.fills} fills")
        lines.append("  routed:   " + ", ".join(f"{n} {c}" for n, c in
                                                sorted(self.by_connector.items())))
        if self.primary_lost_at is not None:
            first = ("no order reached the backup" if self.first_backup_order_ms is None
                     else f"first order on the backup {self.first_backup_order_ms:.1f} ms "
                          "after the loss was noticed")
            back = ("" if self.primary_back_at is None
                    else f"; primary back at {self.primary_back_at:.1f} s")
            lines.append(f"  failover: primary lost at {self.primary_lost_at:.1f} s; "
                         f"{first}{back}")
        lines.append(f"  orders lost: {len(self.lost)}   orders duplicated: "
                     f"{len(self.duplicated)}")
        lines.append("  result:   " + ("OK" if self.ok else "PROBLEMS (see above)"))
        return "\n".join(lines)


def demo_config(settings: Mapping[str, Mapping[str, Any]], journal: str) -> dict[str, Any]:
    connectors = {}
    for name, role, _symbols in ROLES:
        connectors[name] = {**role, **settings[name]}
    return {
        "connectors": connectors,
        "manager": {"failover_strategy": "primary_backup", "health_check_interval": 0.2,
                    "staleness": 2.0, "reconnect_initial_delay": 0.2,
                    "reconnect_max_delay": 1.0, "journal": journal},
        "subscriptions": [
            {"symbols": ["SPY", "QQQ"], "type": "price_tick", "connectors": ["ibkr", "fix"]},
            {"symbols": ["SPY"], "type": "orderbook", "depth": 5, "connectors": ["fix"]},
            {"symbols": ["BTCUSD", "ETHUSD"], "type": "price_tick", "connectors": ["zmq"]},
        ],
    }


class _Watch:
    def __init__(self, started: float) -> None:
        self.started = started
        self.updates: Counter[str] = Counter()
        self.lost_at: float | None = None
        self.lost_ns: int | None = None
        self.back_at: float | None = None

    def on_update(self, update: MarketUpdate) -> None:
        self.updates[update.source] += 1

    def on_connector_status(self, name: str, status: ConnectorStatus, reason: str) -> None:
        if name != "ibkr":
            return
        if status in (ConnectorStatus.DISCONNECTED, ConnectorStatus.ERROR) and \
                self.lost_at is None:
            self.lost_at = time.monotonic() - self.started
            self.lost_ns = time.perf_counter_ns()
        elif status is ConnectorStatus.CONNECTED and self.lost_at is not None and \
                self.back_at is None:
            self.back_at = time.monotonic() - self.started


async def run_demo(duration: float = 30.0, out: TextIO | None = None,
                   registry: PluginRegistry | None = None, order_interval: float = 0.05
                   ) -> DemoResult:
    registry = registry if registry is not None else PluginRegistry()
    missing = [n for n, _r, _s in ROLES if n not in registry.installed()]
    if missing:
        dists = " ".join(f"stockfish-{n}" for n in missing)
        raise StockfishError(f"the demo needs the plugins {', '.join(missing)}; "
                             f"install them with: pip install {dists}")
    registry.load([n for n, _r, _s in ROLES], strict=True)
    simulators: dict[str, VenueSimulator] = {}
    for name, _role, symbols in ROLES:
        simulator = registry.get(name).hooks.call("stockfish_simulator", symbols=symbols)
        if simulator is None:
            raise StockfishError(f"plugin {name} offers no simulator (stockfish_simulator)")
        simulators[name] = simulator

    def say(text: str) -> None:
        if out is not None:
            out.write(text + "\n")
            out.flush()

    with tempfile.TemporaryDirectory(prefix="stockfish-demo-") as tmp:
        settings = {}
        try:
            for name, simulator in simulators.items():
                settings[name] = dict(await simulator.start())
            raw = demo_config(settings, str(Path(tmp) / "journal.sqlite"))
            say("Configuration used (start your own from it):\n")
            say(yaml.safe_dump(raw, sort_keys=False).rstrip())
            say("")
            config = parse_config(raw, registry)
            return await _drive(config, registry, simulators, duration, order_interval, say)
        finally:
            for simulator in simulators.values():
                with contextlib.suppress(Exception):
                    await simulator.stop()


async def _drive(config: Config, registry: PluginRegistry,
                 simulators: Mapping[str, VenueSimulator], duration: float,
                 order_interval: float, say: Any) -> DemoResult:
    manager = ExchangeManager.from_config(config, registry)
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    watch = _Watch(started)
    manager.add_subscriber(watch)
    sent: list[tuple[str, int]] = []
    stop_primary_at = duration * 0.35
    restart_primary_at = duration * 0.65
    stop_orders_at = duration * 0.85
    primary_stopped = primary_restarted = False
    next_report = 1.0
    async with manager:
        say(f"running for {duration:.0f} s: orders every {order_interval * 1000:.0f} ms; "
            f"the primary (ibkr) goes away at {stop_primary_at:.1f} s and comes back at "
            f"{restart_primary_at:.1f} s")
        i = 0
        while (elapsed := time.monotonic() - started) < stop_orders_at:
            if not primary_stopped and elapsed >= stop_primary_at:
                primary_stopped = True
                say(f"{elapsed:5.1f} s  stopping the primary's simulator (ibkr)")
                await simulators["ibkr"].stop()
            if primary_stopped and not primary_restarted and elapsed >= restart_primary_at:
                primary_restarted = True
                say(f"{elapsed:5.1f} s  starting the primary's simulator again")
                await simulators["ibkr"].start()
            if elapsed >= next_report:
                next_report += max(1.0, duration / 10)
                health = manager.get_health_status()
                say(f"{elapsed:5.1f} s  " + "  ".join(
                    f"{n}: {h['status']}" for n, h in health.items())
                    + f"  orders {len(sent)}  updates {sum(watch.updates.values()):,}")
            try:
                order_id = await manager.send_order_async(
                    Order(ORDER_SYMBOL, "BUY" if i % 2 else "SELL", 1))
                sent.append((order_id, time.perf_counter_ns()))
            except OrderRejected as exc:
                say(f"{elapsed:5.1f} s  order not sent: {exc.reason}")
            i += 1
            await asyncio.sleep(order_interval)
        # Let every order reach its final state (the in-flight ones reconcile).
        deadline = loop.time() + max(10.0, duration * 0.5)
        for order_id, _t in sent:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await manager.wait_for_order_async(order_id, timeout=remaining)
        result = _summarise(manager, watch, sent, simulators, time.monotonic() - started)
    manager.journal.close()
    return result


def _summarise(manager: ExchangeManager, watch: _Watch, sent: list[tuple[str, int]],
               simulators: Mapping[str, VenueSimulator], elapsed: float) -> DemoResult:
    result = DemoResult(elapsed, {n: watch.updates.get(n, 0) for n, _r, _s in ROLES})
    result.orders_sent = len(sent)
    orders = [manager.get_order(cid) for cid, _t in sent]
    result.by_status = dict(Counter(o.status.value for o in orders))
    result.by_connector = dict(Counter(o.connector or "-" for o in orders))
    result.fills = sum(s["fills"] for s in manager.get_stats()["connectors"].values())
    result.primary_lost_at = watch.lost_at
    result.primary_back_at = watch.back_at
    if watch.lost_ns is not None:
        on_backup = [t for cid, t in sent if t > watch.lost_ns and
                     manager.get_order(cid).connector == "fix"]
        if on_backup:
            result.first_backup_order_ms = (on_backup[0] - watch.lost_ns) / 1e6
    received: Counter[str] = Counter()
    for simulator in simulators.values():
        received.update(simulator.received_order_ids())
    for order in orders:
        cid = order.client_order_id or ""
        if not order.is_final or received[cid] == 0:
            result.lost.append(cid)
        if received[cid] > 1 or order.filled_quantity > order.quantity:
            result.duplicated.append(cid)
    return result


def demo_command(duration: float, out: TextIO) -> int:
    # The venue libraries log every refused reconnect while the primary is away; the
    # manager's own warnings say the same once.
    for name in ("ib_insync", "ib_async", "quickfix"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    result = asyncio.run(run_demo(duration, out))
    out.write("\n" + result.render() + "\n")
    return 0 if result.ok else 1
