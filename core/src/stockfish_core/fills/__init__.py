"""The fill engine: one matching engine for every simulated fill (the ``sim`` venue, the
``paper`` venue and the backtester of stockfish-strategy, the test venues of the FIX and
IBKR plugins), with its commission and slippage models.

* :class:`MatchingEngine` (:mod:`.engine`): market orders at the touch plus slippage,
  limit orders when the market crosses them, stops triggered by the market, partial fills
  by displayed size, IOC/FOK/DAY/GTC.
* Commission models (:mod:`.costs`): per share with a minimum and maximum per order (IB's
  fixed schedule), basis points, per order. Slippage models: fixed basis points, a
  fraction of the spread. :func:`parse_commission` / :func:`parse_slippage` read their
  text forms (``per_share:0.005,min=1,max=0.01``, ``spread:0.5``).
* :func:`order_update` (:mod:`.reports`): an execution report as the core's OrderUpdate.
"""

from .costs import (
    BpsCommission,
    CommissionModel,
    FixedBpsSlippage,
    PerOrderCommission,
    PerShareCommission,
    SlippageModel,
    SpreadFractionSlippage,
    parse_commission,
    parse_slippage,
)
from .engine import MatchingEngine
from .events import NO_ORDER_ID, ExecEvent, ExecKind, OrderView, Quote
from .reports import order_update, view_update

__all__ = [
    "NO_ORDER_ID",
    "BpsCommission",
    "CommissionModel",
    "ExecEvent",
    "ExecKind",
    "FixedBpsSlippage",
    "MatchingEngine",
    "OrderView",
    "PerOrderCommission",
    "PerShareCommission",
    "Quote",
    "SlippageModel",
    "SpreadFractionSlippage",
    "order_update",
    "parse_commission",
    "parse_slippage",
    "view_update",
]
