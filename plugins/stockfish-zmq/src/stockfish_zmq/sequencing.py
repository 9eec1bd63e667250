"""Sequence numbers per publisher and symbol: reorder buffer, duplicates, gaps, restarts.

Each publisher (stream) numbers the messages of each symbol 1, 2, 3... A
:class:`Sequencer` keeps one :class:`Tracker` per symbol of one stream and decides, for
every message, whether it is delivered now, held back until the missing ones arrive,
or dropped:

- the expected number: delivered, followed by any held-back successors;
- a lower number: a duplicate, dropped (unless it is a publisher restart, below);
- a higher number: held in a bounded reorder buffer; when the buffer is full, or when
  the oldest held message has waited ``wait`` seconds (:meth:`Sequencer.expire`), the
  missing numbers are declared lost (a gap) and the held messages are delivered.

A publisher restart is recognised by a change of the ``session`` field of the envelope;
for a publisher that sends no session, by a sequence of 0 or 1 after later numbers, or by
a fall of more than ``reset_window`` numbers. Messages without a sequence number are not
tracked at all.

The sequencer only decides; what a gap means (invalidate a book, report) is up to the
:class:`SequenceEvents` it is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["SequenceEvents", "Sequencer", "Tracker"]


class Tracker:
    """Sequence state of one symbol of one stream."""

    __slots__ = ("deadline", "key", "next_seq", "pending", "session")

    def __init__(self, key: str) -> None:
        self.key = key
        #: The number expected next (None until the first message).
        self.next_seq: int | None = None
        self.session: Any = None
        #: Held-back messages by sequence number (the reorder buffer).
        self.pending: dict[int, dict[str, Any]] = {}
        #: When the oldest held message stops waiting (monotonic seconds).
        self.deadline = 0.0

    def __repr__(self) -> str:
        return f"<Tracker {self.key} next={self.next_seq} held={len(self.pending)}>"


class SequenceEvents(Protocol):
    """What a sequencer reports; called before the affected messages are returned."""

    def on_join(self, tracker: Tracker, sequence: int) -> None:
        """The first message of a symbol (or of a new session) was seen."""

    def on_gap(self, tracker: Tracker, expected: int, received: int) -> None:
        """Numbers ``expected`` .. ``received - 1`` are lost."""

    def on_restart(self, tracker: Tracker, sequence: int, old_session: Any) -> None:
        """The publisher restarted: the tracker now follows the new session."""

    def on_duplicate(self, tracker: Tracker, sequence: int) -> None:
        """A message already delivered (or already held) was dropped."""

    def on_held(self, tracker: Tracker, sequence: int) -> None:
        """A message arrived ahead of a missing one and is held back."""


class Sequencer:
    """The trackers of one stream and the reorder-buffer rules."""

    def __init__(
        self,
        events: SequenceEvents,
        *,
        buffer_size: int = 64,
        wait: float = 0.05,
        reset_window: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.events = events
        self.buffer_size = buffer_size
        self.wait = wait
        self.reset_window = reset_window
        self.clock = clock
        self.trackers: dict[str, Tracker] = {}
        #: Trackers holding messages, in the order they started waiting.
        self.waiting: dict[Tracker, None] = {}
        #: Messages delivered from the reorder buffer.
        self.released = 0

    def tracker(self, key: str) -> Tracker:
        tracker = self.trackers.get(key)
        if tracker is None:
            tracker = self.trackers[key] = Tracker(key)
        return tracker

    def forget(self, key: str) -> None:
        tracker = self.trackers.pop(key, None)
        if tracker is not None:
            self.waiting.pop(tracker, None)

    def offer(self, tracker: Tracker, message: dict[str, Any], seq: int,
              session: Any) -> list[dict[str, Any]]:
        """Decide about one message; return the messages to process now, in order.

        The caller handles the common case (``seq == tracker.next_seq``, same session,
        nothing held) itself and comes here for everything else.
        """
        expected = tracker.next_seq
        if expected is None:
            return self._start(tracker, message, seq, session)
        if session != tracker.session:
            return self._restart(tracker, message, seq, session)
        if seq == expected:
            tracker.next_seq = seq + 1
            if tracker.pending:
                return [message, *self._release(tracker)]
            return [message]
        if seq < expected:
            if session is None and (seq <= 1 < expected - 1 or expected - seq > self.reset_window):
                return self._restart(tracker, message, seq, session)
            self.events.on_duplicate(tracker, seq)
            return []
        # seq > expected: a message is missing (late, or lost)
        pending = tracker.pending
        if seq in pending:
            self.events.on_duplicate(tracker, seq)
            return []
        if self.buffer_size <= 0:
            self.events.on_gap(tracker, expected, seq)
            tracker.next_seq = seq + 1
            return [message]
        pending[seq] = message
        self.events.on_held(tracker, seq)
        if len(pending) == 1:
            tracker.deadline = self.clock() + self.wait
            self.waiting[tracker] = None
        if len(pending) > self.buffer_size:
            return self._skip(tracker)
        return []

    def _start(self, tracker: Tracker, message: dict[str, Any], seq: int,
               session: Any) -> list[dict[str, Any]]:
        tracker.session = session
        tracker.next_seq = seq + 1
        self.events.on_join(tracker, seq)
        return [message]

    def _restart(self, tracker: Tracker, message: dict[str, Any], seq: int,
                 session: Any) -> list[dict[str, Any]]:
        out = self.flush(tracker)  # what the old session still had held back
        old = tracker.session
        tracker.session = session
        tracker.next_seq = seq + 1
        self.events.on_restart(tracker, seq, old)
        out.append(message)
        return out

    def _release(self, tracker: Tracker) -> list[dict[str, Any]]:
        pending = tracker.pending
        out: list[dict[str, Any]] = []
        seq = tracker.next_seq
        assert seq is not None
        while seq in pending:
            out.append(pending.pop(seq))
            seq += 1
        tracker.next_seq = seq
        self.released += len(out)
        if not pending:
            self.waiting.pop(tracker, None)
        elif out:
            tracker.deadline = self.clock() + self.wait
        return out

    def _skip(self, tracker: Tracker) -> list[dict[str, Any]]:
        """Give up on the oldest hole: declare it lost and release what follows it."""
        first = min(tracker.pending)
        assert tracker.next_seq is not None
        self.events.on_gap(tracker, tracker.next_seq, first)
        tracker.next_seq = first
        return self._release(tracker)

    def flush(self, tracker: Tracker) -> list[dict[str, Any]]:
        """Release everything held for ``tracker``, declaring every hole a gap."""
        out: list[dict[str, Any]] = []
        while tracker.pending:
            out.extend(self._skip(tracker))
        self.waiting.pop(tracker, None)
        return out

    def next_deadline(self) -> float | None:
        """When the first held message stops waiting (monotonic), or None."""
        if not self.waiting:
            return None
        return min(t.deadline for t in self.waiting)

    def expire(self, now: float | None = None) -> list[tuple[Tracker, list[dict[str, Any]]]]:
        """Flush every tracker whose wait is over; return what each releases."""
        if now is None:
            now = self.clock()
        out: list[tuple[Tracker, list[dict[str, Any]]]] = []
        for tracker in [t for t in self.waiting if t.deadline <= now]:
            out.append((tracker, self.flush(tracker)))
        return out
