"""The built-in simulated venue ``sim``: a matching engine, a market-data generator and
the plugin that serves them (entry point ``sim`` of stockfish-core).

The matching engine is the core's shared fill engine (:mod:`stockfish_core.fills`; the
names stay importable from :mod:`.matching`): pure and synchronous, and reused by the
paper venue and backtester of stockfish-strategy and the FIX and TWS-protocol venue
simulators of the other plugins.
"""

from .market import MarketSimulator, MarketStep, parse_interval
from .matching import NO_ORDER_ID, ExecEvent, ExecKind, MatchingEngine, OrderView, Quote
from .plugin import CAPABILITIES, SimConfig, venue_of
from .venue import SimVenue

__all__ = [
    "CAPABILITIES",
    "NO_ORDER_ID",
    "ExecEvent",
    "ExecKind",
    "MarketSimulator",
    "MarketStep",
    "MatchingEngine",
    "OrderView",
    "Quote",
    "SimConfig",
    "SimVenue",
    "parse_interval",
    "venue_of",
]
