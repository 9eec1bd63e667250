"""The matching engine, now the shared fill engine :mod:`stockfish_core.fills`; this
module keeps the names where they have always been imported from."""

from ..fills.engine import NO_ORDER_ID, ExecEvent, ExecKind, MatchingEngine, OrderView, Quote

__all__ = [
    "NO_ORDER_ID",
    "ExecEvent",
    "ExecKind",
    "MatchingEngine",
    "OrderView",
    "Quote",
]
