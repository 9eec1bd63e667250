"""The plugin's ``stockfish_simulator``: the gateway simulator as ``stockfish demo`` and
other one-machine setups use it (start, stop mid-run, start again on the same port)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .gateway import GatewaySimulator

__all__ = ["GatewayVenue"]


class GatewayVenue:
    """A :class:`GatewaySimulator` on 127.0.0.1; its back end (orders, executions, ids)
    lives on across stop and start, as a real broker does while TWS restarts."""

    def __init__(self, symbols: Sequence[str], client_id: int = 1) -> None:
        self.symbols = list(symbols)
        self.client_id = client_id
        self.gateway = GatewaySimulator()

    async def start(self) -> dict[str, Any]:
        await self.gateway.start()
        return {"host": self.gateway.host, "port": self.gateway.port,
                "client_id": self.client_id}

    async def stop(self) -> None:
        await self.gateway.stop()

    def received_order_ids(self) -> list[str]:
        return [o.order_ref for o in self.gateway.broker.orders.values() if o.order_ref]
