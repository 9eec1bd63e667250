"""``python -m stockfish_zmq.testing`` (``stockfish-zmq-sim``): run the publisher."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
