"""Sequences over a real publisher: reordering, duplicates, gaps, book invalidation and
resynchronisation (snapshot service, snapshot in the stream, publisher restart), and a
long faulty run whose books end up equal to the publisher's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from stockfish_core import DataType, MarketUpdate, Subscription
from stockfish_core.testing import ConnectorHarness
from stockfish_zmq.testing import (
    errors_with,
    stats_of,
    subscribe_and_wait,
    wait_stats,
    zmq_harness,
)
from stockfish_zmq.testing.publisher import Faults, Publisher
from stockfish_zmq.testing.synthetic import SyntheticMarket, symbol_names

DEPTH = DataType.ORDERBOOK_SNAPSHOT
#: In process, and in a worker process (the same sequence accounting, counted by the core).
MODES = ["auto", "worker"]


def levels(update: MarketUpdate) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    book = update.payload
    return ([(lv.price, lv.size) for lv in book.bids], [(lv.price, lv.size) for lv in book.asks])


def publisher_levels(pub: Publisher, symbol: str, depth: int) -> Any:
    snap = pub.books[symbol].snapshot(depth, 0)
    return ([(lv.price, lv.size) for lv in snap.bids], [(lv.price, lv.size) for lv in snap.asks])


@pytest.mark.parametrize("mode", MODES)
async def test_out_of_order_messages_are_delivered_in_order(publisher: Publisher,
                                                            mode: str) -> None:
    async with zmq_harness([publisher.endpoint], reorder_wait=5.0, receive_mode=mode) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("X"))
        for seq in (1, 2, 4, 5, 3, 6):
            publisher.publish("ticker", "X", {"last": float(seq)}, sequence=seq)
        updates = [await h.next_update(5) for _ in range(6)]
        assert [u.sequence_number for u in updates] == [1, 2, 3, 4, 5, 6]
        stats = h.connector.stats  # sequence accounting is the core's
        assert (stats.out_of_order, stats.reordered, stats.gaps) == (2, 2, 0)


@pytest.mark.parametrize("mode", MODES)
async def test_duplicates_are_dropped(publisher: Publisher, mode: str) -> None:
    async with zmq_harness([publisher.endpoint], receive_mode=mode) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("X"))
        for seq in (1, 2, 2, 3, 1, 4):
            publisher.publish("ticker", "X", {"last": float(seq)}, sequence=seq)
        updates = [await h.next_update(5) for _ in range(4)]
        assert [u.sequence_number for u in updates] == [1, 2, 3, 4]
        assert h.connector.stats.duplicates == 2
        assert len(h.listener.updates) == 4


@pytest.mark.parametrize("mode", MODES)
async def test_a_gap_is_declared_after_the_wait_counted_and_reported(
        publisher: Publisher, caplog: pytest.LogCaptureFixture, mode: str) -> None:
    caplog.set_level(logging.WARNING, "stockfish.sequencing")
    async with zmq_harness([publisher.endpoint], reorder_wait=0.05, receive_mode=mode) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("X"))
        for seq in (1, 2, 5, 6):
            publisher.publish("ticker", "X", {"last": float(seq)}, sequence=seq)
        updates = [await h.next_update(5) for _ in range(4)]
        assert [u.sequence_number for u in updates] == [1, 2, 5, 6]
        # Counted and logged once, by the core's sequencer (not reported as a venue
        # error by the plugin as well).
        (gap,) = [r.getMessage() for r in caplog.records if "sequence gap" in r.getMessage()]
        assert " on X: " in gap
        assert "expected 3, received 5 (2 lost" in gap
        assert publisher.endpoint in gap
        stats = h.connector.stats
        assert (stats.gaps, stats.lost) == (1, 2)
        assert not errors_with(h, "sequence_gap")


async def test_a_full_reorder_buffer_declares_the_gap_at_once(publisher: Publisher) -> None:
    async with zmq_harness([publisher.endpoint], reorder_buffer=8, reorder_wait=60.0) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("X"))
        publisher.publish("ticker", "X", {"last": 1.0}, sequence=1)
        for seq in range(3, 40):
            publisher.publish("ticker", "X", {"last": float(seq)}, sequence=seq)
        updates = [await h.next_update(5) for _ in range(38)]
        assert [u.sequence_number for u in updates] == [1, *range(3, 40)]
        tracker = h.connector.state.streams[publisher.endpoint].sequencer.trackers["X"]
        assert not tracker.pending  # never more than 8 held, none left
        assert h.connector.stats.gaps == 1


async def start_book(h: ConnectorHarness, pub: Publisher, symbol: str,
                     depth: int = 10) -> MarketUpdate:
    await subscribe_and_wait(h, pub, Subscription(symbol, DEPTH, depth=depth))
    pub.publish("depth", symbol, {"snapshot": True, "bids": [[99.0, 1.0], [98.0, 1.0]],
                                  "asks": [[101.0, 1.0], [102.0, 1.0]]})
    return await h.next_update(5, where=lambda u: u.data_type is DEPTH)


async def test_a_gap_invalidates_the_book_until_the_snapshot_service_resyncs_it(
        publisher: Publisher) -> None:
    async with zmq_harness([publisher.endpoint], snapshot_endpoint=publisher.snapshot_endpoint,
                           reorder_wait=0.02) as h:
        await h.connect()
        await start_book(h, publisher, "X")
        publisher.publish("depth", "X", {"bids": [[99.5, 2.0]]})
        publisher.publish("depth", "X", {"asks": [[100.5, 3.0]]}, drop=True)  # lost
        publisher.publish("depth", "X", {"bids": [[98.0, 0]]})
        publisher.publish("depth", "X", {"bids": [[97.0, 4.0]]})
        resynced = await h.next_update(
            5, where=lambda u: u.data_type is DEPTH and (u.sequence_number or 0) >= 4)
        (invalid,) = errors_with(h, "book_invalid")
        assert "requesting a snapshot" in invalid.message and invalid.symbol == "X"
        assert levels(resynced) == publisher_levels(publisher, "X", 10)
        assert (100.5, 3.0) in levels(resynced)[1]  # the lost update came with the snapshot
        stats = stats_of(h)
        assert h.connector.stats.gaps == 1
        assert stats.resyncs >= 2 and stats.snapshot_requests >= 1
        # nothing between the loss and the resync was published as a book
        seqs = [u.sequence_number for u in h.listener.updates if u.data_type is DEPTH]
        assert 3 not in seqs


async def test_without_a_snapshot_service_the_next_snapshot_in_the_stream_resyncs(
        publisher: Publisher) -> None:
    async with zmq_harness([publisher.endpoint], reorder_wait=0.02) as h:
        await h.connect()
        await start_book(h, publisher, "X")
        publisher.publish("depth", "X", {"bids": [[99.5, 2.0]]}, drop=True)
        publisher.publish("depth", "X", {"bids": [[97.0, 2.0]]})
        await wait_stats(h, lambda s: s.book_invalidations == 1, 5)
        assert "waiting for the next snapshot" in errors_with(h, "book_invalid")[0].message
        publisher.publish("depth", "X", {"bids": [[96.0, 2.0]]})  # still invalid: held
        publisher.publish("depth", "X", {"snapshot": True, "bids": [[50.0, 1.0]],
                                         "asks": [[60.0, 1.0]]})
        publisher.publish("depth", "X", {"asks": [[59.0, 1.0]]})
        after = [await h.next_update(5, where=lambda u: u.data_type is DEPTH) for _ in range(2)]
        assert [u.sequence_number for u in after] == [5, 6]
        assert levels(after[1]) == ([(50.0, 1.0)], [(59.0, 1.0), (60.0, 1.0)])
        depth_seqs = [u.sequence_number for u in h.listener.updates if u.data_type is DEPTH]
        assert depth_seqs == [1, 5, 6]


async def test_a_book_subscribed_mid_stream_starts_from_the_snapshot_service(
        publisher: Publisher) -> None:
    publisher.publish("depth", "X", {"snapshot": True, "bids": [[9.0, 1.0]], "asks": [[11.0, 1.0]]})
    for i in range(5):
        publisher.publish("depth", "X", {"bids": [[9.0, float(i + 2)]]})
    publisher.flush()
    async with zmq_harness([publisher.endpoint], snapshot_endpoint=publisher.snapshot_endpoint
                           ) as h:
        await h.connect()
        await subscribe_and_wait(h, publisher, Subscription("X", DEPTH))
        first = await h.next_update(5)
        assert first.sequence_number == 6 and levels(first) == ([(9.0, 6.0)], [(11.0, 1.0)])
        publisher.publish("depth", "X", {"asks": [[10.5, 1.0]]})
        nxt = await h.next_update(5)
        assert nxt.sequence_number == 7 and levels(nxt)[1] == [(10.5, 1.0), (11.0, 1.0)]


async def test_a_publisher_restart_invalidates_and_resyncs_the_book(
        publisher_factory: Callable[..., Publisher], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "stockfish.sequencing")
    first = publisher_factory(snapshot_endpoint="tcp://127.0.0.1:*", session="one")
    endpoint, snapshot = first.endpoint, first.snapshot_endpoint
    async with zmq_harness([endpoint], snapshot_endpoint=snapshot, reconnect_interval=0.05,
                           reconnect_interval_max=0.2, snapshot_timeout=0.5) as h:
        await h.connect()
        await start_book(h, first, "X")
        first.stop()
        second = publisher_factory(endpoint, snapshot_endpoint=snapshot, session="two")
        await second.wait_subscribed_async(b"X", 10)
        second.publish("depth", "X", {"snapshot": True, "bids": [[10.0, 1.0]],
                                      "asks": [[12.0, 1.0]]}, drop=True)
        second.publish("depth", "X", {"bids": [[11.0, 1.0]]})
        second.publish("depth", "X", {"asks": [[11.5, 2.0]]})
        book = await h.next_update(
            10, where=lambda u: u.data_type is DEPTH and u.sequence_number == 3)
        assert levels(book) == ([(11.0, 1.0), (10.0, 1.0)], [(11.5, 2.0), (12.0, 1.0)])
        assert h.connector.stats.restarts == 1
        assert any("new stream" in r.getMessage() for r in caplog.records)
        assert errors_with(h, "book_invalid")


async def test_faulty_publisher_books_converge_to_the_publisher_books(
        publisher_factory: Callable[..., Publisher]) -> None:
    pub = publisher_factory(snapshot_endpoint="tcp://127.0.0.1:*", session="f",
                            faults=Faults(drop_every=97, duplicate_every=31, reorder_every=17,
                                          garbage_every=41))
    symbols = symbol_names(3)
    async with zmq_harness([pub.endpoint], snapshot_endpoint=pub.snapshot_endpoint,
                           reorder_wait=0.02, snapshot_timeout=0.5) as h:
        await h.connect()
        for symbol in symbols:
            await subscribe_and_wait(h, pub, Subscription(symbol, DEPTH, depth=20))
            await subscribe_and_wait(h, pub, Subscription(symbol))
        pub.stream(SyntheticMarket(symbols, ("ticker", "depth"), levels=8, snapshot_every=1000),
                   rate=0, count=6000)
        await asyncio.to_thread(pub.wait_stream_done, 30)
        pub.set_faults(Faults())
        for symbol in symbols:  # one clean update per symbol flushes anything held back
            pub.publish("depth", symbol, {"bids": [[1.0, 1.0]]})
        pub.flush()
        wanted = {s: pub._emitted[s] for s in symbols}

        def finals() -> dict[str | None, MarketUpdate] | None:
            found = {u.symbol: u for u in h.listener.updates
                     if u.data_type is DEPTH and u.sequence_number == wanted.get(u.symbol or "")}
            return found if len(found) == len(symbols) else None

        final = await h.listener.wait_for(finals, 15, "the last book of every symbol")
        for symbol in symbols:
            assert levels(final[symbol]) == publisher_levels(pub, symbol, 20), symbol
        seq_stats = h.connector.stats
        assert seq_stats.duplicates > 0 and seq_stats.out_of_order > 0
        assert seq_stats.reordered > 0 and seq_stats.gaps > 0 and seq_stats.lost > 0
        stats = stats_of(h)
        assert stats.resyncs > 0
        assert stats.data_errors > 0 and stats.errors_by_code.get("malformed", 0) > 0
        assert stats.book_invalidations > 0
