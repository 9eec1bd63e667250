"""What the simulated IB back end remembers about orders and executions.

Kept by :class:`~stockfish_ibkr.testing.broker.SimBroker`, which outlives the gateway's
listening socket: orders, executions and order ids survive a gateway stop and restart.
"""

from __future__ import annotations

import attrs

from .instruments import Instrument

__all__ = ["DONE_STATUSES", "SimExecution", "SimOrder"]

#: IB order statuses after which nothing more happens to an order.
DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})


@attrs.define(slots=True, eq=False)
class SimOrder:
    """One order as TWS knows it (IB's field names and status strings)."""

    order_id: int
    client_id: int
    perm_id: int
    instrument: Instrument
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str
    outside_rth: bool = False
    parent_id: int = 0
    status: str = "PendingSubmit"
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    why_held: str = ""
    warning: str = ""
    completed_time: str = ""
    completed_status: str = ""
    #: The order's id in the matching engine.
    engine_id: str = ""
    commission: float = 0.0
    #: Filled before the back end was restored from its state file (the matching engine
    #: then holds only the rest), and at what average price.
    filled_before: float = 0.0
    avg_before: float = 0.0
    #: The one-cancels-all group: the first fill of one member cancels the others.
    oca_group: str = ""
    #: False while TWS holds the order untransmitted (placed with transmit=False); the
    #: group is transmitted by a later order of it placed with transmit=True.
    transmitted: bool = True
    #: A GTD order's expire time as the client wrote it (goodTillDate).
    good_till_date: str = ""
    #: A TRAIL order's trail as a percentage (else the amount is in ``aux_price``).
    trailing_percent: float | None = None

    @property
    def remaining(self) -> float:
        return 0.0 if self.status in DONE_STATUSES else self.quantity - self.filled

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES

    def describe(self) -> str:
        price = f" @ {self.lmt_price}" if self.lmt_price is not None else ""
        stop = f" stop {self.aux_price}" if self.aux_price is not None else ""
        return (f"order {self.order_id} (client {self.client_id}, perm {self.perm_id}) "
                f"{self.action} {self.quantity:g} {self.instrument.key} {self.order_type}"
                f"{price}{stop} {self.tif}: {self.status}")


@attrs.define(slots=True, eq=False)
class SimExecution:
    """One fill of one order, with its commission report."""

    exec_id: str
    order: SimOrder
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    time_text: str
    timestamp_ns: int
    commission: float
    realized_pnl: float | None = None
    #: 1 added liquidity, 2 removed liquidity.
    liquidity: int = 2
