"""``realtime.engine_loop`` belonged to the earlier engine (phase RT-1), not to the
connectors: importing it says what to write instead."""

from __future__ import annotations

raise ImportError(
    "realtime.engine_loop (RealTimeEngineLoop) is not part of the connectors: a strategy "
    "receives market data and fills as a subscriber here; write: "
    "manager = ExchangeManager.from_config('stockfish.yaml'); "
    "manager.add_subscriber(strategy)  # on_price_tick, on_orderbook, on_fill, ...; "
    "manager.start_all()"
)
