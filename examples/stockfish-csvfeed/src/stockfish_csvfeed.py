"""stockfish-csvfeed: replay level 1 quotes from a CSV file as a market-data feed.

The example plugin of the plugin guide. Columns (header row required):
``timestamp_ns,symbol,bid,ask,last,bid_size,ask_size,volume``; empty cells are None.
"""

from __future__ import annotations

import asyncio
import csv
import math
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from stockfish_core.plugin_api import (
    API_VERSION,
    Capabilities,
    Connector,
    DataType,
    HistoryRequest,
    MarketUpdate,
    OHLCVBar,
    OrderRejected,
    OrderRequest,
    PluginSpec,
    PriceTick,
    Subscription,
    hookimpl,
    now_ns,
    parse_interval,
)

__version__ = "0.1.0"

_FLOATS = ("bid", "ask", "last", "bid_size", "ask_size", "volume")


@attrs.frozen
class CsvFeedConfig:
    """Settings of one csvfeed connector (its section of the YAML)."""

    #: The CSV file: a header line, then timestamp_ns,symbol,bid,ask,last,... per row.
    path: str
    #: Replay speed against the file's timestamps (2.0: twice as fast); 0: as fast as read.
    speed: float = 0.0
    #: Rows handed to the core as one batch.
    batch_size: int = 100
    #: Start again from the top at the end of the file.
    loop: bool = False


@attrs.define
class _Replay:
    symbols: set[str] = attrs.Factory(set)
    #: Set by the first subscription: the replay starts then, so nothing is skipped.
    started: asyncio.Event = attrs.Factory(asyncio.Event)
    task: asyncio.Task[None] | None = None
    #: The core tracks sequences per (source, stream, symbol): one counter per symbol.
    sequences: dict[str, int] = attrs.Factory(dict)


@hookimpl
def stockfish_plugin_spec() -> PluginSpec:
    return PluginSpec(
        api_version=API_VERSION,
        config_class=CsvFeedConfig,
        capabilities=Capabilities(data_types={DataType.PRICE_TICK}),
        description="Replays level 1 quotes from a CSV file.",
    )


@hookimpl
def stockfish_connect(connector: Connector) -> None:
    config: CsvFeedConfig = connector.config
    path = Path(config.path)
    if not path.is_file():
        connector.report_failed(f"no such file: {path}")
        raise FileNotFoundError(f"csvfeed {connector.name}: no such file: {path}")
    state = _Replay()
    connector.state = state
    state.task = connector.spawn(_replay(connector, path, state), name="replay")
    connector.report_connected()


async def _replay(connector: Connector, path: Path, state: _Replay) -> None:
    config: CsvFeedConfig = connector.config
    await state.started.wait()
    while True:
        previous_ts = None
        batch: list[dict[str, str]] = []
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                if row.get("symbol") not in state.symbols:
                    continue
                ts = int(row.get("timestamp_ns") or 0)
                if config.speed > 0 and previous_ts is not None and ts > previous_ts:
                    if batch:
                        connector.feed(batch)
                        batch = []
                    await asyncio.sleep((ts - previous_ts) / 1e9 / config.speed)
                previous_ts = ts
                batch.append(row)
                if len(batch) >= config.batch_size:
                    connector.feed(batch)
                    batch = []
                    await asyncio.sleep(0)  # let the loop breathe between batches
        if batch:
            connector.feed(batch)
        if not config.loop:
            return
        await asyncio.sleep(0)


@hookimpl
async def stockfish_disconnect(connector: Connector) -> None:
    state: _Replay | None = connector.state
    if state is not None and state.task is not None:
        state.task.cancel()
        try:
            await state.task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
            pass
    connector.report_closed()


@hookimpl
def stockfish_subscribe(connector: Connector, subscription: Subscription) -> None:
    if subscription.data_type is not DataType.PRICE_TICK:
        raise ValueError(f"csvfeed serves price ticks only, not {subscription.data_type.value}")
    connector.state.symbols.add(subscription.symbol)
    connector.state.started.set()


@hookimpl
def stockfish_unsubscribe(connector: Connector, subscription: Subscription) -> None:
    connector.state.symbols.discard(subscription.symbol)


def _number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not a price or size: {text!r}")
    return value


@hookimpl
def stockfish_normalize(connector: Connector, messages: list[Any]) -> list[MarketUpdate]:
    state: _Replay = connector.state
    received = now_ns()
    updates = []
    for row in messages:
        try:
            fields = {name: _number(row.get(name)) for name in _FLOATS}
            ts = int(row.get("timestamp_ns") or 0)
            tick = PriceTick(row["symbol"], timestamp_ns=ts, **fields)
        except (KeyError, ValueError, TypeError) as exc:
            connector.report_error(f"bad CSV row {row!r}: {exc}", data=True)
            continue
        sequence = state.sequences[tick.symbol] = state.sequences.get(tick.symbol, 0) + 1
        updates.append(MarketUpdate(DataType.PRICE_TICK, tick, connector.name, sequence,
                                    ts, received))
    return updates


@hookimpl
def stockfish_history(connector: Connector, request: HistoryRequest) -> list[Any]:
    """Bars of the CSV's last prices (the mid where a row has no last), or its ticks."""
    config: CsvFeedConfig = connector.config
    step = parse_interval(request.interval)
    # A bar starting before the end takes every tick of its interval.
    end = request.end_ns if request.what == "ticks" else -(-request.end_ns // step) * step
    ticks = []
    with Path(config.path).open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("symbol") != request.symbol:
                continue
            ts = int(row.get("timestamp_ns") or 0)
            if request.start_ns <= ts < end:
                try:
                    fields = {name: _number(row.get(name)) for name in _FLOATS}
                except ValueError as exc:
                    connector.report_error(f"bad CSV row {row!r}: {exc}", data=True)
                    continue
                ticks.append(PriceTick(request.symbol, timestamp_ns=ts, **fields))
    ticks.sort(key=lambda t: t.timestamp_ns)
    if request.what == "ticks":
        return ticks
    bars: list[OHLCVBar] = []
    previous_volume: float | None = None
    for tick in ticks:
        price = tick.last if tick.last is not None else tick.mid_price
        if price is None:
            continue
        traded = 0.0
        if tick.volume is not None:  # the CSV's volume is cumulative
            traded = max(0.0, tick.volume - previous_volume) if previous_volume is not None \
                else 0.0
            previous_volume = tick.volume
        start = tick.timestamp_ns - tick.timestamp_ns % step
        bar = bars[-1] if bars else None
        if bar is None or bar.timestamp_ns != start:
            bars.append(OHLCVBar(request.symbol, price, price, price, price, traded,
                                 request.interval, start))
        else:
            bar.high = max(bar.high, price)
            bar.low = min(bar.low, price)
            bar.close = price
            bar.volume += traded
    return [bar for bar in bars if bar.timestamp_ns >= request.start_ns]


@hookimpl
def stockfish_execute(connector: Connector, request: OrderRequest) -> None:
    raise OrderRejected(f"csvfeed connector {connector.name!r} is a data feed and takes no orders")


class CsvFeedSimulator:
    """The venue on one machine: a temporary CSV of random-walk quotes."""

    def __init__(self, symbols: list[str], rows: int = 1000) -> None:
        self.symbols = symbols
        self.rows = rows
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    async def start(self) -> Mapping[str, Any]:
        self._dir = tempfile.TemporaryDirectory(prefix="csvfeed-")
        path = Path(self._dir.name) / "quotes.csv"
        rng = random.Random(7)
        prices = dict.fromkeys(self.symbols, 100.0)
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["timestamp_ns", "symbol", "bid", "ask", "last", "bid_size",
                             "ask_size", "volume"])
            for i in range(self.rows):
                symbol = self.symbols[i % len(self.symbols)]
                prices[symbol] = max(1.0, prices[symbol] + rng.uniform(-0.05, 0.05))
                bid = round(prices[symbol], 2)
                writer.writerow([1_700_000_000_000_000_000 + i * 1_000_000, symbol, bid,
                                 round(bid + 0.01, 2), bid, 100, 100, i])
        return {"path": str(path), "loop": True}

    async def stop(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def received_order_ids(self) -> list[str]:
        return []


@hookimpl
def stockfish_simulator(symbols: list[str]) -> CsvFeedSimulator:
    return CsvFeedSimulator(symbols)
