"""The manager's data and status path: every data type (news and macro included), one bad
update costing only itself, sequence accounting counted once, staleness that follows
the subscription, liveness that recovers, and one log line per state change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from stockfish_core import (
    DataType,
    ExchangeManager,
    MarketUpdate,
    PluginRegistry,
    Subscription,
    hookimpl,
)
from stockfish_core.config import ConfigError, ManagerConfig, parse_config
from stockfish_core.connector import Connector
from stockfish_core.marketdata import MarketDataHub, interval_seconds
from stockfish_core.models import MacroEvent, NewsEvent, PriceTick
from stockfish_core.plugin_api import sequencer_for
from stockfish_core.sim import plugin as sim_plugin
from stockfish_core.stats import ConnectorStats
from stockfish_core.testing import wait_until

FAST = ManagerConfig(health_check_interval=0.05, staleness=0.3, reconnect_initial_delay=0.05,
                     reconnect_max_delay=0.2, connect_timeout=5.0, stale_resubscribe_wait=0.3,
                     stale_alert_wait=0.3)
ALL = {DataType.PRICE_TICK, DataType.NEWS, DataType.MACRO, DataType.OHLCV_BAR,
       DataType.TRADE, DataType.ORDERBOOK_SNAPSHOT, DataType.CUSTOM}


class Feed:
    """A data-only plugin whose batches the test hands in (connector.deliver)."""

    @hookimpl
    def stockfish_plugin_spec(self) -> Any:
        from stockfish_core import API_VERSION, Capabilities, PluginSpec

        return PluginSpec(API_VERSION, None, Capabilities(data_types=ALL))

    @hookimpl
    def stockfish_connect(self, connector: Connector) -> None:
        connector.report_connected()

    @hookimpl
    def stockfish_disconnect(self, connector: Connector) -> None:
        connector.report_closed()

    @hookimpl
    def stockfish_subscribe(self, connector: Connector, subscription: Subscription) -> None:
        pass

    @hookimpl
    def stockfish_unsubscribe(self, connector: Connector, subscription: Subscription) -> None:
        pass


def registry() -> PluginRegistry:
    reg = PluginRegistry(entry_points=())
    reg.register(sim_plugin, "sim")
    reg.register(Feed(), "feed")
    return reg


class Recorder:
    def __init__(self) -> None:
        self.updates: list[MarketUpdate] = []
        self.news: list[MarketUpdate] = []
        self.macro: list[MarketUpdate] = []
        self.stale: list[tuple[str, Subscription, str]] = []
        self.event = asyncio.Event()

    async def until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """Re-checked on every delivery, and every 50 ms for what the health check
        changes on its own (liveness counters)."""
        return await wait_until(predicate, self.event, timeout, what, recheck=0.05)

    def on_update(self, update: MarketUpdate) -> None:
        self.updates.append(update)
        self.event.set()

    def on_news(self, update: MarketUpdate) -> None:
        self.news.append(update)

    def on_macro(self, update: MarketUpdate) -> None:
        self.macro.append(update)

    def on_stale(self, name: str, sub: Subscription, message: str) -> None:
        self.stale.append((name, sub, message))


@pytest.fixture
async def feed_manager() -> AsyncIterator[tuple[ExchangeManager, Recorder]]:
    m = ExchangeManager(config=FAST, registry=registry(), journal=":memory:")
    m.add_connector("f", "feed", primary=True)
    rec = Recorder()
    m.add_subscriber(rec)
    async with m:
        yield m, rec
    m.journal.close()


def tick(symbol: str, seq: int | None = None, *, stream: str = "", session: Any = None,
         last: float = 1.0) -> MarketUpdate:
    return MarketUpdate(DataType.PRICE_TICK, PriceTick(symbol, last=last), "f", seq,
                        stream=stream, session=session)


# -- every data type through the manager ---------------------------------------------------
async def test_news_and_macro_in_a_batch_of_ticks_are_all_delivered(
        feed_manager: tuple[ExchangeManager, Recorder]) -> None:
    m, rec = feed_manager
    news = MarketUpdate(DataType.NEWS, NewsEvent("Fed holds", symbols=["SPY", "QQQ"]), "f")
    macro = MarketUpdate(DataType.MACRO, MacroEvent("CPI", "US", 3.1, 3.0), "f")
    batch = [tick("SPY", last=float(i)) for i in range(500)]
    batch += [news, macro]
    batch += [tick("SPY", last=float(i)) for i in range(500, 1000)]
    m.get_connector("f").deliver(batch)
    assert len(rec.updates) == 1002
    assert rec.news == [news] and rec.macro == [macro]
    assert m.latest("SPY") is not None and m.latest("SPY").last == 999.0  # type: ignore[union-attr]
    stats = m.get_stats()["connectors"]["f"]
    assert stats["updates_delivered"] == 1002 and stats["data_errors"] == 0
    assert stats["by_type"]["news"] == 1 and stats["by_type"]["macro"] == 1


class Exploding:
    """A payload whose symbol cannot be read."""

    @property
    def symbol(self) -> str:
        raise RuntimeError("broken payload")


async def test_a_bad_update_costs_only_itself_counted_with_its_reason(
        feed_manager: tuple[ExchangeManager, Recorder],
        caplog: pytest.LogCaptureFixture) -> None:
    m, rec = feed_manager
    bad = MarketUpdate(DataType.PRICE_TICK, Exploding(), "f")
    unhashable = MarketUpdate(DataType.TRADE, {"symbol": ["not", "a", "str"]}, "f")
    batch = [tick("SPY"), bad, tick("SPY"), unhashable, bad, tick("SPY")]
    with caplog.at_level(logging.WARNING, "stockfish.marketdata"):
        m.get_connector("f").deliver(batch)
    assert len(rec.updates) == 3
    stats = m.get_stats()["connectors"]["f"]
    assert stats["data_errors"] == 3
    assert stats["data_errors_by_reason"] == {"RuntimeError": 2, "TypeError": 1}
    lines = [r.getMessage() for r in caplog.records if "update dropped" in r.getMessage()]
    assert len(lines) == 2  # one per reason, rate-limited
    assert "broken payload" in lines[0]


# -- sequence accounting, counted once --------------------------------------------------------
async def test_the_manager_reorders_counts_and_detects_restarts(
        feed_manager: tuple[ExchangeManager, Recorder]) -> None:
    m, rec = feed_manager
    conn = m.get_connector("f")
    conn.deliver([tick("SPY", s, session="a") for s in (2, 1, 3, 4, 6, 5, 5, 7)])
    conn.deliver([tick("SPY", s, session="b") for s in (1, 2)])  # a new session
    assert [u.sequence_number for u in rec.updates] == [1, 2, 3, 4, 5, 6, 7, 1, 2]
    stats = m.get_stats()["connectors"]["f"]
    assert (stats["gaps"], stats["duplicates"], stats["restarts"]) == (0, 1, 1)
    assert stats["out_of_order"] == 2 and stats["reordered"] == 2


async def test_a_gap_is_declared_after_the_wait_by_the_managers_timer(
        feed_manager: tuple[ExchangeManager, Recorder]) -> None:
    m, rec = feed_manager
    m.get_connector("f").deliver([tick("SPY", s) for s in (1, 2, 5, 6)])
    await rec.until(lambda: len(rec.updates) == 4, 5, "the held updates")
    assert [u.sequence_number for u in rec.updates] == [1, 2, 5, 6]
    stats = m.get_stats()["connectors"]["f"]
    assert (stats["gaps"], stats["lost"]) == (1, 2)
    assert m.get_stats()["total"]["lost"] == 2


async def test_a_connector_that_sequences_itself_is_not_checked_again(
        feed_manager: tuple[ExchangeManager, Recorder]) -> None:
    m, rec = feed_manager
    conn = m.get_connector("f")
    sequencer = sequencer_for(conn, stream="s")
    tracker = sequencer.tracker("SPY")
    out = []
    for n in (1, 2, 2, 4, 3):
        out += sequencer.offer(tracker, tick("SPY", n), n)
    conn.deliver(out)
    # A plugin whose filtered messages leave holes in what it delivers: no false gaps.
    conn.deliver([tick("SPY", 9), tick("SPY", 12)])
    assert [u.sequence_number for u in rec.updates] == [1, 2, 3, 4, 9, 12]
    stats = m.get_stats()["connectors"]["f"]
    assert (stats["duplicates"], stats["gaps"], stats["reordered"]) == (1, 0, 1)


# -- staleness follows the subscription ----------------------------------------------------------
def test_staleness_limits_follow_the_data_type() -> None:
    hub = MarketDataHub(5_000_000_000, bar_grace_ns=2_000_000_000)
    assert hub.limit_ns(DataType.PRICE_TICK) == 5_000_000_000
    assert hub.limit_ns(DataType.OHLCV_BAR, "1m") == 62_000_000_000
    assert hub.limit_ns(DataType.OHLCV_BAR, "5s") == 7_000_000_000
    assert hub.limit_ns(DataType.NEWS) is None and hub.limit_ns(DataType.MACRO) is None
    assert interval_seconds("1h") == 3600 and interval_seconds("30 secs") == 30
    assert interval_seconds("fortnightly") is None


def test_a_bar_subscription_is_not_stale_before_its_interval_and_news_never() -> None:
    hub = MarketDataHub(5_000_000_000)
    rank: Callable[[str], int] = lambda _name: 0  # noqa: E731
    hub.add_feed(("SPY", DataType.OHLCV_BAR), "sim", rank,
                 hub.limit_ns(DataType.OHLCV_BAR, "1m"), now_ns=0)
    hub.add_feed(("SPY", DataType.PRICE_TICK), "sim", rank, now_ns=0)
    hub.add_feed(("news", DataType.NEWS), "sim", rank, None, now_ns=0)
    new, _back = hub.check_staleness(30_000_000_000, lambda _n: True)
    assert new == {("sim", "SPY", DataType.PRICE_TICK)}
    new, _back = hub.check_staleness(3_600_000_000_000, lambda _n: True)
    assert new == {("sim", "SPY", DataType.OHLCV_BAR)}
    assert ("sim", "news", DataType.NEWS) not in hub.stale


async def test_a_one_minute_bar_subscription_keeps_the_health_score() -> None:
    # examples/config/sim.yaml: 1-minute bars with staleness 5 were stale forever.
    cfg = ManagerConfig(health_check_interval=0.05, staleness=0.2)
    m = ExchangeManager(config=cfg, registry=registry(), journal=":memory:")
    m.add_connector("sim", "sim", primary=True, tick_interval=0.01)
    async with m:
        await m.subscribe_async([Subscription("SPY"), Subscription("SPY", DataType.OHLCV_BAR,
                                                                    interval="1m")])
        await wait_until(lambda: m.latest("SPY") is not None, lambda: asyncio.sleep(0.01),
                         5, "a tick")
        await asyncio.sleep(0.6)  # time passing: three tick limits, a dozen health checks
        health = m.get_health_status()["sim"]
        assert health["stale_symbols"] == [] and health["score"] == 100
    m.journal.close()


# -- liveness that recovers ------------------------------------------------------------------------
def sim_manager(venues: int = 1) -> ExchangeManager:
    m = ExchangeManager(config=FAST, registry=registry(), journal=":memory:")
    for i, name in enumerate(["a", "b"][:venues]):
        m.add_connector(name, "sim", primary=i == 0, tick_interval=0.005, seed=i)
    return m


async def test_a_silent_subscription_is_resubscribed_and_recovers() -> None:
    m = sim_manager()
    rec = Recorder()
    m.add_subscriber(rec)
    async with m:
        await m.subscribe_async([Subscription("SPY")])
        await rec.until(lambda: m.latest("SPY") is not None, 5, "a tick")
        m.get_connector("a").state.unsubscribe(Subscription("SPY"))  # the venue stops
        stats = m.get_connector("a").stats
        await rec.until(lambda: stats.resubscribes == 1, 5, "the re-subscribe")
        mark = len(rec.updates)
        await rec.until(lambda: len(rec.updates) > mark + 5, 5, "ticks again")
        await rec.until(lambda: m.get_health_status()["a"]["stale_symbols"] == [], 5,
                         "fresh again")
        assert stats.stale_alerts == 0 and rec.stale == []
    m.journal.close()


async def test_a_subscription_resubscribing_cannot_fix_is_failed_over_then_alerted(
        caplog: pytest.LogCaptureFixture) -> None:
    m = sim_manager(venues=2)
    rec = Recorder()
    m.add_subscriber(rec)
    caplog.set_level(logging.WARNING, "stockfish.manager")
    async with m:
        await m.subscribe_async([Subscription("SPY")])
        await rec.until(lambda: any(u.source == "a" for u in rec.updates), 5, "ticks from a")
        venue_a = m.get_connector("a").state
        venue_a.unsubscribe(Subscription("SPY"))
        venue_a.subscribe = lambda sub: None  # the venue accepts, and never sends again
        stats = m.get_connector("a").stats
        await rec.until(lambda: stats.stale_alerts == 1, 10, "the alert")
        assert stats.resubscribes == 1 and stats.stale_failovers == 1
        mark = len(rec.updates)
        await rec.until(lambda: any(u.source == "b" for u in rec.updates[mark:]), 5,
                         "ticks from b")
        ((name, sub, message),) = rec.stale
        assert name == "a" and sub == Subscription("SPY") and "served from b" in message
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "re-subscribing" in text and "served from b" in text
        assert m.get_stats()["total"]["stale_alerts"] == 1
    m.journal.close()


@pytest.mark.parametrize("key", ["stale_resubscribe_wait", "reorder_wait",
                                 "sequence_restart_silence", "bar_staleness_grace"])
def test_liveness_and_sequencing_settings_are_validated(key: str) -> None:
    with pytest.raises(ValueError, match=key):
        ManagerConfig(**{key: -1.0})
    with pytest.raises(ConfigError, match=key):
        parse_config({"manager": {key: -1}}, PluginRegistry(entry_points=()))


# -- one log line per state change ---------------------------------------------------------------
async def test_an_outage_logs_one_line_per_state_change(
        caplog: pytest.LogCaptureFixture) -> None:
    m = sim_manager()
    async with m:
        rec = Recorder()
        m.add_subscriber(rec)
        await m.subscribe_async([Subscription("SPY")])
        await rec.until(lambda: m.latest("SPY") is not None, 5, "a tick")
        caplog.set_level(logging.DEBUG, "stockfish.manager")
        caplog.clear()
        venue = m.get_connector("a").state
        venue.fail_connects(5)
        venue.drop("venue went away")
        stats = m.get_connector("a").stats
        await rec.until(lambda: stats.reconnects == 1, 15, "the reconnect")
    m.journal.close()
    loud = [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name == "stockfish.manager"]
    assert len(loud) == 3, loud
    assert loud[0] == "a: connection lost: disconnected (venue went away)"
    assert loud[1].startswith("a: reconnecting: attempts after")
    assert loud[2].startswith("a: back after 6 attempt(s)")
    assert not any("disconnected (disconnected)" in r.getMessage() for r in caplog.records)
    assert stats.reconnect_attempts == 6


def test_stats_of_a_standalone_sequencer_go_to_the_connector() -> None:
    class Listener:
        def on_status(self, *a: Any) -> None: ...
        def on_updates(self, *a: Any) -> None: ...
        def on_order_update(self, *a: Any) -> None: ...
        def on_error(self, *a: Any, **k: Any) -> None: ...

    conn = Connector("x", "feed", listener=Listener())
    assert isinstance(conn.stats, ConnectorStats) and not conn.sequenced
    seq = sequencer_for(conn, stream="tcp://127.0.0.1:1")
    assert conn.sequenced and seq.stats is conn.stats
    other = sequencer_for(conn, stream="tcp://127.0.0.1:2")
    again = sequencer_for(conn, stream="tcp://127.0.0.1:1")  # a new session of the plugin
    assert conn.sequencers == [other, again]


# -- the delivery path of a batch (a sequenced plugin's, the zmq connector's) --------------
class _Subscriber:
    def __init__(self, fail_first: bool = False) -> None:
        self.ticks: list[MarketUpdate] = []
        self.trades: list[MarketUpdate] = []
        self.any: list[MarketUpdate] = []
        self.fail_first = fail_first

    def on_price_tick(self, update: MarketUpdate) -> None:
        if self.fail_first:
            self.fail_first = False
            raise ValueError("a subscriber's own bug")
        self.ticks.append(update)

    def on_trade(self, update: MarketUpdate) -> None:
        self.trades.append(update)

    def on_update(self, update: MarketUpdate) -> None:
        self.any.append(update)


@pytest.mark.parametrize("sequenced", [True, False], ids=["sequenced", "manager-sequenced"])
def test_a_batch_of_mixed_types_is_counted_cached_and_delivered_per_update(
        sequenced: bool) -> None:
    """Both paths of the hub (a batch the plugin sequenced, and one the manager accounts
    for) count, cache and deliver alike."""
    from stockfish_core.models import Trade

    hub = MarketDataHub(staleness_ns=10**9)
    failing, sub = _Subscriber(fail_first=True), _Subscriber()
    hub.add_subscriber(failing)
    hub.add_subscriber(sub)
    stats = ConnectorStats()

    def t(symbol: str, last: float, venue: int = 0) -> MarketUpdate:
        return MarketUpdate(DataType.PRICE_TICK, PriceTick(symbol, last=last), "a", None,
                            venue, venue + 5 if venue else 0)

    trade = MarketUpdate(DataType.TRADE, Trade("SPY", 1.0, 2.0), "a", None, 100, 150)
    news = MarketUpdate(DataType.NEWS, NewsEvent("Fed holds"), "a")
    batch = [t("SPY", 1.0, 10), t("SPY", 2.0), trade, t("QQQ", 3.0, 20), news, t("SPY", 4.0)]
    assert hub.process("a", stats, batch, 1_000, sequenced=sequenced) == 6
    assert dict(stats.by_type) == {"price_tick": 4, "trade": 1, "news": 1}
    assert stats.updates_delivered == 6 and stats.data_errors == 0
    # One subscriber's exception is counted and costs neither the others nor the rest.
    assert hub.subscriber_errors == 1
    assert [u.payload.last for u in failing.ticks] == [2.0, 3.0, 4.0]
    assert [u.payload.last for u in sub.ticks] == [1.0, 2.0, 3.0, 4.0]
    assert sub.trades == [trade] and sub.any == batch
    assert hub.latest_ticks["SPY"].last == 4.0 and hub.latest_ticks["QQQ"].last == 3.0
    assert hub.latest_trades["SPY"] is trade.payload
    assert sorted(stats.data_latency.samples) == [5, 5, 50] and stats.data_latency.count == 3


def test_a_batch_from_a_standby_feed_is_held_back_and_a_preferred_feed_takes_over() -> None:
    hub = MarketDataHub(staleness_ns=10**9)
    sub = _Subscriber()
    hub.add_subscriber(sub)
    switches: list[tuple[str | None, str]] = []
    hub.on_switch = lambda key, old, new: switches.append((old, new))
    key = ("SPY", DataType.PRICE_TICK)
    order = ["a", "b"]
    hub.add_feed(key, "a", order.index, now_ns=0)
    hub.add_feed(key, "b", order.index, now_ns=0)
    a, b = ConnectorStats(), ConnectorStats()

    def ticks(source: str, *lasts: float) -> list[MarketUpdate]:
        return [MarketUpdate(DataType.PRICE_TICK, PriceTick("SPY", last=x), source)
                for x in lasts]

    # "b" stands by while "a" is the active feed: counted, liveness noted, not delivered.
    assert hub.process("b", b, ticks("b", 1.0, 2.0, 3.0), 500, sequenced=True) == 0
    assert b.standby == 3 and sub.ticks == [] and hub.last_seen[("b", *key)] == 500
    # "a" is lost: "b" becomes the active feed and delivers.
    hub.check_staleness(600, lambda name: name == "b")
    assert hub.active[key] == "b" and switches == [("a", "b")]
    assert hub.process("b", b, ticks("b", 4.0), 2 * 10**9, sequenced=True) == 1
    # "a" is back: its first update switches to it, and the whole batch is delivered.
    assert hub.process("a", a, ticks("a", 5.0, 6.0), 3 * 10**9, sequenced=True) == 2
    assert hub.active[key] == "a" and switches == [("a", "b"), ("b", "a")]
    assert [u.payload.last for u in sub.ticks] == [4.0, 5.0, 6.0]
    assert hub.process("b", b, ticks("b", 7.0), 3 * 10**9, sequenced=True) == 0
    assert b.standby == 4 and a.standby == 0


class _Batches:
    """A subscriber that takes the delivered updates a call at a time."""

    def __init__(self) -> None:
        self.batches: list[list[MarketUpdate]] = []
        self.one_by_one: list[MarketUpdate] = []

    def on_update_batch(self, updates: list[MarketUpdate]) -> None:
        self.batches.append(list(updates))

    def on_update(self, update: MarketUpdate) -> None:  # not called: it takes batches
        self.one_by_one.append(update)


def test_a_batch_subscriber_gets_what_each_call_delivered_in_delivery_order() -> None:
    hub = MarketDataHub(staleness_ns=10**9, reorder_wait=10.0)
    batches, each = _Batches(), _Subscriber()
    assert hub.add_subscriber(batches) == ["on_update_batch"]
    hub.add_subscriber(each)
    key = ("SPY", DataType.PRICE_TICK)
    hub.add_feed(key, "a", ["a", "b"].index, now_ns=0)
    hub.add_feed(key, "b", ["a", "b"].index, now_ns=0)
    a, b = ConnectorStats(), ConnectorStats()

    def tick(source: str, seq: int | None, last: float) -> MarketUpdate:
        return MarketUpdate(DataType.PRICE_TICK, PriceTick("SPY", last=last), source, seq)

    # Sequence 3 arrives before 2: the reorder buffer holds it and releases it after 2,
    # inside the same call; the batch has the delivery order, once.
    first = [tick("a", 1, 1.0), tick("a", 3, 3.0), tick("a", 2, 2.0), tick("a", 4, 4.0)]
    hub.process("a", a, first, 1_000)
    assert [[u.payload.last for u in batch] for batch in batches.batches] == [
        [1.0, 2.0, 3.0, 4.0]]
    assert batches.batches[0] == each.any  # what the one-by-one subscriber saw, in order
    # Standby updates and a bad one are not delivered: not in the batch either.
    bad = MarketUpdate("price", PriceTick("SPY", last=0.0), "a", None)  # type: ignore[arg-type]
    assert hub.process("b", b, [tick("b", None, 9.0)], 2_000, sequenced=True) == 0
    hub.process("a", a, [bad, tick("a", 5, 5.0)], 3_000)
    assert a.data_errors == 1
    assert [[u.payload.last for u in batch] for batch in batches.batches] == [
        [1.0, 2.0, 3.0, 4.0], [5.0]]
    assert batches.one_by_one == []
    hub.remove_subscriber(batches)
    hub.process("a", a, [tick("a", 6, 6.0)], 4_000)
    assert len(batches.batches) == 2 and each.any[-1].payload.last == 6.0
