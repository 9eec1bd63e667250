"""The plugin's ``stockfish_simulator``: the FIX exchange simulator as ``stockfish demo``
and other one-machine setups use it."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from typing import Any

from .exchange import FixExchange

__all__ = ["ExchangeVenue"]


class ExchangeVenue:
    """A :class:`FixExchange` on 127.0.0.1 with moving quotes; the connector's FileStore
    lives in a temporary directory that goes with this object."""

    def __init__(self, symbols: Sequence[str], begin_string: str = "FIX.4.4",
                 tick_interval: float = 0.05) -> None:
        self.begin_string = begin_string
        self._client_store = tempfile.TemporaryDirectory(prefix="stockfish-fix-client-")
        self.exchange = FixExchange(symbols=list(symbols), tick_interval=tick_interval)

    async def start(self) -> dict[str, Any]:
        await asyncio.to_thread(self.exchange.start)
        return self.exchange.connector_settings(
            self.begin_string, file_store_path=self._client_store.name)

    async def stop(self) -> None:
        await asyncio.to_thread(self.exchange.stop)

    def received_order_ids(self) -> list[str]:
        return [cl_ord_id for _session, cl_ord_id in self.exchange.orders_received]
