"""``python -m stockfish_fix.testing`` (``stockfish-fix-sim``): run the exchange."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
