"""Bad input over the wire and bounded memory: garbage never stops the stream, oversized
messages and floods are cut by ZeroMQ limits, every buffer has a bound."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from stockfish_core import ConnectorStatus, DataType, MarketUpdate, Subscription
from stockfish_core.connector import Connector
from stockfish_zmq.testing import (
    errors_with,
    stats_of,
    subscribe_and_wait,
    wait_stats,
    zmq_harness,
)
from stockfish_zmq.testing.publisher import GARBAGE, Faults, Publisher
from stockfish_zmq.testing.synthetic import SyntheticMarket

Factory = Callable[..., Publisher]


@pytest.mark.parametrize("mode", ["loop", "thread", "worker"])
async def test_garbage_is_counted_logged_with_a_limit_and_the_stream_goes_on(
        publisher_factory: Factory, caplog: pytest.LogCaptureFixture, mode: str) -> None:
    pub = publisher_factory(faults=Faults(garbage_every=1))  # one bad message after each
    async with zmq_harness([pub.endpoint], receive_mode=mode) as h:
        await h.connect()
        await subscribe_and_wait(h, pub, Subscription("SYM000"))
        await h.subscribe(Subscription("SYM000", DataType.TRADE))  # a bad trade is garbage
        with caplog.at_level(logging.WARNING, "stockfish.zmq"):
            pub.stream(SyntheticMarket(["SYM000"], ("ticker",)), rate=0, count=3 * len(GARBAGE))
            await h.listener.wait_for(lambda: len(h.listener.updates) == 3 * len(GARBAGE), 10,
                                      "every good tick")
            await wait_stats(h, lambda s: s.data_errors >= 3 * len(GARBAGE) - 3, 5)
        assert [u.sequence_number for u in h.listener.updates] == \
            list(range(1, 3 * len(GARBAGE) + 1))
        stats = stats_of(h)
        assert set(stats.errors_by_code) >= {"malformed", "wrong_type", "missing_field",
                                             "unknown_type", "crossed_quote", "invalid_value"}
        assert h.connector.status is ConnectorStatus.CONNECTED
        assert all(e.data for e in h.listener.errors)
        logged = [r for r in caplog.records if "bad message" in r.getMessage()]
        assert 0 < len(logged) < stats.data_errors  # rate-limited, not one line each


@pytest.mark.parametrize("mode", ["loop", "thread", "worker"])
async def test_an_oversized_message_costs_the_connection_not_the_feed(publisher_factory: Factory,
                                                                      mode: str) -> None:
    pub = publisher_factory()
    async with zmq_harness([pub.endpoint], max_message_size=4096, reconnect_interval=0.05,
                           receive_mode=mode) as h:
        await h.connect()
        await subscribe_and_wait(h, pub, Subscription("X", DataType.CUSTOM))
        pub.publish("custom", "X", {"blob": "x" * 100_000})
        await h.listener.wait_for(lambda: errors_with(h, "disconnected"), 10,
                                  "the disconnection ZeroMQ makes on an oversized message")
        # The publisher repeats until the subscriber is back (no sleeping).
        pub.stream(({"type": "custom", "symbol": "X", "data": {"n": i}} for i in range(10**6)),
                   rate=500)
        update = await h.next_update(10)
        assert update.payload["n"] >= 0
        assert all("blob" not in u.payload for u in h.listener.updates)


async def test_a_flood_is_cut_by_the_high_water_mark_and_shows_as_gaps(
        publisher_factory: Factory, tmp_path: Path) -> None:
    pub = publisher_factory(f"ipc://{tmp_path}/flood.sock", sndhwm=50)
    async with zmq_harness([pub.endpoint], rcvhwm=50, reorder_buffer=0) as h:
        await h.connect()
        await subscribe_and_wait(h, pub, Subscription("X", DataType.CUSTOM))
        blob = "y" * 2000
        pub.stream(({"type": "custom", "symbol": "X", "data": {"blob": blob}}
                    for _ in range(5000)), rate=0, count=5000)
        pub.wait_stream_done(30)  # blocks the event loop: nothing is read meanwhile
        # The send queue is full too: repeat a marker until one gets through.
        pub.stream(({"type": "custom", "symbol": "X", "data": {"last": True}}
                    for _ in range(10**6)), rate=200)
        marker = await h.next_update(10, where=lambda u: u.payload.get("last") is True)
        assert marker.sequence_number is not None and marker.sequence_number > 5000
        stats = stats_of(h)
        assert stats.received < 2500  # what ZeroMQ kept: the high-water marks and buffers
        assert h.connector.stats.gaps >= 1 and h.connector.stats.lost > 2500


async def test_symbols_and_held_depth_updates_are_bounded(publisher_factory: Factory) -> None:
    pub = publisher_factory()
    async with zmq_harness([pub.endpoint], subscribe_all=True, max_symbols=5,
                           max_pending_depth=10) as h:
        await h.connect()
        await pub.wait_subscribed_async(b"ANY")
        for i in range(20):
            pub.publish("ticker", f"S{i:02d}", {"last": 1.0})
        for _ in range(30):  # no snapshot yet: held, at most 10
            pub.publish("depth", "S00", {"bids": [[1.0, 1.0]]})
        pub.publish("depth", "S00", {"snapshot": True, "bids": [[1.0, 2.0]], "asks": [[2.0, 1.0]]})
        book = await h.next_update(5, where=lambda u: u.data_type is DataType.ORDERBOOK_SNAPSHOT)
        assert book.sequence_number == 32 and book.payload.bids[0].size == 2.0
        stats = stats_of(h)
        assert stats.errors_by_code["too_many_symbols"] == 15
        assert len(h.connector.state.streams[pub.endpoint].sequencer.trackers) == 5
        assert stats.depth_dropped == 20


async def test_a_failing_listener_does_not_stall_the_feed(publisher_factory: Factory,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    pub = publisher_factory()
    # No reorder wait: each message is its own batch (the first is not held for the next).
    async with zmq_harness([pub.endpoint], reorder_wait=0) as h:
        original = h.listener.on_updates
        failed = asyncio.Event()

        def flaky(connector: Connector, updates: Sequence[MarketUpdate]) -> None:
            if not failed.is_set():
                failed.set()
                raise RuntimeError("listener bug")
            original(connector, updates)

        h.listener.on_updates = flaky  # type: ignore[method-assign]
        await h.connect()
        await subscribe_and_wait(h, pub, Subscription("X"))
        with caplog.at_level(logging.ERROR, "stockfish.zmq"):
            pub.publish("ticker", "X", {"last": 1.0})
            await asyncio.wait_for(failed.wait(), 5)
            pub.publish("ticker", "X", {"last": 2.0})
            update = await h.next_update(5)
        assert update.payload.last == 2.0
        assert any("delivering a batch" in r.getMessage() for r in caplog.records)
