"""The core's sequencer: reorder buffer (at stream start too), duplicates, gaps, restarts
by session or by a fall back after silence, counted once."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from stockfish_core.sequencing import Sequencer, Tracker
from stockfish_core.stats import ConnectorStats


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    def on_join(self, tracker: Tracker, sequence: int) -> None:
        self.log.append(("join", sequence))

    def on_gap(self, tracker: Tracker, expected: int, received: int) -> None:
        self.log.append(("gap", expected, received))

    def on_restart(self, tracker: Tracker, sequence: int, old_session: Any) -> None:
        self.log.append(("restart", sequence, old_session, tracker.session))

    def on_duplicate(self, tracker: Tracker, sequence: int) -> None:
        self.log.append(("dup", sequence))

    def on_held(self, tracker: Tracker, sequence: int) -> None:
        self.log.append(("held", sequence))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(seq: Sequencer[dict[str, int]], numbers: list[int], session: Any = "a"
         ) -> list[int]:
    tracker = seq.tracker("X")
    out: list[int] = []
    for n in numbers:
        out.extend(m["n"] for m in seq.offer(tracker, {"n": n}, n, session))
    return out


def expire(seq: Sequencer[dict[str, int]]) -> list[int]:
    return [m["n"] for _t, msgs in seq.expire(seq.clock() + 3600) for m in msgs]


# -- moved from the zmq plugin's tests (the sequencer was the plugin's) -----------------
def test_sequencer_delivers_in_order_and_reorders_within_the_buffer() -> None:
    events = Events()
    seq: Sequencer[dict[str, int]] = Sequencer(events, buffer_size=4, wait=1.0, clock=Clock())
    assert feed(seq, [1, 2, 4, 5, 3, 6]) == [1, 2, 3, 4, 5, 6]
    assert ("held", 4) in events.log and not any(e[0] == "gap" for e in events.log)
    assert seq.released == 2


def test_sequencer_drops_duplicates_delivered_or_held() -> None:
    events = Events()
    seq: Sequencer[dict[str, int]] = Sequencer(events, buffer_size=4, wait=1.0, clock=Clock())
    assert feed(seq, [1, 2, 2, 1, 4, 4, 3]) == [1, 2, 3, 4]
    assert [e for e in events.log if e[0] == "dup"] == [("dup", 2), ("dup", 1), ("dup", 4)]


def test_sequencer_declares_a_gap_when_the_buffer_overflows() -> None:
    events = Events()
    seq: Sequencer[dict[str, int]] = Sequencer(events, buffer_size=2, wait=10.0, clock=Clock())
    assert feed(seq, [1, 3, 4]) == [1]
    assert feed(seq, [5]) == [3, 4, 5]
    assert ("gap", 2, 3) in events.log
    assert len(seq.tracker("X").pending) == 0


def test_sequencer_declares_a_gap_when_the_wait_expires() -> None:
    events = Events()
    clock = Clock()
    seq: Sequencer[dict[str, int]] = Sequencer(events, buffer_size=100, wait=0.5, clock=clock)
    assert feed(seq, [1, 2, 5, 6, 8]) == [1, 2]
    assert seq.next_deadline() == 0.5
    clock.now = 0.4
    assert seq.expire() == []
    clock.now = 0.6
    released = seq.expire()
    assert [m["n"] for _, msgs in released for m in msgs] == [5, 6, 8]
    assert [e for e in events.log if e[0] == "gap"] == [("gap", 3, 5), ("gap", 7, 8)]
    assert seq.next_deadline() is None


def test_sequencer_without_buffer_reports_gaps_at_once() -> None:
    events = Events()
    seq: Sequencer[dict[str, int]] = Sequencer(events, buffer_size=0, clock=Clock())
    assert feed(seq, [1, 3, 2]) == [1, 3]
    assert ("gap", 2, 3) in events.log and ("dup", 2) in events.log


def test_a_new_session_is_a_restart_that_flushes_the_old_one() -> None:
    events = Events()
    seq: Sequencer[dict[str, int]] = Sequencer(events, buffer_size=10, wait=10.0, clock=Clock())
    assert feed(seq, [1, 2, 4], session="a") == [1, 2]
    assert feed(seq, [1, 2], session="b") == [4, 1, 2]
    assert ("restart", 1, "a", "b") in events.log
    assert ("gap", 3, 4) in events.log


def test_without_session_a_sequence_back_to_one_or_far_back_is_a_restart() -> None:
    events = Events()
    seq: Sequencer[dict[str, int]] = Sequencer(events, buffer_size=10, reset_window=100,
                                               clock=Clock())
    assert feed(seq, list(range(1, 6)), session=None) == [1, 2, 3, 4, 5]
    assert feed(seq, [1, 2], session=None) == [1, 2]
    assert ("restart", 1, None, None) in events.log
    assert feed(seq, list(range(3, 500)), session=None)[-1] == 499
    # 199 back: beyond the window, a new stream; its first message waits for the next
    # (the reorder buffer at stream start), which is 51 back from it: a duplicate.
    assert feed(seq, [300], session=None) == []
    assert feed(seq, [250], session=None) == [300]
    assert sum(1 for e in events.log if e[0] == "restart") == 2
    assert ("dup", 250) in events.log


def test_forget_drops_the_tracker_and_its_wait() -> None:
    seq: Sequencer[dict[str, int]] = Sequencer(Events(), buffer_size=10, wait=1.0,
                                               clock=Clock())
    feed(seq, [1, 3])
    assert seq.waiting
    seq.forget("X")
    assert not seq.waiting and "X" not in seq.trackers


# -- the reorder buffer at stream start --------------------------------------------------
def test_the_first_two_swapped_are_delivered_in_order_without_restart_or_gap() -> None:
    events = Events()
    stats = ConnectorStats()
    seq: Sequencer[dict[str, int]] = Sequencer(events, stats=stats, buffer_size=8, wait=1.0,
                                               clock=Clock())
    assert feed(seq, [2]) == []  # held: the stream may start lower
    assert feed(seq, [1]) == [1, 2]
    assert feed(seq, [3, 4]) == [3, 4]
    assert ("join", 1) in events.log
    assert (stats.restarts, stats.gaps, stats.duplicates) == (0, 0, 0)
    assert (stats.out_of_order, stats.reordered) == (1, 1)


def test_the_first_message_alone_is_delivered_after_the_wait() -> None:
    clock = Clock()
    seq: Sequencer[dict[str, int]] = Sequencer(Events(), buffer_size=8, wait=0.05, clock=clock)
    assert feed(seq, [7]) == []
    assert seq.next_deadline() == 0.05
    clock.now = 0.06
    assert [m["n"] for _t, msgs in seq.expire() for m in msgs] == [7]
    assert feed(seq, [8]) == [8]


def test_a_stream_starting_in_order_resumes_at_the_second_message() -> None:
    seq: Sequencer[dict[str, int]] = Sequencer(Events(), buffer_size=8, wait=10.0,
                                               clock=Clock())
    assert feed(seq, [4500]) == []
    assert feed(seq, [4501]) == [4500, 4501]


# -- restarts ---------------------------------------------------------------------------
@pytest.mark.parametrize("first_after", [1, 5, 4500, 9_999])
def test_a_fall_back_by_any_amount_after_silence_is_a_new_stream(first_after: int) -> None:
    clock = Clock()
    stats = ConnectorStats()
    events = Events()
    seq: Sequencer[dict[str, int]] = Sequencer(events, stats=stats, buffer_size=8, wait=0.05,
                                               restart_silence=0.5, clock=clock)
    assert feed(seq, list(range(1, 10_001)), session=None)[-1] == 10_000
    clock.now = 2.0  # the publisher restarted; ZeroMQ lost its first messages
    assert feed(seq, [first_after], session=None) == []
    assert feed(seq, [first_after + 1, first_after + 2], session=None) == [
        first_after, first_after + 1, first_after + 2]
    assert stats.restarts == 1 and stats.duplicates == 0
    assert ("restart", first_after, None, None) in events.log


def test_a_fall_back_without_silence_is_a_duplicate_not_a_restart() -> None:
    clock = Clock()
    stats = ConnectorStats()
    seq: Sequencer[dict[str, int]] = Sequencer(Events(), stats=stats, buffer_size=8,
                                               restart_silence=0.5, clock=clock)
    assert feed(seq, list(range(1, 101)))[-1] == 100
    clock.now = 0.1
    assert feed(seq, [60, 61]) == []
    assert stats.duplicates == 2 and stats.restarts == 0


def test_a_restart_is_counted_once_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    stats = ConnectorStats()
    seq: Sequencer[dict[str, int]] = Sequencer(Events(), stats=stats, clock=clock,
                                               label="feed tcp://x")
    with caplog.at_level(logging.WARNING, "stockfish.sequencing"):
        for key in ("A", "B"):
            t = seq.tracker(key)
            for n in range(1, 20):
                seq.offer(t, {"n": n}, n, "s1", clock())
            for n in range(1, 4):
                seq.offer(t, {"n": n}, n, "s2", clock())
    assert stats.restarts == 2  # one per symbol
    restarts = [r for r in caplog.records if "new stream" in r.getMessage()]
    assert len(restarts) == 1
    assert "'s1' -> 's2'" in restarts[0].getMessage()
    assert "feed tcp://x" in restarts[0].getMessage()


def test_gaps_count_holes_and_numbers_lost() -> None:
    stats = ConnectorStats()
    clock = Clock()
    seq: Sequencer[dict[str, int]] = Sequencer(Events(), stats=stats, buffer_size=2, wait=0.05,
                                               clock=clock)
    assert feed(seq, [1, 2, 5, 6, 7]) == [1, 2, 5, 6, 7]
    assert (stats.gaps, stats.lost) == (1, 2)


def test_bad_sequence_numbers_are_refused() -> None:
    seq: Sequencer[dict[str, int]] = Sequencer(Events(), clock=Clock())
    for bad in (-1, 1.5, "3", None):
        with pytest.raises(ValueError, match="sequence must be a non-negative integer"):
            seq.offer(seq.tracker("X"), {}, bad, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"buffer_size": -1}, {"wait": -0.1},
                                    {"restart_silence": -1.0}, {"reset_window": 0}])
def test_bad_settings_are_clear_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be at least"):
        Sequencer(Events(), **kwargs)
