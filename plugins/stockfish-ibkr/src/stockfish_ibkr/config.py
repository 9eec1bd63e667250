"""The ``ibkr`` connector's settings: a ``connectors:`` section of the YAML.

::

    connectors:
      ibkr:
        host: 127.0.0.1            # or IB_HOST
        port: 4002                 # or IB_PORT; 7497/7496 TWS paper/live, 4002/4001 Gateway
        client_id: 11              # or IB_CLIENT_ID
        account: DU1234567         # or IB_ACCOUNT; needed only with several accounts
        market_data_type: live     # live | frozen | delayed | delayed-frozen
        fallback_to_delayed: true  # 354 "not subscribed": switch to delayed data
        pacing: {max_messages_per_second: 40}
        contracts:                 # names the symbol grammar does not cover
          ES: {sec_type: FUT, symbol: ES, exchange: CME, expiry: "202512"}

Precedence: a value written in the YAML wins; an environment variable fills a value the
YAML leaves out; then the default. (Write ``port: ${IB_PORT}`` to make the environment
win explicitly.) A connector section describes one session, so it is the more specific
source; the variables are process-wide defaults, as they were in the earlier system.
"""

from __future__ import annotations

import enum
import importlib.util
import os
from collections.abc import Mapping

import attrs

from stockfish_core.plugin_api import ConfigCompat

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ContractConfig",
    "Endpoint",
    "IBKRConfig",
    "MarketDataType",
    "PacingConfig",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7497
DEFAULT_CLIENT_ID = 1
LIBRARY_ENV = "STOCKFISH_IBKR_LIBRARY"
LIBRARIES = ("ib_insync", "ib_async")
#: The extra of stockfish-ibkr that installs each library (no separator: every pip
#: matches these, whatever it does to ``_`` and ``-``).
EXTRAS = {"ib_insync": "ibinsync", "ib_async": "ibasync"}


class MarketDataType(str, enum.Enum):
    """reqMarketDataType: 1 live, 2 frozen, 3 delayed, 4 delayed-frozen."""

    LIVE = "live"
    FROZEN = "frozen"
    DELAYED = "delayed"
    DELAYED_FROZEN = "delayed-frozen"

    @property
    def code(self) -> int:
        return _MD_CODES[self]

    @property
    def delayed_equivalent(self) -> MarketDataType:
        """The type to fall back to when live data is not subscribed (354)."""
        if self in (MarketDataType.FROZEN, MarketDataType.DELAYED_FROZEN):
            return MarketDataType.DELAYED_FROZEN
        return MarketDataType.DELAYED


_MD_CODES = {MarketDataType.LIVE: 1, MarketDataType.FROZEN: 2, MarketDataType.DELAYED: 3,
             MarketDataType.DELAYED_FROZEN: 4}


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:  # type: ignore[type-arg]
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


@attrs.frozen
class PacingConfig:
    """Request pacing. IB disconnects clients that exceed 50 messages per second and
    answers historical requests that break its rules with error 162."""

    #: Messages per second sent to TWS: IB allows 50; at most 45 here, to keep a margin.
    max_messages_per_second: int = 40
    #: Historical-data requests in any 10 minutes (IB: 60).
    historical_per_10_minutes: int = 50
    #: Historical requests for one contract in any 2 seconds (IB: fewer than 6).
    historical_per_contract_2s: int = 5
    #: An identical historical request within this many seconds is answered from cache
    #: (IB refuses identical requests within 15 s).
    historical_cache_seconds: float = 15.0

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.historical_cache_seconds <= 86400:
            raise ValueError("pacing.historical_cache_seconds must be between 0 and 86400, got "
                             f"{self.historical_cache_seconds}")
        if not 1 <= self.max_messages_per_second <= 45:
            raise ValueError("pacing.max_messages_per_second must be between 1 and 45 (IB's "
                             f"limit is 50), got {self.max_messages_per_second}")
        if not 1 <= self.historical_per_10_minutes <= 60:
            raise ValueError("pacing.historical_per_10_minutes must be between 1 and 60, got "
                             f"{self.historical_per_10_minutes}")
        if not 1 <= self.historical_per_contract_2s <= 5:
            raise ValueError("pacing.historical_per_contract_2s must be between 1 and 5, got "
                             f"{self.historical_per_contract_2s}")


@attrs.frozen
class ContractConfig:
    """An explicit contract for a symbol name (IB's field names in snake case)."""

    #: Security type: STK, FUT, OPT, CASH, IND, CFD, ...
    sec_type: str = "STK"
    #: IB's symbol (default: the symbol name it is listed under).
    symbol: str = ""
    #: Exchange, e.g. CME or SMART.
    exchange: str = ""
    #: Currency (default: the connector's ``currency``).
    currency: str = ""
    #: Last trade date or contract month, YYYYMM or YYYYMMDD (futures, options).
    expiry: str = ""
    #: The exchange's local symbol (e.g. ESZ5).
    local_symbol: str = ""
    #: Primary listing exchange, to resolve a SMART-routed symbol.
    primary_exchange: str = ""
    #: Contract multiplier (futures, options).
    multiplier: str = ""
    #: Trading class.
    trading_class: str = ""
    #: IB's contract id; when given it identifies the contract alone.
    con_id: int = 0


@attrs.frozen
class Endpoint:
    """Where to connect, after YAML and environment are merged."""

    host: str
    port: int
    client_id: int
    account: str

    def __str__(self) -> str:
        return f"{self.host}:{self.port} client {self.client_id}"


@attrs.frozen
class IBKRConfig:
    """Settings of one ``ibkr`` connector (see the module documentation)."""

    #: Environment fallbacks: IB_* (and the earlier system's IBKR_* and IB_PAPER_ACCOUNT)
    #: fill what the YAML leaves out, read by the core when the YAML is.
    __stockfish_compat__ = ConfigCompat(env={
        "host": ("IB_HOST", "IBKR_HOST"), "port": ("IB_PORT", "IBKR_PORT"),
        "client_id": ("IB_CLIENT_ID", "IBKR_CLIENT_ID"),
        "account": ("IB_ACCOUNT", "IB_PAPER_ACCOUNT"),
    })

    #: TWS or IB Gateway host; default: IB_HOST, else 127.0.0.1.
    host: str | None = None
    #: API port: 7497/7496 TWS paper/live, 4002/4001 Gateway paper/live; default:
    #: IB_PORT, else 7497.
    port: int | None = None
    #: API client id, unique per connection to one TWS; default: IB_CLIENT_ID, else 1.
    client_id: int | None = None
    #: Account for orders and positions (needed with several accounts); default:
    #: IB_ACCOUNT.
    account: str | None = None
    #: Market data type asked for: live, frozen, delayed or delayed-frozen.
    market_data_type: MarketDataType = MarketDataType.LIVE
    #: On error 354 (no market-data subscription) switch that symbol to delayed data.
    fallback_to_delayed: bool = True
    #: Seconds for the socket, the API handshake and the startup synchronisation.
    connect_timeout: float = attrs.field(default=10.0, validator=_positive)
    #: Seconds for a contract lookup, a historical request or an order status query.
    request_timeout: float = attrs.field(default=15.0, validator=_positive)
    #: Open the API session read-only: market data only, orders are refused.
    readonly: bool = False
    #: The TWS client library: ib_insync, ib_async, or auto (STOCKFISH_IBKR_LIBRARY, else
    #: whichever is installed, ib_insync first).
    library: str = "auto"
    #: Defaults for symbols written without them.
    exchange: str = "SMART"
    #: Currency of symbols written without one.
    currency: str = "USD"
    #: Generic tick list for market data; 233 (RT volume) carries the trade time in ms.
    generic_ticks: str = "233"
    #: Allow orders to fill outside regular trading hours.
    outside_rth: bool = False
    #: Seconds to wait for a fill's commission report before reporting it without one.
    commission_wait: float = attrs.field(default=1.0, validator=_positive)
    #: Request pacing (see ``pacing.*``).
    pacing: PacingConfig = PacingConfig()
    #: Explicit contracts by symbol name, for names the symbol grammar does not cover.
    contracts: dict[str, ContractConfig] = attrs.Factory(dict)

    def __attrs_post_init__(self) -> None:
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {self.port}")
        if self.client_id is not None and not 0 <= self.client_id < 2**31:
            raise ValueError(f"client_id must be between 0 and 2147483647, got {self.client_id}")
        if self.library not in ("auto", *LIBRARIES):
            raise ValueError(f"library must be auto, ib_insync or ib_async, got {self.library!r}")
        if self.library != "auto" and importlib.util.find_spec(self.library) is None:
            raise ValueError(f"library {self.library} is not installed; install it with: "
                             f"pip install 'stockfish-ibkr[{EXTRAS[self.library]}]'")
        if self.library == "auto" and not any(importlib.util.find_spec(n) for n in LIBRARIES):
            raise ValueError("neither ib_insync nor ib_async is installed; install one with: "
                             "pip install 'stockfish-ibkr[ibinsync]' (or [ibasync])")

    def endpoint(self, env: Mapping[str, str] | None = None) -> Endpoint:
        """Host, port, client id and account: YAML, else IB_HOST / IB_PORT / IB_CLIENT_ID /
        IB_ACCOUNT, else the defaults (127.0.0.1:7497, client 1)."""
        env = os.environ if env is None else env
        host = self.host or env.get("IB_HOST") or DEFAULT_HOST
        port = self.port if self.port is not None else _env_int(env, "IB_PORT", DEFAULT_PORT)
        client_id = (self.client_id if self.client_id is not None
                     else _env_int(env, "IB_CLIENT_ID", DEFAULT_CLIENT_ID))
        account = self.account if self.account is not None else env.get("IB_ACCOUNT", "")
        if not 0 < port < 65536:
            raise ValueError(f"IB_PORT must be between 1 and 65535, got {port}")
        return Endpoint(host, port, client_id, account)

    def library_preference(self, env: Mapping[str, str] | None = None) -> list[str]:
        """Libraries to try, in order."""
        if self.library != "auto":
            return [self.library]
        env = os.environ if env is None else env
        wanted = env.get(LIBRARY_ENV, "").strip()
        if wanted and wanted != "auto":
            return [wanted]
        return list(LIBRARIES)


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
