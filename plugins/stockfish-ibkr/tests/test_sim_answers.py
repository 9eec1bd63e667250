"""The gateway simulator answers what a client asks, with real ib_insync / ib_async
clients: what-if orders (margin figures, never executed), account summaries, portfolio
rows after every fill, and an error for a request it does not simulate (never silence)."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

from stockfish_ibkr.testing import GatewaySimulator


def _stock(lib: ModuleType, symbol: str, con_id: int) -> Any:
    return lib.Stock(symbol, "SMART", "USD", conId=con_id)


async def test_what_if_order_is_answered_and_never_executed(
        quiet_gateway: GatewaySimulator, connect: Any, library: ModuleType) -> None:
    gw = quiet_gateway
    ib = await connect(gw, client_id=1)
    aapl = _stock(library, "AAPL", 265598)
    bought = ib.placeOrder(aapl, library.MarketOrder("BUY", 60))
    await gw.wait_for(lambda: bought.orderStatus.status == "Filled" or None, 5, "the fill")
    orders_before = len(gw.broker.orders)
    executions_before = len(gw.broker.executions)

    state = await asyncio.wait_for(ib.whatIfOrderAsync(aapl, library.MarketOrder("BUY", 10)),
                                   5)
    mark = gw.broker.mark(gw.instrument("AAPL"))
    assert float(state.initMarginChange) == round(10 * mark * 0.25, 2)
    assert float(state.initMarginBefore) == round(60 * mark * 0.25, 2)
    assert float(state.initMarginAfter) == round(70 * mark * 0.25, 2)
    assert float(state.maintMarginChange) < float(state.initMarginChange)
    assert float(state.equityWithLoanBefore) > 0
    assert float(state.commission) > 0 and state.commissionCurrency == "USD"
    # Nothing was executed: no order, no execution, the position still 60.
    assert len(gw.broker.orders) == orders_before
    assert len(gw.broker.executions) == executions_before
    rows = [(i.key, q) for _a, i, q, _c in gw.broker.position_rows()]
    assert rows == [("AAPL", 60.0)]

    limit = await asyncio.wait_for(
        ib.whatIfOrderAsync(aapl, library.LimitOrder("SELL", 60, 100.0)), 5)
    assert float(limit.initMarginAfter) == 0.0  # selling all frees the margin
    assert len(gw.broker.orders) == orders_before


async def test_account_summary_is_answered(quiet_gateway: GatewaySimulator, connect: Any
                                           ) -> None:
    ib = await connect(quiet_gateway, client_id=2)
    rows = await asyncio.wait_for(ib.accountSummaryAsync(), 5)
    values = {(r.account, r.tag): r.value for r in rows}
    assert values[("DU1234567", "NetLiquidation")] == "1000000.00"
    assert float(values[("DU1234567", "BuyingPower")]) > 0
    assert {"AvailableFunds", "InitMarginReq", "MaintMarginReq"} <= {t for _a, t in values}


async def test_portfolio_rows_after_every_fill(quiet_gateway: GatewaySimulator,
                                               connect: Any, library: ModuleType,
                                               until: Any) -> None:
    gw = quiet_gateway
    ib = await connect(gw, client_id=0)
    await ib.reqAccountUpdatesAsync("DU1234567")
    assert ib.portfolio() == []
    msft = _stock(library, "MSFT", 272093)
    for qty, held in ((5, 5.0), (7, 12.0)):
        trade = ib.placeOrder(msft, library.MarketOrder("BUY", qty))
        await until(ib, lambda t=trade: t.orderStatus.status == "Filled", 5, "Filled")
        await until(ib, lambda h=held: [p.position for p in ib.portfolio()] == [h], 5,
                    f"a portfolio row of {held}")
        (row,) = ib.portfolio()
        assert row.contract.conId == 272093 and row.marketPrice > 0
        assert row.averageCost > 0
    sold = ib.placeOrder(msft, library.MarketOrder("SELL", 12))
    await until(ib, lambda: sold.orderStatus.status == "Filled", 5, "Filled")
    await until(ib, lambda: ib.portfolio() == [], 5, "the flat position leaving the portfolio")
    values = {v.tag: v.value for v in ib.accountValues()}
    assert values["InitMarginReq"] == "0.00"


async def test_a_request_it_does_not_simulate_is_answered_with_an_error(
        quiet_gateway: GatewaySimulator, connect: Any) -> None:
    gw = quiet_gateway
    ib = await connect(gw, client_id=3)
    seen: list[tuple[int, int]] = []
    ib.errorEvent += lambda req_id, code, *rest: seen.append((req_id, code))
    # reqMatchingSymbols (81) is not simulated: the error releases the client at once.
    result = await asyncio.wait_for(ib.reqMatchingSymbolsAsync("AAP"), 5)
    assert not result
    assert len(seen) == 1 and seen[0][1] == 321 and seen[0][0] > 0
    assert gw.sessions[3].unsupported == 1
    assert (3, seen[0][0], 321) in gw.errors_sent
