"""``python -m stockfish_ibkr.testing`` (``stockfish-ibkr-sim``): run the gateway simulator."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
