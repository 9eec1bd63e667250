"""``python -m stockfish_ibkr.testing``: run the gateway simulator."""

import sys

from .cli import main

sys.exit(main())
