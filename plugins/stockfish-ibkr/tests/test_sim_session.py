"""The gateway simulator speaks the TWS protocol: ib_insync / ib_async alone against it.

Session-level behaviour: handshake and startup, client ids, contract details, errors,
pacing, connectivity notices, stop and restart, the command line.
"""

from __future__ import annotations

import asyncio
import sys
from types import ModuleType
from typing import Any

import pytest

from stockfish_ibkr.testing import SERVER_VERSION, GatewaySimulator


def _errors(ib: Any) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, msg, *rest: seen.append((req_id, code, msg))
    return seen


async def test_connect_handshake_and_startup(gateway: GatewaySimulator, connect: Any,
                                             library: ModuleType) -> None:
    ib = library.IB()
    notices = _errors(ib)
    await ib.connectAsync("127.0.0.1", gateway.port, clientId=3, timeout=5)
    try:
        assert ib.isConnected()
        assert ib.client.serverVersion() == SERVER_VERSION
        assert ib.managedAccounts() == ["DU1234567"]
        assert ib.client.getReqId() >= gateway.broker.next_valid_id
        assert {code for _, code, _ in notices} >= {2104, 2106, 2158}
        # connectAsync waited for every startup answer: nothing timed out.
        for msg_id in (61, 5, 99, 6, 7, 76):  # positions, open/completed orders, account, execs
            assert gateway.message_counts[msg_id] >= 1, msg_id
        assert 3 in gateway.sessions
    finally:
        ib.disconnect()


async def test_two_accounts_are_managed(library: ModuleType, connect: Any) -> None:
    async with GatewaySimulator(accounts=["DU111", "DU222"], tick_interval=None) as gw:
        ib = await connect(gw)
        assert ib.managedAccounts() == ["DU111", "DU222"]


async def test_client_id_in_use_is_error_326(gateway: GatewaySimulator, connect: Any,
                                             library: ModuleType) -> None:
    await connect(gateway, client_id=7)
    second = library.IB()
    seen = _errors(second)
    with pytest.raises((asyncio.TimeoutError, ConnectionError)):
        await second.connectAsync("127.0.0.1", gateway.port, clientId=7, timeout=1.5)
    assert (-1, 326) in {(r, c) for r, c, _ in seen}
    assert not second.isConnected()
    second.disconnect()


async def test_nothing_listening_is_refused(library: ModuleType) -> None:
    gw = GatewaySimulator(tick_interval=None)
    await gw.start()
    port = gw.port
    await gw.close()
    ib = library.IB()
    with pytest.raises(ConnectionRefusedError):
        await ib.connectAsync("127.0.0.1", port, clientId=1, timeout=2)


async def test_stalled_handshake_times_out(gateway: GatewaySimulator,
                                           library: ModuleType) -> None:
    gateway.stall_handshake = True
    ib = library.IB()
    with pytest.raises(asyncio.TimeoutError):
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=1, timeout=0.5)
    assert not ib.isConnected()


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        (lambda m: m.Stock("AAPL", "SMART", "USD"),
         {"conId": 265598, "secType": "STK", "primaryExchange": "NASDAQ"}),
        (lambda m: m.Forex("EURUSD"),
         {"conId": 12087792, "secType": "CASH", "localSymbol": "EUR.USD"}),
        (lambda m: m.Index("SPX", "CBOE", "USD"), {"conId": 416904, "secType": "IND"}),
        (lambda m: m.Crypto("BTC", "PAXOS", "USD"), {"conId": 479624278, "secType": "CRYPTO"}),
    ],
    ids=["stock", "forex", "index", "crypto"],
)
async def test_contract_details(gateway: GatewaySimulator, connect: Any, library: ModuleType,
                                make: Any, expect: dict[str, Any]) -> None:
    ib = await connect(gateway)
    details = await ib.reqContractDetailsAsync(make(library))
    assert len(details) == 1
    got = details[0]
    for key, value in expect.items():
        assert getattr(got.contract, key) == value, key
    assert got.minTick > 0
    assert got.longName


async def test_futures_with_and_without_expiry(gateway: GatewaySimulator, connect: Any,
                                               library: ModuleType) -> None:
    ib = await connect(gateway)
    both = await ib.reqContractDetailsAsync(library.Future("ES", exchange="CME"))
    assert len(both) == 2  # two expiries: ambiguous without one
    front = sorted(d.contract.lastTradeDateOrContractMonth for d in both)[0]
    one = await ib.reqContractDetailsAsync(library.Future("ES", front[:6], "CME"))
    assert len(one) == 1
    c = one[0].contract
    assert (c.multiplier, c.lastTradeDateOrContractMonth) == ("50", front)
    assert c.localSymbol.startswith("ES")


async def test_unknown_symbol_is_error_200_per_request(gateway: GatewaySimulator,
                                                       connect: Any, library: ModuleType) -> None:
    ib = await connect(gateway)
    seen = _errors(ib)
    bad, good = await asyncio.gather(
        ib.reqContractDetailsAsync(library.Stock("NOPE", "SMART", "USD")),
        ib.reqContractDetailsAsync(library.Stock("IBM", "SMART", "USD")),
    )
    assert bad == []
    assert [d.contract.conId for d in good] == [8314]
    assert [code for _, code, _ in seen] == [200]


async def test_pacing_violation_is_error_100_without_throttle(
        gateway: GatewaySimulator, connect: Any, until: Any) -> None:
    ib = await connect(gateway)
    seen = _errors(ib)
    ib.client.MaxRequests = 0  # the client's own throttle off: send as fast as possible
    for _ in range(120):
        ib.client.reqCurrentTime()
    await until(ib, lambda: any(c == 100 for _, c, _ in seen), 5, "error 100")
    assert gateway.pacing_violations > 0
    assert gateway.max_rate_seen > gateway.pacing_limit


async def test_client_throttle_stays_under_the_limit(gateway: GatewaySimulator,
                                                     connect: Any, until: Any) -> None:
    ib = await connect(gateway)
    # A throttle needs a margin below the limit: the gateway counts by arrival, and a
    # batch that waits in the client's loop arrives late, close to the next one.
    ib.client.MaxRequests = 40
    for _ in range(91):
        ib.client.reqCurrentTime()
    await until(ib, lambda: gateway.message_counts[49] >= 91, 10, "91 currentTime requests")
    assert gateway.pacing_violations == 0
    assert gateway.max_rate_seen <= gateway.pacing_limit


async def test_connectivity_notices(gateway: GatewaySimulator, connect: Any,
                                    until: Any) -> None:
    ib = await connect(gateway)
    seen = _errors(ib)
    gateway.connectivity_lost()
    gateway.connectivity_restored(data_lost=True)
    gateway.connectivity_lost()
    gateway.connectivity_restored(data_lost=False)
    gateway.set_market_farm(False)
    gateway.set_market_farm(True)
    gateway.set_hmds_farm(False)
    gateway.set_hmds_farm(True)
    await until(ib, lambda: len(seen) >= 8, 5, "eight notices")
    assert [c for _, c, _ in seen] == [1100, 1101, 1100, 1102, 2103, 2104, 2105, 2106]


async def test_stop_and_restart_keeps_orders_and_ids(quiet_gateway: GatewaySimulator,
                                                     connect: Any, library: ModuleType,
                                                     until: Any) -> None:
    gw = quiet_gateway
    ib = await connect(gw, client_id=5)
    aapl = library.Stock("AAPL", "SMART", "USD", conId=265598)
    bid = gw.broker.market(gw.instrument("AAPL")).quote("AAPL").bid
    order = library.LimitOrder("BUY", 100, round(bid - 5, 2), orderRef="ref-1")
    trade = ib.placeOrder(aapl, order)
    await until(ib, lambda: trade.orderStatus.status == "Submitted", 5, "Submitted")
    used = trade.order.orderId
    lost = asyncio.Event()
    ib.disconnectedEvent += lost.set
    await gw.stop()
    await asyncio.wait_for(lost.wait(), 5)
    # While the gateway is down the market falls through the limit: a fill at IB.
    gw.broker.set_quote(gw.instrument("AAPL"), bid - 6, bid - 5.99, 500, 500)
    await gw.start()
    ib2 = await connect(gw, client_id=5)
    assert ib2.client.getReqId() > used  # order ids are never reused
    fills = [f for f in ib2.fills() if f.execution.orderRef == "ref-1"]
    assert [f.execution.shares for f in fills] == [100.0]
    assert fills[0].commissionReport.commission > 0
    known = [t for t in ib2.trades() if t.order.orderRef == "ref-1"]
    assert known and all(t.orderStatus.status == "Filled" for t in known)
    assert gw.connections == 2


async def test_cli_runs_and_serves(library: ModuleType) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stockfish_ibkr.testing", "--port", "0", "--tick-interval",
        "0.05", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith("listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        ib = library.IB()
        await ib.connectAsync("127.0.0.1", port, clientId=1, timeout=5)
        assert ib.managedAccounts() == ["DU1234567"]
        ib.disconnect()
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
