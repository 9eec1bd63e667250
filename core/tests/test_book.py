"""The L2 book plugins share (stockfish_core.plugin_api.L2Book), level by level: what
the FIX connector uses; the zmq connector's message-level use is tested with it."""

from __future__ import annotations

from stockfish_core.plugin_api import L2Book


def test_levels_set_changed_and_removed_one_by_one() -> None:
    book = L2Book("SPY")
    assert book.best_bid() is None and book.best_ask() is None
    book.set_level(True, 99.0, 5)
    book.set_level(True, 99.5, 1)
    book.set_level(False, 100.0, 2)
    book.set_level(False, 100.5, 3, orders=4)
    best_bid, best_ask = book.best_bid(), book.best_ask()
    assert best_bid is not None and (best_bid.price, best_bid.size) == (99.5, 1.0)
    assert best_ask is not None and (best_ask.price, best_ask.size) == (100.0, 2.0)
    book.set_level(True, 99.5, 7)
    book.set_level(False, 100.0, 0)  # a size of 0 removes the level
    book.sequence = 12
    snap = book.snapshot(5, 1_000)
    assert [(lv.price, lv.size) for lv in snap.bids] == [(99.5, 7.0), (99.0, 5.0)]
    assert [(lv.price, lv.size, lv.orders) for lv in snap.asks] == [(100.5, 3.0, 4)]
    assert (snap.symbol, snap.sequence, snap.timestamp_ns) == ("SPY", 12, 1_000)
    book.set_level(False, 101.0, 0)  # removing a level that is not there changes nothing
    assert book.depth == 2


def test_a_side_keeps_its_levels_nearest_the_top() -> None:
    book = L2Book("SPY", max_levels=3)
    for i in range(10):
        book.set_level(True, 90.0 + i, 1)
        book.set_level(False, 110.0 - i, 1)
    snap = book.snapshot(10, 0)
    assert [lv.price for lv in snap.bids] == [99.0, 98.0, 97.0]
    assert [lv.price for lv in snap.asks] == [101.0, 102.0, 103.0]
    book.clear()
    assert book.depth == 0 and book.sequence is None
