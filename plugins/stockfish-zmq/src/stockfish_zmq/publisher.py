"""Deprecated: the publisher is :mod:`stockfish_zmq.testing.publisher` (the simulator of
every plugin is under ``testing/``); ``python -m stockfish_zmq.testing`` runs it."""

from __future__ import annotations

import warnings

from .testing.publisher import GARBAGE, WIRE_FORMATS, Faults, Publisher, make_message

__all__ = ["GARBAGE", "WIRE_FORMATS", "Faults", "Publisher", "make_message"]

warnings.warn("stockfish_zmq.publisher is stockfish_zmq.testing.publisher now",
              DeprecationWarning, stacklevel=2)

if __name__ == "__main__":  # pragma: no cover - the earlier command line
    from .testing.cli import main

    raise SystemExit(main())
