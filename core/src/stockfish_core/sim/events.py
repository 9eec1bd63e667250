"""The execution reports of the fill engine, now :mod:`stockfish_core.fills.events`;
this module keeps the names where they have always been imported from."""

from ..fills.events import NO_ORDER_ID, ExecEvent, ExecKind, OrderView, Quote

__all__ = ["NO_ORDER_ID", "ExecEvent", "ExecKind", "OrderView", "Quote"]
