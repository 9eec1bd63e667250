"""The connector against a real pyzmq publisher on 127.0.0.1 (and ipc in a temp folder):
connection, subscriptions and topic filtering, every message type, several publishers,
restart of a publisher, data only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stockfish_core import (
    ConnectorStatus,
    DataType,
    Order,
    OrderAction,
    OrderRejected,
    OrderRequest,
    OrderSide,
    OrderType,
    Subscription,
)
from stockfish_zmq.testing import errors_with, stats_of, subscribe_and_wait, zmq_harness
from stockfish_zmq.testing.publisher import Publisher
from stockfish_zmq.testing.synthetic import SyntheticMarket

MODES = ["loop", "thread", "worker"]


@pytest.mark.parametrize("mode", MODES)
async def test_ticks_arrive_in_order_with_stream_and_sequence(publisher: Publisher,
                                                              mode: str) -> None:
    async with zmq_harness([publisher.endpoint], receive_mode=mode) as h:
        await h.connect()
        assert h.connector.status is ConnectorStatus.CONNECTED
        await subscribe_and_wait(h, publisher, Subscription("BTCUSD"))
        for i in range(200):
            publisher.publish("ticker", "BTCUSD", {"bid": 100.0 + i, "ask": 101.0 + i})
        updates = [await h.next_update(5) for _ in range(200)]
        assert [u.sequence_number for u in updates] == list(range(1, 201))
        assert [u.payload.bid for u in updates] == [100.0 + i for i in range(200)]
        assert {u.stream for u in updates} == {publisher.endpoint}
        assert all(u.source == "zmq" and u.recv_ts_ns >= u.venue_ts_ns > 0 for u in updates)
        stats = stats_of(h)
        assert stats.delivered == 200 and h.connector.stats.gaps == 0
        assert stats.data_errors == 0


async def test_topic_prefix_matches_are_filtered_to_the_exact_symbol(publisher: Publisher
                                                                     ) -> None:
    async with zmq_harness([publisher.endpoint]) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("BTC"))
        publisher.publish("ticker", "BTCUSD", {"last": 1.0})  # "BTC" is a prefix of it
        publisher.publish("trade", "BTC", {"price": 2.0, "size": 1})  # not subscribed type
        publisher.publish("ticker", "BTC", {"last": 3.0})
        update = await h.next_update(5)
        assert update.symbol == "BTC" and update.payload.last == 3.0
        assert stats_of(h).filtered == 2
        assert stats_of(h).received == 3


async def test_unsubscribe_stops_the_topic_at_the_publisher(publisher: Publisher) -> None:
    async with zmq_harness([publisher.endpoint]) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("AAA"))
        await subscribe_and_wait(h, publisher, Subscription("BBB"))
        await h.unsubscribe(Subscription("AAA"))
        await asyncio.to_thread(publisher.wait_subscription_count, b"AAA", 0, 5.0)
        publisher.publish("ticker", "AAA", {"last": 1.0})
        publisher.publish("ticker", "BBB", {"last": 2.0})
        update = await h.next_update(5)
        assert update.symbol == "BBB"
        assert stats_of(h).received == 1  # AAA never left the publisher


async def test_every_type_end_to_end_including_symbol_less_news(publisher: Publisher) -> None:
    # No reorder wait: the first message of each symbol is not held for its next one,
    # so the updates come in publication order across symbols.
    async with zmq_harness([publisher.endpoint], reorder_wait=0) as h:
        await h.connect()
        for sub in (Subscription("ETH", DataType.TRADE), Subscription("ETH", DataType.OHLCV_BAR),
                    Subscription("ETH", DataType.CUSTOM), Subscription("news", DataType.NEWS),
                    Subscription("macro", DataType.MACRO),
                    Subscription("ETH", DataType.ORDERBOOK_SNAPSHOT, depth=1)):
            await subscribe_and_wait(h, publisher, sub)
        publisher.publish("trade", "ETH", {"price": 2500.0, "size": 0.5, "side": "sell"})
        publisher.publish("bar", "ETH", {"open": 1, "high": 2, "low": 1, "close": 2})
        publisher.publish("custom", "ETH", {"oi": 12})
        publisher.publish("news", None, {"title": "ETF approved", "symbols": ["ETH"]})
        publisher.publish("macro", None, {"event": "NFP", "value": 150, "importance": 3})
        publisher.publish("depth", "ETH", {"snapshot": True, "bids": [[10, 1], [9, 1]],
                                           "asks": [[11, 1]]})
        updates = [await h.next_update(5) for _ in range(6)]
        assert [u.data_type for u in updates] == [
            DataType.TRADE, DataType.OHLCV_BAR, DataType.CUSTOM, DataType.NEWS, DataType.MACRO,
            DataType.ORDERBOOK_SNAPSHOT]
        assert updates[3].payload.symbols == ["ETH"]
        assert updates[5].payload.depth == 1  # the subscription's depth


@pytest.mark.parametrize("mode", MODES)
async def test_two_publishers_tcp_and_ipc_are_two_sequence_spaces(
        publisher_factory: Callable[..., Publisher], tmp_path: Path, mode: str) -> None:
    tcp = publisher_factory(session="a")
    ipc = publisher_factory(f"ipc://{tmp_path}/feed.sock", session="b")
    async with zmq_harness([tcp.endpoint, ipc.endpoint], receive_mode=mode) as h:
        await h.connect()
        await subscribe_and_wait(h, [tcp, ipc], Subscription("SOL"))
        await h.wait_status(ConnectorStatus.CONNECTED)
        for i in range(50):
            tcp.publish("ticker", "SOL", {"last": float(i)})
            ipc.publish("ticker", "SOL", {"last": float(i)})
        updates = [await h.next_update(5) for _ in range(100)]
        by_stream: dict[str, list[int | None]] = {}
        for u in updates:
            by_stream.setdefault(u.stream, []).append(u.sequence_number)
        assert by_stream == {tcp.endpoint: list(range(1, 51)), ipc.endpoint: list(range(1, 51))}
        assert h.connector.stats.gaps == 0 and h.connector.stats.duplicates == 0


@pytest.mark.parametrize("mode", MODES)
async def test_a_restarted_publisher_is_picked_up_without_any_action(
        publisher_factory: Callable[..., Publisher], mode: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "stockfish.sequencing")
    first = publisher_factory(session="before")
    endpoint = first.endpoint
    async with zmq_harness([endpoint], reconnect_interval=0.05, reconnect_interval_max=0.2,
                           receive_mode=mode) as h:
        await h.connect()
        await subscribe_and_wait(h, first, Subscription("BTCUSD"))
        for i in range(10):
            first.publish("ticker", "BTCUSD", {"last": float(i)})
        assert [(await h.next_update(5)).sequence_number for _ in range(10)] == list(range(1, 11))
        first.stop()
        await h.wait_status(ConnectorStatus.RECONNECTING, 10)
        assert errors_with(h, "disconnected")
        second = publisher_factory(endpoint, session="after")
        await second.wait_subscribed_async(b"BTCUSD", 10)
        await h.wait_status(ConnectorStatus.CONNECTED, 10)
        for i in range(5):
            second.publish("ticker", "BTCUSD", {"last": 100.0 + i})
        after = [await h.next_update(5) for _ in range(5)]
        assert [u.sequence_number for u in after] == [1, 2, 3, 4, 5]
        assert after[0].payload.last == 100.0
        stats = stats_of(h)
        assert h.connector.stats.restarts == 1 and h.connector.stats.duplicates == 0
        assert stats.disconnects == 1
        (restart,) = [r.getMessage() for r in caplog.records if "new stream" in r.getMessage()]
        assert "'before' -> 'after'" in restart and "BTCUSD" in restart


async def test_a_restart_without_session_field_is_recognised_by_the_reset_rule(
        publisher_factory: Callable[..., Publisher]) -> None:
    pub = publisher_factory()
    async with zmq_harness([pub.endpoint]) as h:
        await h.connect()
        await subscribe_and_wait(h, pub, Subscription("X"))
        for seq in (1, 2, 3, 4, 1, 2):  # the publisher started again from 1
            pub.publish("ticker", "X", {"last": float(seq)}, sequence=seq, session=False)
        updates = [await h.next_update(5) for _ in range(6)]
        assert [u.sequence_number for u in updates] == [1, 2, 3, 4, 1, 2]
        assert h.connector.stats.restarts == 1


async def test_synthetic_stream_is_clean(publisher: Publisher) -> None:
    async with zmq_harness([publisher.endpoint], snapshot_endpoint=publisher.snapshot_endpoint,
                           staleness=30.0) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("SYM000"))
        await subscribe_and_wait(h, publisher,
                                 Subscription("SYM000", DataType.ORDERBOOK_SNAPSHOT, depth=5))
        await subscribe_and_wait(h, publisher, Subscription("SYM000", DataType.TRADE))
        publisher.stream(SyntheticMarket(["SYM000", "SYM001"]), rate=0, count=3000)
        await asyncio.to_thread(publisher.wait_stream_done, 20)
        last = await h.next_update(10, where=lambda u: u.sequence_number == 1500)
        assert last.symbol == "SYM000"
        stats = stats_of(h)
        assert stats.data_errors == 0 and h.connector.stats.gaps == 0
        assert stats.book_invalidations == 0
        assert stats.received == 1500  # SYM001 never reached the connector
        books = [u.payload for u in h.listener.updates
                 if u.data_type is DataType.ORDERBOOK_SNAPSHOT]
        assert books and all(b.depth <= 5 for b in books)
        assert all(b.bids[0].price < b.asks[0].price for b in books)


async def test_execute_refuses_orders_and_the_connector_is_data_only(publisher: Publisher
                                                                     ) -> None:
    async with zmq_harness([publisher.endpoint]) as h:
        assert h.connector.data_only
        assert not h.connector.capabilities.execution
        assert set(h.connector.capabilities.data_types) == set(DataType)
        order = Order("BTCUSD", OrderSide.BUY, Decimal(1), OrderType.LIMIT, price=Decimal(100))
        order.client_order_id = "C1"
        with pytest.raises(OrderRejected, match="does not take orders"):
            await h.execute(OrderRequest(OrderAction.SUBMIT, order))


async def test_subscribe_before_connect_and_bad_subscriptions_raise(publisher: Publisher
                                                                    ) -> None:
    async with zmq_harness([publisher.endpoint], feed_type="ticker") as h:
        with pytest.raises(RuntimeError, match="not connected"):
            await h.subscribe(Subscription("X"))
        await h.connect()
        with pytest.raises(ValueError, match="carries only ticker"):
            await h.subscribe(Subscription("X", DataType.TRADE))
        with pytest.raises(ValueError, match="needs a symbol"):
            await h.subscribe(Subscription(""))


@pytest.mark.parametrize("mode", ["auto", "worker"])
async def test_disconnect_closes_and_reconnect_keeps_the_counters(publisher: Publisher,
                                                                  mode: str) -> None:
    async with zmq_harness([publisher.endpoint], receive_mode=mode) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("X"))
        publisher.publish("ticker", "X", {"last": 1.0})
        await h.next_update(5)
        first = h.connector.state
        await h.disconnect()
        assert h.connector.status is ConnectorStatus.DISCONNECTED and first.closed
        if mode == "worker":  # the disconnect hook stopped the worker: it ended by itself
            assert first.worker is not None and first.worker.process.exitcode == 0
        await h.disconnect()  # twice is fine
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("X"))
        publisher.publish("ticker", "X", {"last": 2.0})
        assert (await h.next_update(5)).payload.last == 2.0
        assert stats_of(h) is first.stats and stats_of(h).delivered == 2


async def test_a_silent_publisher_is_reported_stale(publisher: Publisher) -> None:
    async with zmq_harness([publisher.endpoint], staleness=0.2) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("X"))
        publisher.publish("ticker", "X", {"last": 1.0})
        await h.next_update(5)
        await h.listener.wait_for(lambda: errors_with(h, "stale"), 5, "a staleness report")
        (stale,) = errors_with(h, "stale")
        assert publisher.endpoint in stale.message
        assert h.connector.state.describe()["stale"] == [publisher.endpoint]


async def test_many_subscriptions_made_before_the_publisher_is_up_all_reach_it(
        publisher_factory: Callable[..., Publisher]) -> None:
    """The subscriptions wait in the socket's pipe until the publisher is there: more of
    them than a high-water mark must not be dropped (1,500 symbols, then the publisher)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    symbols = [f"S{i:04d}" for i in range(1500)]
    async with zmq_harness([endpoint]) as h:
        await h.connect()
        for symbol in symbols:
            await h.subscribe(Subscription(symbol))
        pub = publisher_factory(endpoint)
        await pub.wait_subscribed_async(symbols[-1].encode(), 10)
        pub.publish("ticker", symbols[-1], {"last": 1.0})
        update = await h.next_update(10)
        assert update.symbol == symbols[-1]
        assert all(pub.subscribed(s.encode()) == 1 for s in symbols)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wire", ["prefix", "frames", "json"])
async def test_every_wire_format_delivers_every_message(
        publisher_factory: Callable[..., Publisher], mode: str, wire: str) -> None:
    # The receiver reads the multipart flag only for a frame that is not a whole message
    # (one that does not end with "}"): [topic, json] must still come out as one message.
    pub = publisher_factory(session="w", wire_format=wire)
    async with zmq_harness([pub.endpoint], receive_mode=mode, reorder_wait=0) as h:
        await h.connect()
        await subscribe_and_wait(h, pub, Subscription("ADA"))
        await subscribe_and_wait(h, pub, Subscription("ADA", DataType.TRADE))
        for i in range(300):
            if i % 3 == 2:
                pub.publish("trade", "ADA", {"price": 1.0 + i, "size": 1.0})
            else:
                pub.publish("ticker", "ADA", {"bid": 1.0 + i, "ask": 2.0 + i})
        updates = [await h.next_update(5) for _ in range(300)]
        assert [u.sequence_number for u in updates] == list(range(1, 301))
        assert [u.data_type for u in updates[:3]] == [DataType.PRICE_TICK,
                                                      DataType.PRICE_TICK, DataType.TRADE]
        assert updates[-1].payload.price == 300.0
        stats = stats_of(h)
        assert stats.received == 300 and stats.delivered == 300
        assert stats.data_errors == 0 and h.connector.stats.gaps == 0


async def test_a_first_frame_that_ends_with_a_brace_is_a_whole_message(
        publisher: Publisher) -> None:
    # The multipart flag is read only for a frame that is not a whole message: a
    # [topic, json] pair is one message; a first frame that is itself a message (ends
    # with "}") is one, and the frame sent with it is read as another (documented).
    async with zmq_harness([publisher.endpoint], reorder_wait=0) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("ADA"))
        publisher.send_raw(b"ADA", b'{"type":"ticker","symbol":"ADA","data":{"last":1.0}}')
        publisher.send_raw(b'ADA {"type":"ticker","symbol":"ADA","data":{"last":2.0}}',
                           b'{"type":"ticker","symbol":"ADA","data":{"last":3.0}}')
        updates = [await h.next_update(5) for _ in range(3)]
        assert [u.payload.last for u in updates] == [1.0, 2.0, 3.0]
        stats = stats_of(h)
        assert stats.received == 3 and stats.data_errors == 0


async def test_the_collector_is_paused_over_a_batch_and_always_resumed(
        publisher: Publisher) -> None:
    import gc

    async with zmq_harness([publisher.endpoint], reorder_wait=0) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("ADA"))
        deliver = h.listener.on_updates
        enabled_in_delivery: list[bool] = []

        def on_updates(connector: Any, updates: Any) -> None:
            enabled_in_delivery.append(gc.isenabled())
            if len(enabled_in_delivery) == 1:
                raise RuntimeError("the manager's delivery failed")
            deliver(connector, updates)

        h.listener.on_updates = on_updates  # type: ignore[method-assign]
        publisher.publish("ticker", "ADA", {"last": 1.0})
        await h.listener.wait_for(lambda: enabled_in_delivery, 5, "the first delivery")
        assert gc.isenabled()  # resumed although the delivery raised
        publisher.publish("ticker", "ADA", {"last": 2.0})
        update = await h.next_update(5)
        assert update.payload.last == 2.0
        assert enabled_in_delivery == [False, False] and gc.isenabled()
