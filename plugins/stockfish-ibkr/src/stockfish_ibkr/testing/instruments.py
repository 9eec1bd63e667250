"""The simulated gateway's contract universe and how a client's contract is matched.

Stocks, forex pairs, indices, futures (two expiries each) and crypto, with the fields a
real contract-details answer carries. A client contract matches an instrument when every
field it sets agrees (conId alone is enough); ``SMART`` matches any stock exchange.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Sequence

import attrs

from .wire import WireContract

__all__ = ["Instrument", "InstrumentBook", "default_instruments"]

_STK_ORDER_TYPES = "ACTIVETIM,AD,ADJUST,ALERT,ALLOC,AVGCOST,BASKET,COND,CONDORDER,DAY,GTC,IOC,FOK,LIT,LMT,MIT,MKT,MOC,MTL,NONALGO,OCA,REL,SCALE,STP,STPLMT,TRAIL,WHATIF"  # noqa: E501


@attrs.define(slots=True)
class Instrument:
    """One tradable contract of the simulated gateway."""

    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str = "USD"
    primary_exchange: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    multiplier: str = ""
    expiry: str = ""
    min_tick: float = 0.01
    long_name: str = ""
    price: float = 100.0
    #: Whether the account holds a live market-data subscription (else error 354/10167).
    entitled: bool = True
    valid_exchanges: str = ""
    time_zone: str = "US/Eastern"
    industry: str = ""
    category: str = ""
    stock_type: str = ""
    min_size: float = 1.0
    size_increment: float = 1.0

    def __attrs_post_init__(self) -> None:
        if not self.local_symbol:
            self.local_symbol = self.symbol
        if not self.trading_class:
            self.trading_class = self.symbol
        if not self.valid_exchanges:
            self.valid_exchanges = self.exchange

    @property
    def listing_exchange(self) -> str:
        """The exchange reported in executions and positions (never SMART)."""
        return self.primary_exchange or self.exchange

    @property
    def key(self) -> str:
        """A short readable name: AAPL, EUR.USD, ES 20251219."""
        if self.sec_type == "CASH":
            return f"{self.symbol}.{self.currency}"
        if self.expiry:
            return f"{self.symbol} {self.expiry}"
        return self.symbol

    def matches(self, c: WireContract) -> bool:
        """Whether the client's (partial) contract describes this instrument."""
        if c.con_id:
            return c.con_id == self.con_id
        if c.local_symbol and c.local_symbol != self.local_symbol:
            return False
        if c.symbol and c.symbol != self.symbol:
            return False
        if not c.symbol and not c.local_symbol:
            return False
        if c.sec_type and c.sec_type != self.sec_type:
            return False
        if c.currency and c.currency != self.currency:
            return False
        if c.expiry and not self.expiry.startswith(c.expiry):
            return False
        if c.multiplier and self.multiplier and float(c.multiplier) != float(self.multiplier):
            return False
        if c.trading_class and c.trading_class != self.trading_class:
            return False
        if c.exchange:
            smart_ok = c.exchange == "SMART" and self.sec_type in ("STK", "CASH")
            if not smart_ok and c.exchange not in self.valid_exchanges.split(","):
                return False
        return not (c.primary_exchange and c.primary_exchange != self.listing_exchange)


class InstrumentBook:
    """The instruments of one simulated gateway, looked up by client contracts."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self._by_id: dict[int, Instrument] = {}
        for inst in instruments:
            if inst.con_id in self._by_id:
                raise ValueError(f"duplicate conId {inst.con_id} ({inst.key})")
            self._by_id[inst.con_id] = inst

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, instrument: Instrument) -> None:
        self._by_id[instrument.con_id] = instrument

    def by_con_id(self, con_id: int) -> Instrument | None:
        return self._by_id.get(con_id)

    def find(self, contract: WireContract) -> list[Instrument]:
        """Every instrument the contract matches (several means ambiguous)."""
        return [inst for inst in self._by_id.values() if inst.matches(contract)]

    def resolve(self, contract: WireContract) -> Instrument | None:
        """The one instrument the contract designates, or None (unknown or ambiguous)."""
        found = self.find(contract)
        return found[0] if len(found) == 1 else None

    def by_key(self, key: str) -> Instrument:
        for inst in self._by_id.values():
            if inst.key == key or inst.local_symbol == key:
                return inst
        raise KeyError(key)


def _third_friday(year: int, month: int) -> dt.date:
    weeks = calendar.monthcalendar(year, month)
    fridays = [w[calendar.FRIDAY] for w in weeks if w[calendar.FRIDAY]]
    return dt.date(year, month, fridays[2])


def _next_expiries(today: dt.date, months: Sequence[int], count: int) -> list[dt.date]:
    out: list[dt.date] = []
    year = today.year
    while len(out) < count:
        for month in months:
            day = _third_friday(year, month)
            if day > today and len(out) < count:
                out.append(day)
        year += 1
    return out


_MONTH_CODES = "FGHJKMNQUVXZ"


def _futures(root: str, exchange: str, multiplier: str, base_id: int, price: float,
             months: Sequence[int], today: dt.date, long_name: str,
             min_tick: float) -> list[Instrument]:
    out = []
    for i, expiry in enumerate(_next_expiries(today, months, 2)):
        local = f"{root}{_MONTH_CODES[expiry.month - 1]}{expiry.year % 10}"
        out.append(Instrument(
            con_id=base_id + i, symbol=root, sec_type="FUT", exchange=exchange,
            local_symbol=local, trading_class=root, multiplier=multiplier,
            expiry=expiry.strftime("%Y%m%d"), min_tick=min_tick, long_name=long_name,
            price=price, time_zone="US/Central", category="Futures",
        ))
    return out


def default_instruments(today: dt.date | None = None) -> list[Instrument]:
    """The default universe: a handful of each asset class with realistic fields."""
    today = today or dt.date.today()

    def stock(con_id: int, symbol: str, primary: str, price: float, name: str,
              industry: str, entitled: bool = True) -> Instrument:
        return Instrument(
            con_id=con_id, symbol=symbol, sec_type="STK", exchange="SMART",
            primary_exchange=primary, long_name=name, price=price, entitled=entitled,
            valid_exchanges=f"SMART,{primary},ARCA,BATS,IEX,EDGEA", industry=industry,
            category="Common Stock" if industry != "Funds" else "Equity Fund",
            stock_type="COMMON" if industry != "Funds" else "ETF", time_zone="US/Eastern",
        )

    instruments = [
        stock(265598, "AAPL", "NASDAQ", 190.0, "APPLE INC", "Technology"),
        stock(272093, "MSFT", "NASDAQ", 410.0, "MICROSOFT CORP", "Technology"),
        stock(756733, "SPY", "ARCA", 520.0, "SPDR S&P 500 ETF TRUST", "Funds"),
        stock(320227571, "QQQ", "NASDAQ", 440.0, "INVESCO QQQ TRUST SERIES 1", "Funds"),
        stock(8314, "IBM", "NYSE", 180.0, "INTL BUSINESS MACHINES CORP", "Technology"),
        stock(76792991, "TSLA", "NASDAQ", 180.0, "TESLA INC", "Consumer, Cyclical"),
        # No live market-data subscription on this one: error 354 / delayed data.
        stock(4815747, "NVDA", "NASDAQ", 880.0, "NVIDIA CORP", "Technology", entitled=False),
        Instrument(12087792, "EUR", "CASH", "IDEALPRO", currency="USD", local_symbol="EUR.USD",
                   trading_class="EUR.USD", min_tick=0.00005,
                   long_name="European Monetary Union Euro",
                   price=1.085, valid_exchanges="IDEALPRO", time_zone="US/Eastern",
                   min_size=0.01, size_increment=0.01),
        Instrument(12087797, "GBP", "CASH", "IDEALPRO", currency="USD", local_symbol="GBP.USD",
                   trading_class="GBP.USD", min_tick=0.00005, long_name="British pound",
                   price=1.265, valid_exchanges="IDEALPRO", time_zone="US/Eastern",
                   min_size=0.01, size_increment=0.01),
        Instrument(15016059, "USD", "CASH", "IDEALPRO", currency="JPY", local_symbol="USD.JPY",
                   trading_class="USD.JPY", min_tick=0.005, long_name="US Dollar",
                   price=151.2, valid_exchanges="IDEALPRO", time_zone="US/Eastern",
                   min_size=0.01, size_increment=0.01),
        Instrument(416904, "SPX", "IND", "CBOE", long_name="S&P 500 Stock Index", price=5200.0,
                   time_zone="US/Central", category="Indices"),
        Instrument(416843, "NDX", "IND", "NASDAQ", long_name="NASDAQ 100 Stock Index",
                   price=18200.0, category="Indices"),
        Instrument(13455763, "VIX", "IND", "CBOE", long_name="CBOE Volatility Index", price=14.5,
                   time_zone="US/Central", category="Indices"),
        Instrument(479624278, "BTC", "CRYPTO", "PAXOS", long_name="Bitcoin", price=65000.0,
                   min_tick=0.25, time_zone="US/Eastern", min_size=0.0001,
                   size_increment=0.0001, category="Crypto"),
        Instrument(495759171, "ETH", "CRYPTO", "PAXOS", long_name="Ethereum", price=3400.0,
                   min_tick=0.05, time_zone="US/Eastern", min_size=0.0001,
                   size_increment=0.0001, category="Crypto"),
    ]
    quarterly = (3, 6, 9, 12)
    instruments += _futures("ES", "CME", "50", 551601500, 5210.0, quarterly, today,
                            "E-mini S&P 500", 0.25)
    instruments += _futures("NQ", "CME", "20", 563947700, 18250.0, quarterly, today,
                            "E-mini Nasdaq-100", 0.25)
    instruments += _futures("CL", "NYMEX", "1000", 569300100, 78.5, tuple(range(1, 13)), today,
                            "Light Sweet Crude Oil", 0.01)
    return instruments
