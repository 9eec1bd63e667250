"""Sequence accounting: the reorder buffer, duplicates, gaps and restarts, in one place.

The core owns sequence accounting. Sequence numbers are tracked per key; the manager's
keys are ``(source, stream, symbol)``: the connector, the sequence space inside it
(``MarketUpdate.stream``: a publisher endpoint, a FIX MDReqID...) and the symbol (for
an update without a symbol, its data type's name). A plugin need not check sequence
numbers: it sets ``MarketUpdate.sequence_number`` (and ``session`` when the venue has
one) and the manager does the rest. A plugin that must know of a loss *before* it
normalizes (an incrementally maintained order book has to be invalidated and
resynchronised) runs the same :class:`Sequencer` itself, obtained from
:func:`stockfish_core.plugin_api.sequencer_for`; the manager then does not check that
connector's updates again, and every event is counted once, in the connector's stats.

For every message of a key the sequencer decides whether it is delivered now, held
back, or dropped:

- the expected number: delivered, followed by any held-back successors;
- a higher number: held in a bounded reorder buffer (``buffer_size`` messages, at most
  ``wait`` seconds); when the buffer overflows or the wait is over, the missing numbers
  are declared lost (a *gap*) and the held messages are delivered;
- a lower number: a duplicate, dropped; unless it starts a new stream (below).

A stream starts with a reorder buffer too: the first message of a key is held until the
next one arrives (or ``wait`` passes), so that 2, 1, 3 is delivered as 1, 2, 3 and not
taken for a restart. A *restart* (a new stream) is a message with a new ``session``, or
a number that falls back by any amount after ``restart_silence`` seconds without a
message of the key or after the connector reported a lost connection
(:meth:`Sequencer.interrupted`; a publisher restarted, and ZeroMQ's reconnect may have
lost its first messages, so it need not be 1), or, without a session, a fall back to 0
or 1 or by more than ``reset_window``. What the old stream still held is delivered (its
holes are gaps), the restart is counted and logged, and delivery resumes within one
message of the first one received from the new stream.

Counted in ``stats`` (the connector's :class:`~stockfish_core.stats.ConnectorStats`):
``gaps`` (holes), ``lost`` (numbers lost in them), ``duplicates``, ``out_of_order``
(messages that arrived ahead of a missing one and were held), ``reordered`` (held
messages delivered in order) and ``restarts``. Gaps and restarts are logged, rate-limited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

from .diagnostics import SEQUENCE_KEYS_HINT
from .stats import RateLimitedLog

__all__ = ["SequenceCounters", "SequenceEvents", "Sequencer", "Tracker"]

log = logging.getLogger("stockfish.sequencing")

T = TypeVar("T")

_NOT_RESTARTING = object()


class SequenceCounters(Protocol):
    """Where a sequencer counts (ConnectorStats has these attributes)."""

    gaps: int
    lost: int
    duplicates: int
    out_of_order: int
    reordered: int
    restarts: int


class _Counters:
    """Counters of a sequencer that was given none."""

    __slots__ = ("duplicates", "gaps", "lost", "out_of_order", "reordered", "restarts")

    def __init__(self) -> None:
        self.gaps = self.lost = self.duplicates = 0
        self.out_of_order = self.reordered = self.restarts = 0


class Tracker:
    """Sequence state of one key."""

    __slots__ = ("deadline", "epoch", "key", "next_seq", "old_session", "pending", "seen",
                 "session")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        #: The number expected next; None while the stream has not started (the first
        #: messages are then held in ``pending``: the reorder buffer at stream start).
        self.next_seq: int | None = None
        self.session: Any = None
        #: Held-back messages by sequence number (the reorder buffer).
        self.pending: dict[int, Any] = {}
        #: When the oldest held message stops waiting (the sequencer's clock).
        self.deadline = 0.0
        #: When the last message of this key arrived (the sequencer's clock). A caller
        #: that takes the in-order path itself sets it too.
        self.seen = 0.0
        #: The session before a restart, until the new stream's start is decided.
        self.old_session: Any = _NOT_RESTARTING
        #: The sequencer's interruption count when this key last left the in-order path.
        self.epoch = 0

    def __repr__(self) -> str:
        return f"<Tracker {self.key} next={self.next_seq} held={len(self.pending)}>"


class SequenceEvents(Protocol):
    """What a sequencer reports to its owner (all optional: see :class:`NoEvents`);
    called before the affected messages are returned. Counting and logging are done by
    the sequencer itself."""

    def on_join(self, tracker: Tracker, sequence: int) -> None:
        """The first message of a key is ``sequence``: the stream starts there."""

    def on_gap(self, tracker: Tracker, expected: int, received: int) -> None:
        """Numbers ``expected`` .. ``received - 1`` are lost."""

    def on_restart(self, tracker: Tracker, sequence: int, old_session: Any) -> None:
        """A new stream (a restarted publisher) starts at ``sequence``."""

    def on_duplicate(self, tracker: Tracker, sequence: int) -> None:
        """A message already delivered (or already held) was dropped."""

    def on_held(self, tracker: Tracker, sequence: int) -> None:
        """A message arrived ahead of a missing one and is held back."""


class NoEvents:
    """A :class:`SequenceEvents` that does nothing; subclass it for the events you need."""

    def on_join(self, tracker: Tracker, sequence: int) -> None:
        pass

    def on_gap(self, tracker: Tracker, expected: int, received: int) -> None:
        pass

    def on_restart(self, tracker: Tracker, sequence: int, old_session: Any) -> None:
        pass

    def on_duplicate(self, tracker: Tracker, sequence: int) -> None:
        pass

    def on_held(self, tracker: Tracker, sequence: int) -> None:
        pass


def _check(name: str, value: float, minimum: float) -> None:
    if not value >= minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")


class Sequencer(Generic[T]):
    """The trackers of one sequence space and the reorder-buffer rules.

    ``T`` is whatever the owner holds back (raw messages, MarketUpdates). The caller may
    take the common case itself (``seq == tracker.next_seq``, same session, nothing
    held: set ``next_seq = seq + 1`` and ``seen``) and come to :meth:`offer` for
    everything else. Held messages wait for :meth:`expire` (the owner arms a timer at
    :meth:`next_deadline`).
    """

    def __init__(
        self,
        events: SequenceEvents | None = None,
        *,
        stats: SequenceCounters | None = None,
        buffer_size: int = 64,
        wait: float = 0.05,
        restart_silence: float = 0.5,
        reset_window: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        label: str = "",
        logger: RateLimitedLog | None = None,
    ) -> None:
        _check("buffer_size", buffer_size, 0)
        _check("wait", wait, 0)
        _check("restart_silence", restart_silence, 0)
        _check("reset_window", reset_window, 1)
        self.events: SequenceEvents = events if events is not None else NoEvents()
        self.stats: SequenceCounters = stats if stats is not None else _Counters()
        self.buffer_size = buffer_size
        self.wait = wait
        self.restart_silence = restart_silence
        self.reset_window = reset_window
        self.clock = clock
        self.label = label
        self.errors = logger if logger is not None else RateLimitedLog(log, clock=clock)
        self.trackers: dict[Hashable, Tracker] = {}
        #: Trackers holding messages, in the order they started waiting.
        self.waiting: dict[Tracker, None] = {}
        #: Messages delivered from the reorder buffer (all time).
        self.released = 0
        #: Transport interruptions reported (:meth:`interrupted`).
        self.epoch = 0

    def tracker(self, key: Hashable) -> Tracker:
        tracker = self.trackers.get(key)
        if tracker is None:
            tracker = self.trackers[key] = Tracker(key)
        return tracker

    def forget(self, key: Hashable) -> None:
        tracker = self.trackers.pop(key, None)
        if tracker is not None:
            self.waiting.pop(tracker, None)

    def reset(self) -> list[tuple[Tracker, list[T]]]:
        """Start every key afresh (after a reconnect); returns what was still held."""
        out = [(t, self.flush(t)) for t in list(self.waiting)]
        self.trackers.clear()
        self.waiting.clear()
        return [(t, msgs) for t, msgs in out if msgs]

    def interrupted(self) -> None:
        """The transport was lost (the connector reported a loss): a number that falls
        back after this starts a new stream, however short the silence was."""
        self.epoch += 1

    # -- deciding -------------------------------------------------------------------
    def offer(self, tracker: Tracker, message: T, seq: int, session: Any = None,
              now: float | None = None) -> list[T]:
        """Decide about one message; return the messages to deliver now, in order.

        ``now`` is the sequencer's clock at arrival (read once per batch by a caller
        that has many); ``seq`` must be a non-negative int (ValueError otherwise).
        """
        if type(seq) is not int or seq < 0:
            raise ValueError(f"sequence must be a non-negative integer, got {seq!r}"[:120])
        if now is None:
            now = self.clock()
        last = tracker.seen
        tracker.seen = now
        interrupted = tracker.epoch != self.epoch
        tracker.epoch = self.epoch
        expected = tracker.next_seq
        if expected is None:
            return self._starting(tracker, message, seq, session, now)
        if session != tracker.session:
            return self._restart(tracker, message, seq, session, now,
                                 f"session {tracker.session!r} -> {session!r}")
        if seq == expected:
            tracker.next_seq = seq + 1
            if tracker.pending:
                return [message, *self._release(tracker, now)]
            return [message]
        if seq < expected:
            silence = now - last
            if silence >= self.restart_silence or interrupted:
                after = ("a lost connection" if interrupted
                         else f"{silence:.2f}s of silence")
                return self._restart(tracker, message, seq, session, now,
                                     f"sequence fell back from {expected - 1} to {seq} after "
                                     f"{after}")
            if session is None and (seq <= 1 < expected - 1
                                    or expected - seq > self.reset_window):
                return self._restart(tracker, message, seq, session, now,
                                     f"sequence fell back from {expected - 1} to {seq}")
            self._duplicate(tracker, seq)
            return []
        # seq > expected: a message is missing (late, or lost)
        pending = tracker.pending
        if seq in pending:
            self._duplicate(tracker, seq)
            return []
        if self.buffer_size <= 0:
            self._gap(tracker, expected, seq)
            tracker.next_seq = seq + 1
            return [message]
        pending[seq] = message
        self.stats.out_of_order += 1
        self.events.on_held(tracker, seq)
        if len(pending) == 1:
            tracker.deadline = now + self.wait
            self.waiting[tracker] = None
        if len(pending) > self.buffer_size:
            return self._skip(tracker, now)
        return []

    def _starting(self, tracker: Tracker, message: T, seq: int, session: Any,
                  now: float) -> list[T]:
        """The reorder buffer at stream start: the first message waits for the next."""
        pending = tracker.pending
        if not pending:
            tracker.session = session
            pending[seq] = message
            if self.buffer_size <= 0 or self.wait <= 0:
                return self._begin(tracker, seq)
            tracker.deadline = now + self.wait
            self.waiting[tracker] = None
            return []
        if session != tracker.session:
            out = self._begin(tracker, min(pending))
            out.extend(self._restart(tracker, message, seq, session, now,
                                     f"session {tracker.session!r} -> {session!r}"))
            return out
        if seq in pending:
            self._duplicate(tracker, seq)
            return []
        first = min(pending)
        if first - self.buffer_size <= seq < first:
            # The first two swapped: start at the lower one, the held one follows.
            pending[seq] = message
            self.stats.out_of_order += len(pending) - 1
            return self._begin(tracker, seq)
        out = self._begin(tracker, first)
        out.extend(self.offer(tracker, message, seq, session, now))
        return out

    def _begin(self, tracker: Tracker, start: int) -> list[T]:
        """Start the stream at ``start``: deliver it and what follows it in the buffer."""
        pending = tracker.pending
        old = tracker.old_session
        tracker.old_session = _NOT_RESTARTING
        tracker.next_seq = start
        if old is _NOT_RESTARTING:
            self.events.on_join(tracker, start)
        else:
            self.events.on_restart(tracker, start, old)
        out: list[T] = []
        seq = start
        while seq in pending:
            out.append(pending.pop(seq))
            seq += 1
        tracker.next_seq = seq
        if len(out) > 1:
            self.stats.reordered += len(out) - 1
            self.released += len(out) - 1
        if not pending:
            self.waiting.pop(tracker, None)
        return out

    def _restart(self, tracker: Tracker, message: T, seq: int, session: Any, now: float,
                 why: str) -> list[T]:
        out = self.flush(tracker)  # what the old stream still had held back
        old = tracker.session
        tracker.next_seq = None
        tracker.old_session = old
        self.stats.restarts += 1
        self.errors.log(logging.WARNING, "restart", "%s: a new stream (%s) on %s, "
                        "restarts so far %d", self.label or "sequencer", why, tracker.key,
                        self.stats.restarts)
        out.extend(self._starting(tracker, message, seq, session, now))
        return out

    def _duplicate(self, tracker: Tracker, seq: int) -> None:
        self.stats.duplicates += 1
        self.events.on_duplicate(tracker, seq)

    def _gap(self, tracker: Tracker, expected: int, received: int) -> None:
        stats = self.stats
        stats.gaps += 1
        stats.lost += received - expected
        self.errors.log(logging.WARNING, "gap", "%s: sequence gap on %s: expected %d, received "
                        "%d (%d lost; gaps so far %d, %d lost)%s", self.label or "sequencer",
                        tracker.key, expected, received, received - expected, stats.gaps,
                        stats.lost, f"; {SEQUENCE_KEYS_HINT}" if stats.gaps <= 3 else "")
        self.events.on_gap(tracker, expected, received)

    def _release(self, tracker: Tracker, now: float) -> list[T]:
        pending = tracker.pending
        out: list[T] = []
        seq = tracker.next_seq
        assert seq is not None
        while seq in pending:
            out.append(pending.pop(seq))
            seq += 1
        tracker.next_seq = seq
        self.released += len(out)
        self.stats.reordered += len(out)
        if not pending:
            self.waiting.pop(tracker, None)
        elif out:
            tracker.deadline = now + self.wait
        return out

    def _skip(self, tracker: Tracker, now: float) -> list[T]:
        """Give up on the oldest hole: declare it lost and release what follows it."""
        first = min(tracker.pending)
        assert tracker.next_seq is not None
        self._gap(tracker, tracker.next_seq, first)
        tracker.next_seq = first
        return self._release(tracker, now)

    def flush(self, tracker: Tracker) -> list[T]:
        """Release everything held for ``tracker``, declaring every hole a gap."""
        out: list[T] = []
        if tracker.next_seq is None and tracker.pending:
            out.extend(self._begin(tracker, min(tracker.pending)))
        now = self.clock()
        while tracker.pending:
            out.extend(self._skip(tracker, now))
        self.waiting.pop(tracker, None)
        return out

    def next_deadline(self) -> float | None:
        """When the first held message stops waiting (the sequencer's clock), or None."""
        if not self.waiting:
            return None
        return min(t.deadline for t in self.waiting)

    def expire(self, now: float | None = None) -> list[tuple[Tracker, list[T]]]:
        """Flush every tracker whose wait is over; return what each releases."""
        if now is None:
            now = self.clock()
        out: list[tuple[Tracker, list[T]]] = []
        for tracker in [t for t in self.waiting if t.deadline <= now]:
            out.append((tracker, self.flush(tracker)))
        return out
