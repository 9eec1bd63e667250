"""``realtime.exchange_ibkr_connector``: IBKRConnector says what to write instead."""

from __future__ import annotations

from typing import Any

from .exchange_base_connector import LegacyConnector

__all__ = ["IBKRConnector"]


class IBKRConnector(LegacyConnector):
    """The ``ibkr`` plugin's settings; use ``manager.add_connector("ibkr", ...)``."""

    stockfish_plugin = "ibkr"

    def __init__(self, router: Any = None, host: str | None = None, port: int | None = None,
                 client_id: int | None = None, **settings: Any) -> None:
        super().__init__(host=host, port=port, client_id=client_id, **settings)
