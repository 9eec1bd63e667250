"""Everything a plugin uses from the core, in one module: the plugin API.

A plugin's runtime modules import from ``stockfish_core`` only this module (its test
simulators and tests may also use :mod:`stockfish_core.testing`)::

    from stockfish_core.plugin_api import (
        API_VERSION, Capabilities, Connector, DataType, MarketUpdate, PluginSpec,
        PriceTick, Subscription, hookimpl,
    )

The plugin API version (:data:`API_VERSION`, declared by a plugin in its
:class:`PluginSpec`) covers exactly the names of ``__all__`` below: a name is added in a
minor version and removed or changed only in a major one. What is here:

- the hook marker :data:`hookimpl` and the plugin's declaration of itself
  (:class:`PluginSpec`, :class:`Capabilities`), the :class:`Connector` a hook is called
  with and the :class:`Subscription` it serves;
- the models: market data (:class:`MarketUpdate` and its payloads), orders, order updates,
  fills, positions and their enums;
- the errors a hook raises (:class:`VenueUnavailable`, :class:`OrderRejected`, ...);
- what a plugin's config class uses: :class:`Secret`, :class:`ConfigCompat` and
  :class:`KeyAlias`, the setting validators (:func:`positive`, :func:`non_negative`,
  :func:`in_range`, :data:`port_number`) and :class:`SettingError`;
- shared helpers, so that no plugin writes its own: the L2 order book
  (:class:`L2Book`), the sequencer (:func:`sequencer_for`), rate-limited logging
  (:class:`RateLimitedLog`), time (:func:`now_ns`, :func:`to_ns`,
  :func:`ns_to_datetime`, :func:`parse_interval`), exact decimals (:func:`to_decimal`),
  task cancellation (:func:`cancel_and_wait`) and the retention of final orders
  (:data:`KEEP_FINAL_ORDERS`, :data:`KEEP_FINAL_SECONDS`).

Sequence accounting belongs to the core: a plugin sets ``MarketUpdate.sequence_number``
(and ``session``) and the manager counts gaps, duplicates, reordering and restarts per
(source, stream, symbol). A plugin that must react to a loss before it normalizes (an
order book maintained from incremental updates must be invalidated and resynchronised)
runs the core's :class:`Sequencer` itself, obtained here with :func:`sequencer_for`:
it counts into the connector's stats (visible in ``get_stats()``), logs gaps and
restarts, and from then on the manager does not check that connector's updates again.

For venues that take orders: ``connector.spawn(coro, name=...)`` runs a reader loop whose
death is reported as a lost connection (:func:`cancel_spawned` ends such tasks in the
disconnect hook); :class:`Execution` reports a fill by client order id alone (the core
completes it from the order it holds); :func:`answer_status` answers a STATUS request as
the core expects (docs/order-contract.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .__about__ import API_VERSION
from .accounts import AccountValues, Instrument, VenuePosition
from .book import BookError, L2Book, show
from .config import (
    ConfigCompat,
    KeyAlias,
    SettingError,
    in_range,
    non_negative,
    port_number,
    positive,
)
from .connector import Capabilities, Connector, PluginSpec, Subscription
from .data.settings import HistoryRequest, to_ns
from .errors import (
    ConfigError,
    InvalidOrderError,
    OrderRejected,
    StockfishError,
    VenueUnavailable,
)
from .hotpath import without_gc
from .models import (
    PAYLOAD_TYPES,
    ConnectorStatus,
    DataType,
    MacroEvent,
    MarketUpdate,
    NewsEvent,
    OHLCVBar,
    OrderBookLevel,
    OrderBookSnapshot,
    PriceTick,
    Trade,
    now_ns,
    ns_to_datetime,
)
from .oms import KEEP_FINAL_ORDERS, KEEP_FINAL_SECONDS
from .orders import (
    Execution,
    Fill,
    Order,
    OrderAction,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    TimeInForce,
    to_decimal,
)
from .plugins import hookimpl
from .reporting import UNKNOWN_ORDER, answer_status
from .secret import Secret
from .sequencing import NoEvents, SequenceEvents, Sequencer, Tracker
from .sim.market import parse_interval
from .stats import RateLimitedLog
from .tasks import cancel_and_wait, cancel_spawned, spawned

__all__ = [
    "API_VERSION",
    "KEEP_FINAL_ORDERS",
    "KEEP_FINAL_SECONDS",
    "PAYLOAD_TYPES",
    "UNKNOWN_ORDER",
    "AccountValues",
    "BookError",
    "Capabilities",
    "ConfigCompat",
    "ConfigError",
    "Connector",
    "ConnectorStatus",
    "DataType",
    "Execution",
    "Fill",
    "HistoryRequest",
    "Instrument",
    "InvalidOrderError",
    "KeyAlias",
    "L2Book",
    "MacroEvent",
    "MarketUpdate",
    "NewsEvent",
    "NoEvents",
    "OHLCVBar",
    "Order",
    "OrderAction",
    "OrderBookLevel",
    "OrderBookSnapshot",
    "OrderRejected",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "OrderUpdate",
    "PluginSpec",
    "Position",
    "PriceTick",
    "RateLimitedLog",
    "Secret",
    "SequenceEvents",
    "Sequencer",
    "SettingError",
    "StockfishError",
    "Subscription",
    "TimeInForce",
    "Tracker",
    "Trade",
    "VenuePosition",
    "VenueUnavailable",
    "answer_status",
    "cancel_and_wait",
    "cancel_spawned",
    "hookimpl",
    "in_range",
    "non_negative",
    "now_ns",
    "ns_to_datetime",
    "parse_interval",
    "port_number",
    "positive",
    "sequencer_for",
    "show",
    "spawned",
    "to_decimal",
    "to_ns",
    "without_gc",
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
