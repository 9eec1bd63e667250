"""``realtime.exchange_fix_connector``: FIXConnector says what to write instead."""

from __future__ import annotations

from typing import Any

from .exchange_base_connector import LegacyConnector

__all__ = ["FIXConnector"]


class FIXConnector(LegacyConnector):
    """The ``fix`` plugin's settings; use ``manager.add_connector("fix", ...)``."""

    stockfish_plugin = "fix"

    def __init__(self, router: Any = None, host: str | None = None, port: int | None = None,
                 **settings: Any) -> None:
        super().__init__(host=host, port=port, **settings)
