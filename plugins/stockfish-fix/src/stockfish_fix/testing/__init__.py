"""Test support: a FIX exchange simulator (a QuickFIX acceptor with the core's matching
engine) that the connector's tests, the demo and the benchmark run against, and a
scripted FIX peer for the misbehaviour a real acceptor never shows.

Run the simulator on its own with ``python -m stockfish_fix.testing`` or
``stockfish-fix-sim``.
"""

from .exchange import DEFAULT_BEGIN_STRINGS, FixExchange, free_port
from .peer import RawFixPeer, fix_message

__all__ = ["DEFAULT_BEGIN_STRINGS", "FixExchange", "RawFixPeer", "fix_message", "free_port"]
