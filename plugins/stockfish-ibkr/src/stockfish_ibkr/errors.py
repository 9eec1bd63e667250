"""The connector's errors and what IB's message codes mean to it.

TWS reports everything through one ``error(reqId, code, message)`` callback: real errors,
warnings, order rejections and connectivity notices alike. The sets below sort the codes
the connector acts on; the rest are logged and reported with their code.
"""

from __future__ import annotations

from stockfish_core.plugin_api import StockfishError

__all__ = [
    "CLIENT_ID_IN_USE",
    "CONNECTIVITY",
    "FARM_BROKEN",
    "FARM_OK",
    "INFO_CODES",
    "ClientIdInUse",
    "ConnectTimeout",
    "GatewayNotListening",
    "IBKRConnectError",
    "IBKRError",
    "UnknownSymbol",
]

#: 326: "Unable to connect as the client id is already in use."
CLIENT_ID_IN_USE = 326
#: 1100 lost, 1101 restored with data lost, 1102 restored with data maintained.
CONNECTIVITY = frozenset({1100, 1101, 1102})
#: Data farm notices: broken (market data, historical, sec-def) and OK again.
FARM_BROKEN = frozenset({2103, 2105, 2157})
FARM_OK = frozenset({2104, 2106, 2158, 2107, 2108})
#: Notices that need no action: 2100-2199 warnings other than the farm ones, 202 cancel
#: confirmations, 399 order warnings, 10167 delayed data being displayed.
INFO_CODES = frozenset({202, 399, 10167, 2100, 2109, 2119, 2137, 2150, 2168, 2169})
#: Not subscribed to live market data for this contract.
NOT_SUBSCRIBED = frozenset({354, 10089, 10090, 10091, 10168})
#: No security definition / ambiguous contract.
NO_CONTRACT = frozenset({200})
#: Historical data service errors (pacing, no data).
HISTORICAL = frozenset({162, 165, 366})


class IBKRError(StockfishError):
    """A problem of the ``ibkr`` connector."""


class IBKRConnectError(IBKRError, ConnectionError):
    """A connection attempt to TWS / IB Gateway failed."""


class GatewayNotListening(IBKRConnectError):
    """Nothing accepts connections at the configured host and port."""


class ClientIdInUse(IBKRConnectError):
    """TWS refused the client id (error 326): another session holds it."""


class ConnectTimeout(IBKRConnectError):
    """The socket opened but the API handshake or synchronisation did not finish."""


class UnknownSymbol(IBKRError, ValueError):
    """A symbol that IB has no contract for (error 200), or more than one."""

    def __init__(self, symbol: str, reason: str) -> None:
        shown = symbol if symbol.isprintable() else repr(symbol)
        super().__init__(f"{shown}: {reason}")
        self.symbol = symbol
        self.reason = reason
