"""The built-in ``replay`` plugin: a recording played back as a venue feed.

::

    connectors:
      replay:
        path: rec                    # a folder written by the recorder
        speed: 1.0                   # 1: the recorded pace; 10: ten times it; 0: at once
        symbols: [SPY]               # optional: what to play (default: everything)
        types: [price_tick, trade]
        venues: [sim]                # the recorded connectors to play
        start: "2026-12-07T14:30:00" # receive-time range [start, end), UTC
        end: "2026-12-07T15:00:00"

Playback starts at the first subscription (or at connect with ``autostart: true``) and
plays the selection in the order the manager delivered it when it was recorded. Updates
go through ``stockfish_normalize`` and the manager like any feed's, with their recorded
source, stream, sequence numbers and venue and receive timestamps: a subscriber sees what
it saw live. ``speed: 0`` plays as fast as the manager takes it (a simulated clock: the
timestamps are the recorded ones). The manager checks sequence numbers per (connector,
stream, symbol): a recording where several connectors delivered the same symbol is
replayed with one replay connector per recorded venue (``venues: [...]``).
When it has played everything, the connector stays connected and counts it in
``connector.state.finished``. After a reconnect, playback goes on after the last update
it handed over.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..plugin_api import (
    API_VERSION,
    Capabilities,
    Connector,
    DataType,
    MarketUpdate,
    OrderRejected,
    OrderRequest,
    PluginSpec,
    Subscription,
    hookimpl,
    non_negative,
    positive,
    sequencer_for,
    without_gc,
)
from . import INSTALL_HINT
from .settings import to_ns

if TYPE_CHECKING:
    import numpy as np

    from .schema import Decoded

__all__ = ["ReplayConfig", "ReplayState"]

log = logging.getLogger("stockfish.replay")


def _time(_: Any, attribute: attrs.Attribute, value: str | None) -> None:  # type: ignore[type-arg]
    to_ns(value)


@attrs.frozen
class ReplayConfig:
    """Settings of a ``replay`` connector."""

    #: The recording's folder.
    path: str
    #: 1.0 plays at the recorded pace, N at N times it, 0 as fast as possible.
    speed: float = attrs.field(default=0.0, validator=non_negative)
    #: Symbols to play (default: all; news counts when it names one of them).
    symbols: list[str] | None = None
    #: Data types to play (default: all).
    types: list[DataType] | None = None
    #: Recorded connectors to play (default: all).
    venues: list[str] | None = None
    #: Receive-time range ``[start, end)``, ISO 8601 (UTC unless an offset is given).
    start: str | None = attrs.field(default=None, validator=_time)
    #: The end of the receive-time range (exclusive), ISO 8601.
    end: str | None = attrs.field(default=None, validator=_time)
    #: Updates handed to the manager at most at once.
    batch_size: int = attrs.field(default=1000, validator=positive)
    #: Start playing at connect instead of at the first subscription.
    autostart: bool = False


@attrs.define(eq=False)
class _Run:
    """Rows ``[start, stop)`` of one decoded table: the replay's raw venue message."""

    decoded: Decoded
    start: int
    stop: int


@attrs.define(eq=False)
class ReplayState:
    """``connector.state`` of a replay connector."""

    config: ReplayConfig
    started: asyncio.Event = attrs.Factory(asyncio.Event)
    done: asyncio.Event = attrs.Factory(asyncio.Event)
    task: asyncio.Task[None] | None = None
    #: Updates handed to the manager so far.
    played: int = 0
    #: Set when everything was played: the number of updates.
    finished: int | None = None
    #: The loop time at which the first recorded update was due (paced playback).
    clock0: float | None = None
    error: str | None = None
    #: The selection already read (by data type, in recording order), set before the
    #: connector connects: played instead of reading the recording again (the backtester
    #: reads it once to check it).
    tables: dict[DataType, Any] | None = None


CAPABILITIES = Capabilities(data_types=frozenset(DataType))  # type: ignore[arg-type]


@hookimpl
def stockfish_plugin_spec() -> PluginSpec:
    return PluginSpec(api_version=API_VERSION, config_class=ReplayConfig,
                      capabilities=CAPABILITIES,
                      description="Plays a recording (stockfish record) as a venue feed.")


@hookimpl
def stockfish_connect(connector: Connector) -> None:
    config: ReplayConfig = connector.config
    try:  # the plugin loads without pyarrow (``stockfish plugins`` lists it); playing needs it
        import pyarrow  # noqa: F401
    except ImportError:
        connector.report_failed(f"replay needs pyarrow; {INSTALL_HINT}")
        raise ImportError(f"replay {connector.name}: replay needs pyarrow; "
                          f"{INSTALL_HINT}") from None
    if not Path(config.path).is_dir():
        connector.report_failed(f"no recording at {config.path}")
        raise FileNotFoundError(f"replay {connector.name}: no recording at {config.path}")
    # A recording holds the stream as the manager delivered it: in order, de-duplicated,
    # its gaps already counted, and a selection skips numbers on purpose. The replay takes
    # the core's sequencer for its stream (and never offers it anything), so the manager
    # neither holds nor checks the recorded sequence numbers again.
    sequencer_for(connector, stream="recording")
    state = connector.state
    if not isinstance(state, ReplayState):
        state = connector.state = ReplayState(config)
    if state.task is None or state.task.done():
        state.task = asyncio.get_running_loop().create_task(_play(connector, state))
    if config.autostart:
        state.started.set()
    connector.report_connected()


@hookimpl
async def stockfish_disconnect(connector: Connector) -> None:
    state = connector.state
    if isinstance(state, ReplayState) and state.task is not None:
        state.task.cancel()
        try:
            await state.task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
            pass
        state.task = None
    connector.report_closed()


@hookimpl
def stockfish_subscribe(connector: Connector, subscription: Subscription) -> None:
    state = connector.state
    if isinstance(state, ReplayState):
        state.started.set()


@hookimpl
def stockfish_unsubscribe(connector: Connector, subscription: Subscription) -> None:
    """Playback plays the configured selection; an unsubscribe changes nothing."""


@hookimpl
def stockfish_normalize(connector: Connector, messages: list[Any]) -> list[MarketUpdate]:
    out: list[MarketUpdate] = []
    for message in messages:
        if not isinstance(message, _Run):
            connector.report_error(f"replay: cannot normalize a {type(message).__name__}",
                                   data=True)
            continue
        out.extend(message.decoded.build(message.start, message.stop))
    return out


@hookimpl
def stockfish_execute(connector: Connector, request: OrderRequest) -> None:
    raise OrderRejected(f"replay connector {connector.name!r} is a data feed and takes no "
                        "orders")


# -- playback ------------------------------------------------------------------------
#: Consecutive days are read together up to this many bytes of Parquet: a day of ticks is
#: one read of its own, years of daily bars (a file a day) a few.
READ_BYTES = 64 << 20


def _day_groups(selection: Any, limit: int = READ_BYTES) -> list[list[Any]]:
    """The selection's days in order, grouped so that each group is read in one pass."""
    groups: list[list[Any]] = []
    size = 0
    for day, folder in selection.days():
        day_bytes = sum(p.stat().st_size for p in folder.glob("type=*/venue=*/*.parquet"))
        if not groups or (groups[-1] and size + day_bytes > limit):
            groups.append([])
            size = 0
        groups[-1].append(day)
        size += day_bytes
    return groups


def _runs(decoded: list[Decoded]) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """The recording order of several decoded tables as runs (table, start, stop), and
    the receive time of every row in that order."""
    import numpy as np

    if not decoded:
        return [], np.zeros(0, dtype=np.int64)
    seqs = np.concatenate([np.asarray(d.rec_seq, dtype=np.int64) for d in decoded])
    which = np.concatenate([np.full(len(d), i, dtype=np.int64) for i, d in enumerate(decoded)])
    rows = np.concatenate([np.arange(len(d), dtype=np.int64) for d in decoded])
    recv = np.concatenate([np.asarray(d.envelope[3], dtype=np.int64) for d in decoded])
    # Day by day (the date partitions, of the receive time), then as recorded: the order
    # of a selection read day by day, when several days are read at once.
    order = np.lexsort((seqs, recv // 86_400_000_000_000))
    which, rows = which[order], rows[order]
    # Receive times from several connectors may step back a little: pace on their maximum.
    recv = np.maximum.accumulate(recv[order])
    # A run ends where the table changes or the row does not follow the previous one.
    breaks = np.nonzero((np.diff(which) != 0) | (np.diff(rows) != 1))[0] + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(order)]])
    runs = [(int(which[a]), int(rows[a]), int(rows[a]) + int(b - a))
            for a, b in zip(starts, stops, strict=True)]
    return runs, recv


async def _play(connector: Connector, state: ReplayState) -> None:
    import numpy as np

    from .reader import Selection
    from .schema import decode

    config = state.config
    await state.started.wait()
    try:
        selection = Selection(config.path, symbols=config.symbols, types=config.types,
                              venues=config.venues, start=config.start, end=config.end)
        loop = asyncio.get_running_loop()
        clock0: float | None = None
        skip = state.played  # after a reconnect, go on where the last session stopped
        recv0 = 0
        preloaded = state.tables
        for days in _day_groups(selection) if preloaded is None else [None]:
            decoded = []
            for data_type in selection.types:
                table = (selection.table(data_type, days) if preloaded is None
                         else preloaded.get(data_type))
                if table is not None:
                    decoded.append(decode(data_type, table))
            runs, recv = _runs(decoded)
            position = 0  # row index in recording order, matching recv
            if clock0 is None and len(recv):
                clock0, recv0 = loop.time(), int(recv[0])
                state.clock0 = clock0
            pending: list[_Run] = []
            count = 0
            for index, start, stop in runs:
                if skip:
                    skipped = min(skip, stop - start)
                    skip -= skipped
                    start += skipped
                    position += skipped
                while start < stop:
                    if config.speed > 0 and clock0 is not None:
                        due = clock0 + (int(recv[position]) - recv0) / 1e9 / config.speed
                        wait = due - loop.time()
                        if wait > 0:
                            if pending:
                                _feed(connector, state, pending)
                                pending, count = [], 0
                            await asyncio.sleep(wait)
                        # Of the rows that may follow, take those already due.
                        now = recv0 + (loop.time() - clock0) * config.speed * 1e9
                        window = recv[position:position + min(stop - start,
                                                              config.batch_size - count)]
                        take = max(1, int(np.searchsorted(window, now, side="right")))
                    else:
                        take = min(stop - start, config.batch_size - count)
                    pending.append(_Run(decoded[index], start, start + take))
                    start += take
                    position += take
                    count += take
                    if count >= config.batch_size:
                        _feed(connector, state, pending)
                        pending, count = [], 0
                        await asyncio.sleep(0)
            if pending:
                _feed(connector, state, pending)
                await asyncio.sleep(0)
        state.finished = state.played
        log.info("replay %s: finished, %d updates played", connector.name, state.played)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported, the connector goes to ERROR
        state.error = f"{type(exc).__name__}: {exc}"
        log.error("replay %s: playback failed: %s", connector.name, state.error)
        connector.report_error(f"playback failed: {state.error}")
        connector.report_failed(state.error)
    finally:
        state.done.set()


def _feed(connector: Connector, state: ReplayState, runs: list[_Run]) -> None:
    """One batch through normalize and the manager's delivery, with the cyclic garbage
    collector paused, as the zmq connector feeds its batches: the updates built from
    the recording have no cycles and are freed by reference counting once delivered."""
    state.played += sum(r.stop - r.start for r in runs)
    without_gc(connector.feed, list(runs))
