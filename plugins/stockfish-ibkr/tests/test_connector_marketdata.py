"""The ibkr connector's market data against the simulated gateway: symbols and contracts,
ticks, depth, bars, entitlement errors, historical pacing."""

from __future__ import annotations

import time
from typing import Any

import pytest

import stockfish_ibkr.plugin as plugin
from stockfish_core import ConnectorStatus, DataType, MarketUpdate, PriceTick, Subscription
from stockfish_ibkr.contracts import ContractSpec, parse_symbol
from stockfish_ibkr.errors import IBKRError, UnknownSymbol
from stockfish_ibkr.testing import GatewaySimulator


def _of(symbol: str, dtype: DataType = DataType.PRICE_TICK) -> Any:
    return lambda u: u.symbol == symbol and u.data_type is dtype


# -- the symbol grammar (no network) ---------------------------------------------------------
@pytest.mark.parametrize(("symbol", "spec"), [
    ("AAPL", ContractSpec("STK", "AAPL", "SMART", "USD")),
    ("aapl@nasdaq", ContractSpec("STK", "AAPL", "NASDAQ", "USD")),
    ("EUR.USD", ContractSpec("CASH", "EUR", "IDEALPRO", "USD")),
    ("USD/JPY", ContractSpec("CASH", "USD", "IDEALPRO", "JPY")),
    ("BTC-USD", ContractSpec("CRYPTO", "BTC", "PAXOS", "USD")),
    ("^SPX", ContractSpec("IND", "SPX", "CBOE", "USD")),
    ("IND:NDX", ContractSpec("IND", "NDX", "NASDAQ", "USD")),
    ("ES 202512", ContractSpec("FUT", "ES", "CME", "USD", "202512")),
    ("FUT:CL:20260115", ContractSpec("FUT", "CL", "NYMEX", "USD", "20260115")),
    ("FUT:ESZ5", ContractSpec("FUT", "", "", "USD", local_symbol="ESZ5")),
    ("CRYPTO:ETH", ContractSpec("CRYPTO", "ETH", "PAXOS", "USD")),
])
def test_symbol_grammar(symbol: str, spec: ContractSpec) -> None:
    assert parse_symbol(symbol) == spec


def test_symbol_grammar_refuses_nonsense() -> None:
    with pytest.raises(UnknownSymbol, match="unknown security type"):
        parse_symbol("OPT:AAPL")
    with pytest.raises(UnknownSymbol, match="not a symbol"):
        parse_symbol("A$PL!")


@pytest.mark.parametrize("symbol", [
    "STK:AA\x00PL", "CRYPTO:ET\x00H", "FUT:ES\x00:202512", "IND:SP\x00X", "AAPL@SMA\x00RT",
    "CASH:EUR.USD@IDEAL\x00PRO", "AAPL\n", "\tAAPL", "AA\x01PL", "AAPL\x7f", "AAPL\u0085",
    "STK:AAPL\r\nX",
])
def test_symbol_grammar_refuses_control_characters(symbol: str) -> None:
    # NUL is the TWS protocol's field separator: a symbol carrying one would be cut in two
    # on the wire; no control character belongs in a contract field.
    with pytest.raises(UnknownSymbol, match="control character") as caught:
        parse_symbol(symbol)
    assert "\x00" not in str(caught.value) and "\n" not in str(caught.value)


def test_configured_contract_names_refuse_control_characters() -> None:
    from stockfish_ibkr.config import ContractConfig

    with pytest.raises(UnknownSymbol, match="control character"):
        parse_symbol("ES", explicit={"ES": ContractConfig("FUT", "E\x00S", "CME")})


# -- ticks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("symbol", ["AAPL", "EUR.USD", "^SPX", "BTC.USD", "CL FRONT"])
async def test_price_ticks_for_each_asset_class(gateway: GatewaySimulator, make_harness: Any,
                                                symbol: str) -> None:
    if symbol == "CL FRONT":
        symbol = "CL " + sorted(i.expiry for i in gateway.broker.instruments
                                if i.symbol == "CL")[0]
    async with make_harness(gateway) as h:
        await h.connect()
        await h.subscribe(Subscription(symbol))
        update = await h.next_update(5, where=_of(symbol))
        tick = update.payload
        assert isinstance(tick, PriceTick) and tick.symbol == symbol
        assert tick.bid is not None and tick.ask is not None and tick.bid < tick.ask
        assert update.source == "ibkr" and update.recv_ts_ns > 0


async def test_trades_carry_venue_time(gateway: GatewaySimulator, make_harness: Any) -> None:
    async with make_harness(gateway) as h:
        await h.connect()
        await h.subscribe(Subscription("MSFT"))
        update = await h.next_update(10, where=lambda u: u.venue_ts_ns > 0)
        tick = update.payload
        assert tick.last is not None and tick.last_size and tick.volume
        assert abs(update.venue_ts_ns - time.time_ns()) < 60 * 10**9
        assert tick.timestamp_ns == update.venue_ts_ns


async def test_unknown_symbol_beside_good_ones(gateway: GatewaySimulator,
                                               make_harness: Any) -> None:
    async with make_harness(gateway) as h:
        await h.connect()
        await h.subscribe(Subscription("AAPL"))
        with pytest.raises(ValueError, match="NOPE: IB has no contract for it"):
            await h.subscribe(Subscription("NOPE"))
        await h.subscribe(Subscription("IBM"))
        with pytest.raises(ValueError, match=r"ambiguous.*2 contracts.*add the expiry"):
            await h.subscribe(Subscription("FUT:ES"))
        for symbol in ("AAPL", "IBM", "AAPL", "IBM"):
            await h.next_update(5, where=_of(symbol))
        assert h.connector.status is ConnectorStatus.CONNECTED


async def test_contracts_are_cached(gateway: GatewaySimulator, make_harness: Any) -> None:
    async with make_harness(gateway) as h:
        await h.connect()
        await h.subscribe(Subscription("QQQ"))
        await h.subscribe(Subscription("QQQ", DataType.ORDERBOOK_SNAPSHOT, depth=2))
        await h.unsubscribe(Subscription("QQQ"))
        await h.subscribe(Subscription("QQQ"))
        assert gateway.message_counts[9] == 1  # one reqContractDetails for QQQ


async def test_unsubscribe_stops_the_request(gateway: GatewaySimulator,
                                             make_harness: Any) -> None:
    async with make_harness(gateway) as h:
        await h.connect()
        await h.subscribe(Subscription("TSLA"))
        await h.next_update(5, where=_of("TSLA"))
        await h.unsubscribe(Subscription("TSLA"))
        await gateway.wait_for(lambda: not gateway.sessions[1].mkt, 5, "cancelMktData")
        assert not h.connector.state.price_tickers


# -- entitlements ------------------------------------------------------------------------------
async def test_no_subscription_falls_back_to_delayed(gateway: GatewaySimulator,
                                                     make_harness: Any) -> None:
    async with make_harness(gateway) as h:
        await h.connect()
        await h.subscribe(Subscription("NVDA"))
        await h.subscribe(Subscription("AAPL"))
        update = await h.next_update(5, where=_of("NVDA"))
        assert update.payload.bid is not None
        codes = [(e.symbol, e.code) for e in h.listener.errors]
        assert ("NVDA", "354") in codes and ("NVDA", "10167") in codes
        assert gateway.sessions[1].market_data_type == 3
        await h.next_update(5, where=_of("AAPL"))


async def test_no_subscription_without_fallback_is_an_error(gateway: GatewaySimulator,
                                                            make_harness: Any) -> None:
    async with make_harness(gateway, fallback_to_delayed=False) as h:
        await h.connect()
        await h.subscribe(Subscription("NVDA"))
        await h.subscribe(Subscription("AAPL"))
        await h.next_update(5, where=_of("AAPL"))
        await h.listener.wait_for(lambda: h.listener.errors, 5, "an error")
        error = h.listener.errors[0]
        assert (error.symbol, error.code) == ("NVDA", "354")
        assert "fallback_to_delayed" in error.message
        assert not [u for u in h.listener.updates if u.symbol == "NVDA"]


async def test_delayed_market_data_type_from_config(gateway: GatewaySimulator,
                                                    make_harness: Any) -> None:
    async with make_harness(gateway, market_data_type="delayed") as h:
        await h.connect()
        await h.subscribe(Subscription("NVDA"))
        await h.next_update(5, where=_of("NVDA"))
        assert [(e.symbol, e.code) for e in h.listener.errors] == [("NVDA", "10167")]


# -- depth and bars ------------------------------------------------------------------------------
async def test_order_book_snapshots(gateway: GatewaySimulator, make_harness: Any) -> None:
    dtype = DataType.ORDERBOOK_SNAPSHOT
    async with make_harness(gateway) as h:
        await h.connect()
        await h.subscribe(Subscription("SPY", dtype, depth=4))
        books: list[MarketUpdate] = []
        while len(books) < 3:
            books.append(await h.next_update(5, where=_of("SPY", dtype)))
        for update in books:
            book = update.payload
            bids = [lv.price for lv in book.bids]
            asks = [lv.price for lv in book.asks]
            assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
            assert bids[0] < asks[0]
        assert len(books[-1].payload.bids) == 4 and len(books[-1].payload.asks) == 4
        seqs = [u.payload.sequence for u in books]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3


async def test_realtime_bars(gateway: GatewaySimulator, make_harness: Any) -> None:
    dtype = DataType.OHLCV_BAR
    async with make_harness(gateway) as h:
        await h.connect()
        await h.subscribe(Subscription("AAPL", dtype, interval="5s"))
        first = await h.next_update(5, where=_of("AAPL", dtype))
        second = await h.next_update(5, where=_of("AAPL", dtype))
        bar = first.payload
        assert bar.interval == "5s" and bar.low <= bar.close <= bar.high
        assert second.payload.timestamp_ns - bar.timestamp_ns == 5 * 10**9


async def test_historical_bars_kept_up_to_date(gateway: GatewaySimulator,
                                               make_harness: Any) -> None:
    dtype = DataType.OHLCV_BAR
    async with make_harness(gateway) as h:
        await h.connect()
        await h.subscribe(Subscription("IBM", dtype, interval="1s",
                                       params={"duration": "60 S"}))
        history = [u for u in h.listener.updates if u.data_type is dtype]
        assert len(history) == 59  # 60 bars, the last one still forming
        starts = [u.payload.timestamp_ns for u in history]
        assert starts == sorted(starts) and starts[1] - starts[0] == 10**9
        live = await h.next_update(5, where=lambda u: u.data_type is dtype
                                   and u.payload.timestamp_ns > starts[-1])
        assert live.payload.interval == "1s"


async def test_historical_requests_are_paced_and_cached(gateway: GatewaySimulator,
                                                        make_harness: Any) -> None:
    async with make_harness(gateway) as h:
        await h.connect()
        first = await plugin.historical_bars(h.connector, "MSFT", "1m", "1800 S")
        again = await plugin.historical_bars(h.connector, "MSFT", "1m", "1800 S")
        assert len(first) == 30 and again == first
        assert gateway.historical_requests == 1  # the repeat came from the cache
        # Seven different requests for one contract: IB allows five in two seconds.
        for minutes in range(2, 9):
            bars = await plugin.historical_bars(h.connector, "MSFT", "1m", f"{minutes * 60} S")
            assert len(bars) == minutes
        assert gateway.historical_requests == 8
        assert gateway.historical_pacing_violations == 0
        daily = await plugin.historical_bars(h.connector, "EUR.USD", "1d", "5 D")
        assert len(daily) == 5 and all(b.volume == 0.0 for b in daily)  # MIDPOINT bars


async def test_bad_bar_interval_is_refused(gateway: GatewaySimulator, make_harness: Any) -> None:
    async with make_harness(gateway) as h:
        await h.connect()
        with pytest.raises(ValueError, match="bar interval '7m' is not offered"):
            await h.subscribe(Subscription("AAPL", DataType.OHLCV_BAR, interval="7m"))
        with pytest.raises(ValueError, match="not news"):
            await h.subscribe(Subscription("AAPL", DataType.NEWS))


async def test_a_message_it_cannot_read_is_counted(gateway: GatewaySimulator,
                                                   make_harness: Any) -> None:
    async with make_harness(gateway) as h:
        await h.connect()
        h.connector.feed([object()])
        assert [e.data for e in h.listener.errors] == [True]


async def test_quotes_and_depth_of_one_symbol(gateway: GatewaySimulator,
                                              make_harness: Any) -> None:
    # ib_async serves both from one ticker; each still gives its own updates.
    depth = Subscription("SPY", DataType.ORDERBOOK_SNAPSHOT, depth=2)
    async with make_harness(gateway) as h:
        await h.connect()
        await h.subscribe(Subscription("SPY"))
        await h.subscribe(depth)
        await h.next_update(5, where=_of("SPY"))
        await h.next_update(5, where=_of("SPY", DataType.ORDERBOOK_SNAPSHOT))
        await h.unsubscribe(depth)
        mark = len(h.listener.updates)
        await h.listener.wait_for(
            lambda: sum(1 for u in h.listener.updates[mark:] if u.symbol == "SPY") >= 3, 5,
            "quotes after the depth is gone")
        assert not [u for u in h.listener.updates[mark:]
                    if u.data_type is DataType.ORDERBOOK_SNAPSHOT]
        assert not [e for e in h.listener.errors if e.data]


async def test_refused_historical_request_says_why(gateway: GatewaySimulator,
                                                   make_harness: Any) -> None:
    async with make_harness(gateway) as h:
        await h.connect()
        with pytest.raises(IBKRError, match=r"IB 321: .*duration is invalid"):
            await plugin.historical_bars(h.connector, "AAPL", "1m", "7 X")
        gateway.set_hmds_farm(False)
        with pytest.raises(IBKRError, match=r"IB 162: .*HMDS server disconnect"):
            await plugin.historical_bars(h.connector, "AAPL", "1m", "600 S")
        gateway.set_hmds_farm(True)
        assert len(await plugin.historical_bars(h.connector, "AAPL", "1m", "600 S")) == 10
