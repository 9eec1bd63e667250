"""``realtime.exchange_zmq_connector``: ZeroMQConnector says what to write instead."""

from __future__ import annotations

import enum
from typing import Any

from .exchange_base_connector import LegacyConnector

__all__ = ["ZMQFeedType", "ZeroMQConnector"]


class ZMQFeedType(str, enum.Enum):
    """The zmq plugin's ``feed_type`` setting."""

    TICKER = "ticker"
    DEPTH = "depth"
    TRADES = "trade"
    CUSTOM = "custom"


class ZeroMQConnector(LegacyConnector):
    """The ``zmq`` plugin's settings; use ``manager.add_connector("zmq", ...)``."""

    stockfish_plugin = "zmq"

    def __init__(self, router: Any = None, endpoints: list[str] | None = None,
                 feed_type: ZMQFeedType | str | None = None, **settings: Any) -> None:
        kind = feed_type.value if isinstance(feed_type, ZMQFeedType) else feed_type
        super().__init__(endpoints=endpoints, feed_type=kind, **settings)
