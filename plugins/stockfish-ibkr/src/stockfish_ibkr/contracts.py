"""Symbols to IB contracts: the symbol grammar, qualification and the cache.

=========================  ===========================================================
``AAPL``                   stock on the default exchange and currency (SMART, USD)
``AAPL@NASDAQ``            stock on an exchange
``EUR.USD``, ``EUR/USD``   forex pair on IDEALPRO
``BTC.USD``, ``BTC-USD``   crypto (BTC, ETH, LTC, BCH) on PAXOS
``^SPX``, ``IND:SPX``      index (SPX, VIX on CBOE; NDX on NASDAQ; else give ``@EXCH``)
``ES 202512``              future with expiry (YYYYMM or YYYYMMDD); ``ES-202512`` too
``FUT:ES:202512``          the same, explicit; ``FUT:ESZ5`` by local symbol
``TYPE:SYMBOL[@EXCH]``     any security type (STK, CASH, IND, FUT, CRYPTO)
=========================  ===========================================================

A ``contracts:`` entry in the connector's settings names anything else. Every symbol is
qualified once with reqContractDetails (error 200: :class:`UnknownSymbol`) and cached
for the life of the connector (conIds do not change).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from types import ModuleType
from typing import Any

import attrs

from .config import ContractConfig
from .errors import UnknownSymbol

__all__ = ["ContractResolver", "ContractSpec", "parse_symbol"]

CRYPTO_BASES = frozenset({"BTC", "ETH", "LTC", "BCH"})
INDEX_EXCHANGES = {"SPX": "CBOE", "VIX": "CBOE", "NDX": "NASDAQ", "RUT": "RUSSELL",
                   "INDU": "CME", "DAX": "EUREX"}
FUTURE_EXCHANGES = {"ES": "CME", "NQ": "CME", "RTY": "CME", "MES": "CME", "MNQ": "CME",
                    "YM": "CBOT", "ZN": "CBOT", "ZB": "CBOT", "CL": "NYMEX", "NG": "NYMEX",
                    "GC": "COMEX", "SI": "COMEX", "6E": "CME"}
SEC_TYPES = frozenset({"STK", "CASH", "IND", "FUT", "CRYPTO"})

_PAIR = re.compile(r"^([A-Z]{3})[./\-]([A-Z]{3})$")
_FUTURE = re.compile(r"^([A-Z0-9]{1,5})[ \-](\d{6}|\d{8})$")
_LOCAL_FUTURE = re.compile(r"^[A-Z0-9]{1,4}[FGHJKMNQUVXZ]\d{1,2}$")


@attrs.frozen
class ContractSpec(ContractConfig):
    """What a symbol says about its contract, before IB qualifies it (the fields of a
    configured contract, filled in)."""

    def to_contract(self, lib: ModuleType) -> Any:
        return lib.Contract(
            secType=self.sec_type, conId=self.con_id, symbol=self.symbol,
            exchange=self.exchange, primaryExchange=self.primary_exchange,
            currency=self.currency, lastTradeDateOrContractMonth=self.expiry,
            localSymbol=self.local_symbol, multiplier=self.multiplier,
            tradingClass=self.trading_class,
        )


def _control_character(text: str) -> str | None:
    """The first control character of ``text`` (C0, DEL, C1), shown as an escape."""
    for ch in text:
        if unicodedata.category(ch) == "Cc":
            return repr(ch)[1:-1]
    return None


def _refuse_control_characters(symbol: str, fields: Mapping[str, object]) -> None:
    # NUL separates the fields of the TWS protocol; no control character belongs in a
    # contract field, and one that travelled would be cut in two or change the request.
    for name, value in fields.items():
        if isinstance(value, str) and (bad := _control_character(value)) is not None:
            where = "the symbol" if name == "" else f"its contract's {name}"
            raise UnknownSymbol(symbol, f"{where} contains the control character {bad}; "
                                        "symbols and contract fields are printable text")


def parse_symbol(symbol: str, *, exchange: str = "SMART", currency: str = "USD",
                 explicit: Mapping[str, ContractConfig] | None = None) -> ContractSpec:
    """The contract a symbol designates (see the module documentation).

    Raises :class:`UnknownSymbol` for a symbol it cannot read, and for any control
    character (NUL, newline, ...) in the symbol or a configured contract's fields.
    """
    if not isinstance(symbol, str):
        raise UnknownSymbol(repr(symbol), f"a symbol is a string, not {type(symbol).__name__}")
    _refuse_control_characters(symbol, {"": symbol})
    if explicit and symbol in explicit:
        c = explicit[symbol]
        _refuse_control_characters(symbol, attrs.asdict(c))
        return ContractSpec(**{**attrs.asdict(c), "sec_type": c.sec_type.upper(),
                               "symbol": c.symbol or symbol,
                               "currency": c.currency or currency})
    _refuse_control_characters(symbol, {"default exchange": exchange,
                                        "default currency": currency})
    text = symbol.strip().upper()
    if not text:
        raise UnknownSymbol(symbol, "empty symbol")
    at_exchange = ""
    if "@" in text:
        text, at_exchange = (part.strip() for part in text.rsplit("@", 1))
    if ":" in text:
        return _typed(symbol, text, at_exchange, exchange, currency)
    if text.startswith("^"):
        root = text[1:]
        return ContractSpec("IND", root, at_exchange or INDEX_EXCHANGES.get(root, ""), currency)
    pair = _PAIR.match(text)
    if pair is not None:
        base, quote = pair.groups()
        if base in CRYPTO_BASES:
            return ContractSpec("CRYPTO", base, at_exchange or "PAXOS", quote)
        return ContractSpec("CASH", base, at_exchange or "IDEALPRO", quote)
    future = _FUTURE.match(text)
    if future is not None:
        root, expiry = future.groups()
        return ContractSpec("FUT", root, at_exchange or FUTURE_EXCHANGES.get(root, ""),
                            currency, expiry)
    if not re.fullmatch(r"[A-Z0-9.\- ]{1,12}", text):
        raise UnknownSymbol(symbol, "not a symbol this connector can read; see the symbol "
                                    "grammar of stockfish_ibkr.contracts or add it under "
                                    "contracts:")
    return ContractSpec("STK", text, at_exchange or exchange, currency)


def _typed(original: str, text: str, at_exchange: str, exchange: str,
           currency: str) -> ContractSpec:
    sec_type, _, rest = text.partition(":")
    if sec_type not in SEC_TYPES:
        raise UnknownSymbol(original, f"unknown security type {sec_type!r}; use one of "
                                      f"{', '.join(sorted(SEC_TYPES))}")
    if sec_type == "CASH" or sec_type == "CRYPTO":
        pair = _PAIR.match(rest)
        if pair is not None:
            base, quote = pair.groups()
            default = "IDEALPRO" if sec_type == "CASH" else "PAXOS"
            return ContractSpec(sec_type, base, at_exchange or default, quote)
        if sec_type == "CRYPTO":
            return ContractSpec(sec_type, rest, at_exchange or "PAXOS", currency)
        raise UnknownSymbol(original, "a forex pair is written BASE.QUOTE, e.g. CASH:EUR.USD")
    if sec_type == "FUT":
        root, _, expiry = rest.partition(":")
        if not expiry and _LOCAL_FUTURE.match(root):
            return ContractSpec("FUT", "", at_exchange, currency, local_symbol=root)
        return ContractSpec("FUT", root, at_exchange or FUTURE_EXCHANGES.get(root, ""),
                            currency, expiry)
    if sec_type == "IND":
        return ContractSpec("IND", rest, at_exchange or INDEX_EXCHANGES.get(rest, ""), currency)
    return ContractSpec("STK", rest, at_exchange or exchange, currency)


class ContractResolver:
    """Qualifies symbols with reqContractDetails once and caches the contracts."""

    def __init__(self, lib: ModuleType, *, exchange: str = "SMART", currency: str = "USD",
                 explicit: Mapping[str, ContractConfig] | None = None) -> None:
        self.lib = lib
        self.exchange = exchange
        self.currency = currency
        self.explicit = dict(explicit or {})
        self._cache: dict[str, Any] = {}
        #: The contract details IB gave for each qualified symbol.
        self.details: dict[str, Any] = {}
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self.lookups = 0

    def cached(self, symbol: str) -> Any | None:
        return self._cache.get(symbol)

    def cache_items(self) -> list[tuple[str, Any]]:
        return list(self._cache.items())

    def spec(self, symbol: str) -> ContractSpec:
        return parse_symbol(symbol, exchange=self.exchange, currency=self.currency,
                            explicit=self.explicit)

    async def resolve(self, symbol: str,
                      details: Callable[[Any], Awaitable[list[Any]]]) -> Any:
        """The qualified contract of ``symbol``; ``details(contract)`` asks IB.

        Raises :class:`UnknownSymbol` for a symbol IB does not know or finds ambiguous.
        Concurrent calls for one symbol share one lookup.
        """
        contract = self._cache.get(symbol)
        if contract is not None:
            return contract
        pending = self._pending.get(symbol)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[symbol] = future
        try:
            spec = self.spec(symbol)
            self.lookups += 1
            found = await details(spec.to_contract(self.lib))
            contract = self._choose(symbol, spec, found)
            self.details[symbol] = found[0]
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            self._pending.pop(symbol, None)
        self._cache[symbol] = contract
        future.set_result(contract)
        return contract

    @staticmethod
    def _choose(symbol: str, spec: ContractSpec, found: list[Any]) -> Any:
        if not found:
            raise UnknownSymbol(symbol, "IB has no contract for it (error 200: no security "
                                        "definition); check the symbol, exchange and currency")
        if len(found) > 1:
            names = ", ".join(
                f"{d.contract.localSymbol} ({d.contract.lastTradeDateOrContractMonth or d.contract.exchange})"  # noqa: E501
                for d in found[:6])
            hint = " add the expiry, e.g. 'ES 202512'" if spec.sec_type == "FUT" else \
                " add @EXCHANGE or a contracts: entry"
            raise UnknownSymbol(symbol, f"ambiguous, IB has {len(found)} contracts: {names};"
                                        f"{hint}")
        contract = found[0].contract
        expiry = contract.lastTradeDateOrContractMonth
        if expiry:
            contract.lastTradeDateOrContractMonth = expiry.split()[0]
        if spec.exchange == "SMART":
            contract.exchange = "SMART"
        return contract
