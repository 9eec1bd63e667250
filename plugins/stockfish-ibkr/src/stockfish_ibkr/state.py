"""What one ``ibkr`` connector keeps across sessions (``connector.state``).

A session (:class:`~stockfish_ibkr.session.IBSession`) lives from a connect to its
disconnect; the state outlives it: the pacing budget, the contract cache (conIds do not
change) and the orders, whose fills made while disconnected are recovered on reconnect.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from stockfish_core.plugin_api import Connector

from .config import IBKRConfig
from .contracts import ContractResolver
from .library import load_library
from .marketdata import FeedSub
from .orders import Orders
from .pacing import HistoricalPacer, RequestPacer

if TYPE_CHECKING:
    from .session import IBSession

__all__ = ["IBKRState"]


class IBKRState:
    """The connector's long-lived parts."""

    def __init__(self, connector: Connector, config: IBKRConfig,
                 lib: ModuleType | None = None) -> None:
        self.connector = connector
        self.config = config
        self.lib = lib if lib is not None else load_library(config.library_preference())
        pacing = config.pacing
        limit = pacing.max_messages_per_second
        self.pacer = RequestPacer(limit, 1.0, spacing=1.0 / limit)
        self.historical = HistoricalPacer(pacing.historical_per_10_minutes,
                                          pacing.historical_per_contract_2s,
                                          pacing.historical_cache_seconds,
                                          messages=self.pacer)
        self.contracts = ContractResolver(self.lib, exchange=config.exchange,
                                          currency=config.currency, explicit=config.contracts)
        #: id(ticker) -> quote / depth subscription: what normalize looks tickers up in
        #: (one ticker can serve both).
        self.price_tickers: dict[int, FeedSub] = {}
        self.depth_tickers: dict[int, FeedSub] = {}
        self.orders = Orders(self)
        self.session: IBSession | None = None

    @property
    def library_name(self) -> str:
        return self.lib.__name__

    @property
    def client_id(self) -> int:
        if self.session is not None:
            return self.session.endpoint.client_id
        return self.config.endpoint().client_id
