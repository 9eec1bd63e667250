"""What a plugin's venue simulator offers ``stockfish demo`` (and anyone who wants the
venue on one machine): see the ``stockfish_simulator`` hook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["VenueSimulator"]


@runtime_checkable
class VenueSimulator(Protocol):
    """A venue's counterpart on 127.0.0.1."""

    async def start(self) -> Mapping[str, Any]:
        """Start serving on 127.0.0.1; return the connector settings that reach it (host,
        port, endpoints...), to be merged into the connector's configuration."""
        ...

    async def stop(self) -> None:
        """Stop serving; connected clients lose their connection. May be started again."""
        ...

    def received_order_ids(self) -> list[str]:
        """Client order ids of every new order the venue received, in order (a venue that
        takes no orders returns an empty list)."""
        ...
