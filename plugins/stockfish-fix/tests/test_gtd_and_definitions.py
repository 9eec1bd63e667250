"""Time in force and trailing stops on FIX (issue 25 item 4), against the FIX exchange
simulator: GTD goes out as TimeInForce 6 with ExpireTime 126 and the exchange expires it;
IOC and FOK are mapped; a trailing stop goes as a trailing stop peg (OrdType P, ExecInst a,
PegOffsetValue) where ``trailing_stops`` says the counterparty takes it, and is refused
before it leaves, naming the connector, elsewhere. And SecurityDefinition (item 5): the connector's
instrument hook asks SecurityDefinitionRequest (c), reads the SecurityDefinition (d), and
the configuration fills in what it leaves out."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import stockfish_fix.plugin as fix_plugin
from stockfish_core import ExchangeManager, Order, OrderRejected, OrderStatus, PluginRegistry
from stockfish_core.config import InstrumentSettings, ManagerConfig
from stockfish_fix.messages import flat, utc_timestamp_ns
from stockfish_fix.testing import FixExchange

CONFIG = ManagerConfig(connect_timeout=20.0, reconnect_initial_delay=0.2,
                       position_check_interval=0)


def manager_for(exchange: FixExchange, version: str, tmp_path: Path,
                config: ManagerConfig = CONFIG, **settings: Any) -> ExchangeManager:
    registry = PluginRegistry(entry_points=())
    registry.register(fix_plugin, "fix")
    manager = ExchangeManager(config=config, registry=registry, journal=":memory:")
    manager.add_connector("fix", "fix", **exchange.connector_settings(
        version, store="file", file_store_path=str(tmp_path / "client-store"), **settings))
    return manager


def is_new(order: Order) -> bool:
    return order.venue_order_id is not None or order.is_final


def new_orders(exchange: FixExchange) -> list[dict[str, str]]:
    return [flat(raw) for _key, raw in exchange.messages if flat(raw).get("35") == "D"]


async def test_a_gtd_order_carries_its_expire_time_and_the_exchange_expires_it(
        exchange: FixExchange, version: str, tmp_path: Path) -> None:
    exchange.set_quote("SPY", "100", "100.1")
    async with manager_for(exchange, version, tmp_path) as manager:
        expire = time.time_ns() + 1_000_000_000
        cid = manager.send_order(Order("SPY", "BUY", 10, "LIMIT", price="99",
                                       time_in_force="GTD", expire_ns=expire))
        order = await manager.wait_for_order_async(cid, is_new)
        assert order.status is OrderStatus.SUBMITTED
        (sent,) = new_orders(exchange)
        assert sent["59"] == "6"
        assert utc_timestamp_ns(sent["126"]) == expire // 1_000_000 * 1_000_000  # ms
        order = await manager.wait_for_order_async(cid, timeout=10)
        assert order.status is OrderStatus.CANCELLED
        assert "expired" in (order.reason or "")
        assert order.filled_quantity == 0
        assert time.time_ns() >= expire


@pytest.mark.parametrize("version", ["FIX.4.4"])
async def test_ioc_and_fok_are_mapped(exchange: FixExchange, version: str,
                                      tmp_path: Path) -> None:
    exchange.set_quote("SPY", "100", "100.1", 5, 5)
    async with manager_for(exchange, version, tmp_path) as manager:
        ioc = manager.send_order(Order("SPY", "BUY", 10, "LIMIT", price="100.1",
                                       time_in_force="IOC"))
        ioc_order = await manager.wait_for_order_async(ioc)
        fok = manager.send_order(Order("SPY", "BUY", 10, "LIMIT", price="100.1",
                                       time_in_force="FOK"))
        fok_order = await manager.wait_for_order_async(fok)
        assert [m["59"] for m in new_orders(exchange)] == ["3", "4"]
        assert (ioc_order.status, ioc_order.filled_quantity) == (OrderStatus.CANCELLED, 5)
        assert (fok_order.status, fok_order.filled_quantity) == (OrderStatus.CANCELLED, 0)


@pytest.mark.parametrize("version", ["FIX.4.4"])
async def test_a_trailing_stop_is_refused_where_the_counterparty_takes_none(
        exchange: FixExchange, version: str, tmp_path: Path) -> None:
    async with manager_for(exchange, version, tmp_path) as manager:
        order = Order("SPY", "SELL", 10, "TRAILING_STOP", trail_amount=1)
        with pytest.raises(OrderRejected, match=r"connector fix cannot take this order: "
                                                "does not take TRAILING_STOP orders"):
            manager.send_order(order, "fix")
        assert order.status is OrderStatus.REJECTED
        assert not new_orders(exchange)


@pytest.mark.parametrize("version", ["FIX.4.4", "FIXT.1.1"])
@pytest.mark.parametrize(("side", "trail", "quotes", "stop", "fill_at", "peg"), [
    # A sell trailing 1.5 below the bid: 98.5, up to 101.5, never back; the bid crosses.
    ("SELL", {"trail_amount": "1.5"}, [("103", "103.1"), ("102", "102.1")], "101.5",
     ("101.5", "101.6"), [("18", "a"), ("211", "-1.5")]),
    # A buy trailing 2% above the ask: 102.102, down to 91.8; the ask crosses.
    ("BUY", {"trail_percent": "2"}, [("89.9", "90")], "91.8", ("91.7", "91.8"),
     [("18", "a"), ("211", "200"), ("836", "1")]),
])
async def test_a_trailing_stop_goes_as_a_trailing_stop_peg(
        exchange: FixExchange, version: str, tmp_path: Path, side: str,
        trail: dict[str, str], quotes: list[tuple[str, str]], stop: str,
        fill_at: tuple[str, str], peg: list[tuple[str, str]]) -> None:
    exchange.set_quote("SPY", "100", "100.1")
    async with manager_for(exchange, version, tmp_path, trailing_stops=True) as manager:
        cid = manager.send_order(Order("SPY", side, 10, "TRAILING_STOP", **trail), "fix")
        order = await manager.wait_for_order_async(cid, is_new)
        assert order.status is OrderStatus.SUBMITTED
        (sent,) = new_orders(exchange)
        assert sent["40"] == "P" and [(t, sent.get(t)) for t, _v in peg] == peg
        for bid, ask in quotes:
            exchange.set_quote("SPY", bid, ask)
        (view,) = exchange.engine.open_orders("SPY")
        assert view.stop_price == Decimal(stop) and not view.triggered
        exchange.set_quote("SPY", *fill_at)
        order = await manager.wait_for_order_async(cid)
        assert order.status is OrderStatus.FILLED
        assert order.avg_fill_price == Decimal(fill_at[0] if side == "SELL" else fill_at[1])


def test_trailing_stops_need_fix_4_4_or_later() -> None:
    from stockfish_fix.config import FixConfig

    with pytest.raises(ValueError, match=r"FIX 4\.2 has no trailing stop peg"):
        FixConfig(host="127.0.0.1", port=1, sender_comp_id="A", target_comp_id="B",
                  begin_string="FIX.4.2", trailing_stops=True)


# -- SecurityDefinition ----------------------------------------------------------------------
@pytest.mark.parametrize("version", ["FIXT.1.1"])
async def test_the_instrument_comes_from_the_security_definition(
        exchange: FixExchange, version: str, tmp_path: Path) -> None:
    exchange.define("SPY", tick_size="0.05", round_lot=100, multiplier=1, currency="USD",
                    exchange="ARCX", security_id="78462F103")
    async with manager_for(exchange, version, tmp_path, security_definitions=True) as manager:
        spy = await manager.instrument_async("SPY", "fix")
        assert (spy.tick_size, spy.lot_size, spy.multiplier) == (
            Decimal("0.05"), Decimal(100), Decimal(1))
        assert (spy.currency, spy.exchange, spy.venue_id) == ("USD", "ARCX", "78462F103")
        asked = [flat(raw) for _key, raw in exchange.messages if flat(raw).get("35") == "c"]
        assert [(m["55"], m["321"]) for m in asked] == [("SPY", "0")]
        with pytest.raises(LookupError, match="does not know 'NOPE'"):
            await manager.instrument_async("NOPE", "fix")


@pytest.mark.parametrize("version", ["FIX.4.4"])
async def test_what_the_definition_leaves_out_comes_from_the_configuration(
        exchange: FixExchange, version: str, tmp_path: Path) -> None:
    # FIX 4.4's SecurityDefinition has no MinPriceIncrement: the tick is the config's.
    config = ManagerConfig(connect_timeout=20.0, position_check_interval=0,
                           off_tick_prices="reject", instruments={
                               "SPY": InstrumentSettings(tick_size=Decimal("0.25"),
                                                         exchange="CONFIGURED")})
    exchange.define("SPY", round_lot=10, multiplier=50, currency="USD", exchange="XCME")
    async with manager_for(exchange, version, tmp_path, config,
                           security_definitions=True) as manager:
        spy = await manager.instrument_async("SPY", "fix")
        assert (spy.tick_size, spy.lot_size, spy.multiplier, spy.exchange) == (
            Decimal("0.25"), Decimal(10), Decimal(50), "XCME")
        # Orders are checked against it before they leave.
        with pytest.raises(OrderRejected, match=r"not a multiple of SPY.s tick 0\.25"):
            manager.send_order(Order("SPY", "BUY", 1, "LIMIT", price="100.1"), "fix")
        assert not new_orders(exchange)


@pytest.mark.parametrize("version", ["FIX.4.4"])
async def test_without_security_definitions_the_configuration_describes_it(
        exchange: FixExchange, version: str, tmp_path: Path) -> None:
    config = ManagerConfig(connect_timeout=20.0, position_check_interval=0, instruments={
        "SPY": InstrumentSettings(tick_size=Decimal("0.01"), lot_size=Decimal(1))})
    async with manager_for(exchange, version, tmp_path, config) as manager:
        spy = await manager.instrument_async("SPY", "fix")
        assert (spy.tick_size, spy.lot_size, spy.exchange) == (Decimal("0.01"), Decimal(1), "")
        assert not [raw for _key, raw in exchange.messages if flat(raw).get("35") == "c"]
        with pytest.raises(LookupError, match="no connector describes 'QQQ'"):
            await manager.instrument_async("QQQ", "fix")
