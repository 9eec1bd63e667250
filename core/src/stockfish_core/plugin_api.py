"""What a plugin uses from the core beyond the hooks: shared helpers.

Sequence accounting belongs to the core: a plugin sets ``MarketUpdate.sequence_number``
(and ``session``) and the manager counts gaps, duplicates, reordering and restarts per
(source, stream, symbol). A plugin that must react to a loss before it normalizes (an
order book maintained from incremental updates must be invalidated and resynchronised)
runs the core's :class:`Sequencer` itself, obtained here with :func:`sequencer_for`:
it counts into the connector's stats (visible in ``get_stats()``), logs gaps and
restarts, and from then on the manager does not check that connector's updates again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .accounts import AccountValues, Instrument, VenuePosition
from .connector import Connector
from .plugins import hookimpl
from .sequencing import NoEvents, SequenceEvents, Sequencer, Tracker
from .stats import RateLimitedLog

__all__ = [
    "AccountValues",
    "Instrument",
    "NoEvents",
    "RateLimitedLog",
    "SequenceEvents",
    "Sequencer",
    "Tracker",
    "VenuePosition",
    "hookimpl",
    "sequencer_for",
]


def sequencer_for(
    connector: Connector,
    events: SequenceEvents | None = None,
    *,
    stream: str = "",
    buffer_size: int = 64,
    wait: float = 0.05,
    restart_silence: float = 0.5,
    reset_window: int = 10_000,
    clock: Callable[[], float] = time.monotonic,
) -> Sequencer[Any]:
    """The core's sequencer for one sequence space (``stream``) of ``connector``, run by
    the plugin before it normalizes; ``events`` hears of joins, gaps and restarts.

    Counts go to the connector's stats; the manager no longer checks the sequence of
    this connector's updates (nothing is counted twice), and tells the sequencer when
    the connector reports a lost connection (a fall back after it is a new stream). Parameters as in
    :class:`~stockfish_core.sequencing.Sequencer`.
    """
    label = f"{connector.name} {stream}".strip()
    sequencer: Sequencer[Any] = Sequencer(
        events, stats=connector.stats, buffer_size=buffer_size, wait=wait,
        restart_silence=restart_silence, reset_window=reset_window, clock=clock, label=label)
    # A new session of the plugin (after a reconnect) replaces the stream's sequencer.
    connector.sequencers[:] = [s for s in connector.sequencers if s.label != label]
    connector.sequencers.append(sequencer)
    return sequencer
