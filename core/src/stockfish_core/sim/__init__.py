"""The built-in simulated venue ``sim``: a matching engine, a market-data generator and
the plugin that serves them (entry point ``sim`` of stockfish-core).

The matching engine (:mod:`.matching`) is pure and synchronous, and is reused by the FIX
and TWS-protocol venue simulators of the other plugins.
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
