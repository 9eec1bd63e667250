"""A TWS-protocol gateway simulator for tests, demos and benchmarks.

``python -m stockfish_ibkr.testing`` (or ``stockfish-ibkr-sim``) runs it as a
command; :class:`GatewaySimulator` runs it inside a test's event loop. ib_insync and
ib_async connect to it exactly as they connect to TWS or IB Gateway.
"""

from .broker import OrderRefused, SimBroker
from .feeds import BURST_END_SIZE, STREAM_REQUEST, stream_request
from .gateway import GatewaySimulator
from .instruments import Instrument, InstrumentBook, default_instruments
from .state import SimExecution, SimOrder
from .wire import SERVER_VERSION

__all__ = [
    "BURST_END_SIZE",
    "SERVER_VERSION",
    "STREAM_REQUEST",
    "GatewaySimulator",
    "Instrument",
    "InstrumentBook",
    "OrderRefused",
    "SimBroker",
    "SimExecution",
    "SimOrder",
    "default_instruments",
    "stream_request",
]
