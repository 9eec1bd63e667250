"""Messages the gateway sends, field for field as a server of version 176 writes them.

ib_insync and ib_async unpack most of these into fixed tuples and silently drop (log) a
message with one field too many or too few, so every builder here is exercised through
the real client in the tests. The layouts follow the clients' decoders for version 176:
no version field where the server version made it obsolete, an empty string for every
value that is unset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .instruments import Instrument
from .state import SimExecution, SimOrder

__all__ = [
    "IN",
    "OUT",
    "account_download_end",
    "account_update_multi",
    "account_update_multi_end",
    "account_update_time",
    "account_value",
    "commission_report",
    "completed_order",
    "completed_orders_end",
    "contract_details",
    "contract_details_end",
    "current_time",
    "error",
    "exec_details",
    "exec_details_end",
    "historical_data",
    "historical_data_update",
    "managed_accounts",
    "market_data_type",
    "market_depth",
    "market_depth_l2",
    "next_valid_id",
    "open_order",
    "open_order_end",
    "order_status",
    "portfolio_value",
    "position",
    "position_end",
    "real_time_bar",
    "tick_generic",
    "tick_price",
    "tick_req_params",
    "tick_size",
    "tick_snapshot_end",
    "tick_string",
]

Fields = list[Any]


class OUT:
    """Message ids the server sends."""

    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERR_MSG = 4
    OPEN_ORDER = 5
    ACCT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MARKET_DEPTH = 12
    MARKET_DEPTH_L2 = 13
    MANAGED_ACCTS = 15
    HISTORICAL_DATA = 17
    TICK_GENERIC = 45
    TICK_STRING = 46
    CURRENT_TIME = 49
    REAL_TIME_BARS = 50
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    TICK_SNAPSHOT_END = 57
    MARKET_DATA_TYPE = 58
    COMMISSION_REPORT = 59
    POSITION_DATA = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI = 73
    ACCOUNT_UPDATE_MULTI_END = 74
    TICK_REQ_PARAMS = 81
    HISTORICAL_DATA_UPDATE = 90
    COMPLETED_ORDER = 101
    COMPLETED_ORDERS_END = 102


class IN:
    """Message ids the client sends."""

    REQ_MKT_DATA = 1
    CANCEL_MKT_DATA = 2
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCT_DATA = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DATA = 9
    REQ_MKT_DEPTH = 10
    CANCEL_MKT_DEPTH = 11
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_ALL_OPEN_ORDERS = 16
    REQ_MANAGED_ACCTS = 17
    REQ_HISTORICAL_DATA = 20
    CANCEL_HISTORICAL_DATA = 25
    REQ_CURRENT_TIME = 49
    REQ_REAL_TIME_BARS = 50
    CANCEL_REAL_TIME_BARS = 51
    REQ_GLOBAL_CANCEL = 58
    REQ_MARKET_DATA_TYPE = 59
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    CANCEL_ACCOUNT_UPDATES_MULTI = 77
    REQ_COMPLETED_ORDERS = 99


def _contract11(inst: Instrument, exchange: str | None = None) -> Fields:
    """conId, symbol, secType, expiry, strike, right, multiplier, exchange, currency,
    localSymbol, tradingClass: the contract block of orders, executions, positions."""
    return [inst.con_id, inst.symbol, inst.sec_type, inst.expiry, 0.0, "", inst.multiplier,
            exchange if exchange is not None else inst.exchange, inst.currency,
            inst.local_symbol, inst.trading_class]


# -- session ---------------------------------------------------------------------------
def managed_accounts(accounts: Sequence[str]) -> Fields:
    return [OUT.MANAGED_ACCTS, 1, ",".join(accounts)]


def next_valid_id(order_id: int) -> Fields:
    return [OUT.NEXT_VALID_ID, 1, order_id]


def error(req_id: int, code: int, message: str, advanced_json: str = "") -> Fields:
    return [OUT.ERR_MSG, 2, req_id, code, message, advanced_json]


def current_time(epoch_seconds: int) -> Fields:
    return [OUT.CURRENT_TIME, 1, epoch_seconds]


# -- account ---------------------------------------------------------------------------
def account_value(key: str, value: str, currency: str, account: str) -> Fields:
    return [OUT.ACCT_VALUE, 2, key, value, currency, account]


def portfolio_value(inst: Instrument, position: float, market_price: float,
                    market_value: float, average_cost: float, unrealized: float,
                    realized: float, account: str) -> Fields:
    return [OUT.PORTFOLIO_VALUE, 8, inst.con_id, inst.symbol, inst.sec_type, inst.expiry, 0.0,
            "", inst.multiplier, inst.primary_exchange, inst.currency, inst.local_symbol,
            inst.trading_class, position, market_price, market_value, average_cost,
            unrealized, realized, account]


def account_update_time(hhmm: str) -> Fields:
    return [OUT.ACCT_UPDATE_TIME, 1, hhmm]


def account_download_end(account: str) -> Fields:
    return [OUT.ACCT_DOWNLOAD_END, 1, account]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> Fields:
    return [OUT.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> Fields:
    return [OUT.ACCOUNT_SUMMARY_END, 1, req_id]


def account_update_multi(req_id: int, account: str, key: str, value: str,
                         currency: str) -> Fields:
    return [OUT.ACCOUNT_UPDATE_MULTI, 1, req_id, account, "", key, value, currency]


def account_update_multi_end(req_id: int) -> Fields:
    return [OUT.ACCOUNT_UPDATE_MULTI_END, 1, req_id]


def position(account: str, inst: Instrument, quantity: float, avg_cost: float) -> Fields:
    return [OUT.POSITION_DATA, 3, account, *_contract11(inst, inst.listing_exchange),
            quantity, avg_cost]


def position_end() -> Fields:
    return [OUT.POSITION_END, 1]


# -- contracts -------------------------------------------------------------------------
def contract_details(req_id: int, inst: Instrument) -> Fields:
    return [OUT.CONTRACT_DATA, req_id, *_named(
        symbol=inst.symbol, secType=inst.sec_type, lastTimes=inst.expiry, strike=0.0,
        right="", exchange=inst.exchange, currency=inst.currency,
        localSymbol=inst.local_symbol, marketName=inst.trading_class,
        tradingClass=inst.trading_class, conId=inst.con_id, minTick=inst.min_tick,
        multiplier=inst.multiplier, orderTypes=_ORDER_TYPES, validExchanges=inst.valid_exchanges,
        priceMagnifier=1, underConId=0, longName=inst.long_name,
        primaryExchange=inst.primary_exchange, contractMonth=inst.expiry[:6],
        industry=inst.industry, category=inst.category, subcategory="",
        timeZoneId=inst.time_zone, tradingHours="", liquidHours="", evRule="",
        evMultiplier="", numSecIds=0, aggGroup=1, underSymbol="", underSecType="",
        marketRuleIds="26" if inst.sec_type == "STK" else "", realExpirationDate=inst.expiry,
        stockType=inst.stock_type, minSize=inst.min_size, sizeIncrement=inst.size_increment,
        suggestedSizeIncrement=inst.size_increment,
    )]


_ORDER_TYPES = "ACTIVETIM,ADJUST,ALERT,ALLOC,DAY,GTC,IOC,FOK,LMT,MKT,STP,STPLMT,TRAIL,WHATIF"


def _named(**fields: Any) -> Fields:
    """Field values in the order given; the names mirror the clients' decoders."""
    return list(fields.values())


def contract_details_end(req_id: int) -> Fields:
    return [OUT.CONTRACT_DATA_END, 1, req_id]


# -- market data -----------------------------------------------------------------------
def tick_price(req_id: int, tick_type: int, price: float, size: float,
               attr_mask: int = 0) -> Fields:
    return [OUT.TICK_PRICE, 6, req_id, tick_type, price, size, attr_mask]


def tick_size(req_id: int, tick_type: int, size: float) -> Fields:
    return [OUT.TICK_SIZE, 6, req_id, tick_type, size]


def tick_string(req_id: int, tick_type: int, value: str) -> Fields:
    return [OUT.TICK_STRING, 6, req_id, tick_type, value]


def tick_generic(req_id: int, tick_type: int, value: float) -> Fields:
    return [OUT.TICK_GENERIC, 6, req_id, tick_type, value]


def tick_req_params(req_id: int, min_tick: float, bbo_exchange: str,
                    snapshot_permissions: int) -> Fields:
    return [OUT.TICK_REQ_PARAMS, req_id, min_tick, bbo_exchange, snapshot_permissions]


def tick_snapshot_end(req_id: int) -> Fields:
    return [OUT.TICK_SNAPSHOT_END, 1, req_id]


def market_data_type(req_id: int, data_type: int) -> Fields:
    return [OUT.MARKET_DATA_TYPE, 1, req_id, data_type]


def market_depth(req_id: int, position: int, operation: int, side: int, price: float,
                 size: float) -> Fields:
    """Operation 0 insert, 1 update, 2 delete; side 0 ask, 1 bid."""
    return [OUT.MARKET_DEPTH, 1, req_id, position, operation, side, price, size]


def market_depth_l2(req_id: int, position: int, market_maker: str, operation: int,
                    side: int, price: float, size: float, smart: bool) -> Fields:
    return [OUT.MARKET_DEPTH_L2, 1, req_id, position, market_maker, operation, side, price,
            size, smart]


def historical_data(req_id: int, start: str, end: str,
                    bars: Sequence[tuple[str, float, float, float, float, float, float, int]]
                    ) -> Fields:
    """Bars as (date, open, high, low, close, volume, wap, count)."""
    fields: Fields = [OUT.HISTORICAL_DATA, req_id, start, end, len(bars)]
    for bar in bars:
        fields.extend(bar)
    return fields


def historical_data_update(req_id: int, count: int, date: str, open_: float, close: float,
                           high: float, low: float, wap: float, volume: float) -> Fields:
    return [OUT.HISTORICAL_DATA_UPDATE, req_id, count, date, open_, close, high, low, wap,
            volume]


def real_time_bar(req_id: int, epoch_seconds: int, open_: float, high: float, low: float,
                  close: float, volume: float, wap: float, count: int) -> Fields:
    return [OUT.REAL_TIME_BARS, 3, req_id, epoch_seconds, open_, high, low, close, volume,
            wap, count]


# -- orders ----------------------------------------------------------------------------
def order_status(order: SimOrder) -> Fields:
    return [OUT.ORDER_STATUS, order.order_id, order.status, order.filled, order.remaining,
            order.avg_fill_price, order.perm_id, order.parent_id, order.last_fill_price,
            order.client_id, order.why_held, 0.0]


def _price(value: float | None) -> Any:
    return value if value is not None else ""


def open_order(order: SimOrder, what_if: dict[str, str] | None = None) -> Fields:
    """An openOrder message; with ``what_if`` (the margin and commission figures of
    :meth:`SimBroker.what_if`) the answer to a what-if order."""
    inst = order.instrument
    state = {"initMarginBefore": "", "maintMarginBefore": "", "equityWithLoanBefore": "",
             "initMarginChange": "", "maintMarginChange": "", "equityWithLoanChange": "",
             "initMarginAfter": "", "maintMarginAfter": "", "equityWithLoanAfter": "",
             "commission": "", "minCommission": "", "maxCommission": "",
             "commissionCurrency": ""}
    state.update(what_if or {})
    return [OUT.OPEN_ORDER, order.order_id, *_contract11(inst), *_named(
        action=order.action, totalQuantity=order.quantity, orderType=order.order_type,
        lmtPrice=_price(order.lmt_price), auxPrice=_price(order.aux_price), tif=order.tif,
        ocaGroup="", account=order.account, openClose="O", origin=0, orderRef=order.order_ref,
        clientId=order.client_id, permId=order.perm_id, outsideRth=order.outside_rth,
        hidden=False, discretionaryAmt=0.0, goodAfterTime="", sharesAllocation="",
        faGroup="", faMethod="", faPercentage="", faProfile="", modelCode="",
        goodTillDate=order.good_till_date, rule80A="", percentOffset="", settlingFirm="",
        shortSaleSlot=0,
        designatedLocation="", exemptCode=-1, auctionStrategy=0, startingPrice="",
        stockRefPrice="", delta="", stockRangeLower="", stockRangeUpper="", displaySize="",
        blockOrder=False, sweepToFill=False, allOrNone=False, minQty="", ocaType=0,
        eTradeOnly=False, firmQuoteOnly=False, nbboPriceCap="", parentId=order.parent_id,
        triggerMethod=0, volatility="", volatilityType=0, deltaNeutralOrderType="",
        deltaNeutralAuxPrice="",
        continuousUpdate=False, referencePriceType=0, trailStopPrice="",
        trailingPercent=_price(order.trailing_percent),
        basisPoints="", basisPointsType="", comboLegsDescrip="",
        numLegs=0, numOrderLegs=0, numSmartComboRoutingParams=0,
        scaleInitLevelSize="", scaleSubsLevelSize="", scalePriceIncrement="",
        hedgeType="",
        optOutSmartRouting=False, clearingAccount="", clearingIntent="", notHeld=False,
        deltaNeutralContractPresent=0,
        algoStrategy="",
        solicited=False, whatIf=what_if is not None, status=order.status, **state,
        warningText=order.warning,
        randomizeSize=False, randomizePrice=False,
        numConditions=0,
        adjustedOrderType="", triggerPrice="", trailStopPrice2="", lmtPriceOffset="",
        adjustedStopPrice="", adjustedStopLimitPrice="", adjustedTrailingAmount="",
        adjustableTrailingUnit=0, softDollarTierName="", softDollarTierValue="",
        softDollarTierDisplayName="", cashQty="", dontUseAutoPriceForHedge=False,
        isOmsContainer=False, discretionaryUpToLimitPrice=False, usePriceMgmtAlgo="",
        duration="", postToAts="", autoCancelParent=False,
        minTradeQty="", minCompeteSize="", competeAgainstBestOffset="", midOffsetAtWhole="",
        midOffsetAtHalf="",
    )]


def open_order_end() -> Fields:
    return [OUT.OPEN_ORDER_END, 1]


def completed_order(order: SimOrder) -> Fields:
    inst = order.instrument
    return [OUT.COMPLETED_ORDER, *_contract11(inst), *_named(
        action=order.action, totalQuantity=order.quantity, orderType=order.order_type,
        lmtPrice=_price(order.lmt_price), auxPrice=_price(order.aux_price), tif=order.tif,
        ocaGroup="", account=order.account, openClose="O", origin=0, orderRef=order.order_ref,
        permId=order.perm_id, outsideRth=order.outside_rth, hidden=False,
        discretionaryAmt=0.0, goodAfterTime="", faGroup="", faMethod="", faPercentage="",
        faProfile="", modelCode="", goodTillDate=order.good_till_date, rule80A="", percentOffset="",
        settlingFirm="", shortSaleSlot=0, designatedLocation="", exemptCode=-1,
        startingPrice="", stockRefPrice="", delta="", stockRangeLower="",
        stockRangeUpper="", displaySize="", sweepToFill=False, allOrNone=False, minQty="",
        ocaType=0, triggerMethod=0, volatility="", volatilityType=0,
        deltaNeutralOrderType="", deltaNeutralAuxPrice="",
        continuousUpdate=False, referencePriceType=0, trailStopPrice="",
        trailingPercent=_price(order.trailing_percent),
        comboLegsDescrip="",
        numLegs=0, numOrderLegs=0, numSmartComboRoutingParams=0,
        scaleInitLevelSize="", scaleSubsLevelSize="", scalePriceIncrement="",
        hedgeType="",
        clearingAccount="", clearingIntent="", notHeld=False, deltaNeutralContractPresent=0,
        algoStrategy="",
        solicited=False, status=order.status, randomizeSize=False, randomizePrice=False,
        numConditions=0,
        trailStopPrice2="", lmtPriceOffset="", cashQty="", dontUseAutoPriceForHedge=False,
        isOmsContainer=False, autoCancelDate="", filledQuantity=order.filled,
        refFuturesConId=0, autoCancelParent=False, shareholder="", imbalanceOnly=False,
        routeMarketableToBbo=False, parentPermId=0, completedTime=order.completed_time,
        completedStatus=order.completed_status,
        minTradeQty="", minCompeteSize="", competeAgainstBestOffset="", midOffsetAtWhole="",
        midOffsetAtHalf="",
    )]


def completed_orders_end() -> Fields:
    return [OUT.COMPLETED_ORDERS_END]


def exec_details(req_id: int, ex: SimExecution) -> Fields:
    order = ex.order
    inst = order.instrument
    return [
        OUT.EXECUTION_DATA, req_id, order.order_id, *_contract11(inst, inst.listing_exchange),
        ex.exec_id, ex.time_text, order.account, inst.listing_exchange,
        "BOT" if order.action == "BUY" else "SLD", ex.shares, ex.price, order.perm_id,
        order.client_id, 0, ex.cum_qty, ex.avg_price, order.order_ref, "", "", "",
        ex.liquidity,
    ]


def exec_details_end(req_id: int) -> Fields:
    return [OUT.EXECUTION_DATA_END, 1, req_id]


def commission_report(ex: SimExecution) -> Fields:
    return [OUT.COMMISSION_REPORT, 1, ex.exec_id, ex.commission, ex.order.instrument.currency,
            ex.realized_pnl if ex.realized_pnl is not None else "", "", ""]
