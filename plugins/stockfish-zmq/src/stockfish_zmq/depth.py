"""Order books from depth messages: validity, invalidation, resynchronisation.

One book per publisher (stream) and symbol. A book is *valid* while every message of its
symbol has been seen in order. A lost message (a gap), a bad update or a publisher restart
makes it invalid: no book is emitted, depth updates are kept (bounded), and a snapshot is
asked from the publisher's snapshot service. A snapshot at or beyond the loss (from the
service, or a ``snapshot: true`` message in the stream) makes it valid again, with the
kept updates newer than the snapshot replayed on top.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stockfish_core.plugin_api import (
    BookError,
    DataType,
    L2Book,
    MarketUpdate,
    Tracker,
    now_ns,
)

from .payloads import DataError, check_data, show, venue_ts

if TYPE_CHECKING:
    from .marketdata import FeedProcessor, Stream

__all__ = ["BookState", "DepthBooks"]

log = logging.getLogger("stockfish.zmq")


class BookState:
    """The maintained book of one symbol from one publisher, and its validity."""

    __slots__ = ("book", "pending", "required", "session", "valid")

    def __init__(self, symbol: str, max_levels: int) -> None:
        self.book = L2Book(symbol, max_levels)
        self.valid = False
        #: A snapshot must be at least at this sequence to be usable (-1: any).
        self.required = -1
        self.session: Any = None
        #: Depth updates received while invalid: (sequence, data, venue ts).
        self.pending: deque[tuple[int | None, dict[str, Any], int]] = deque()


class DepthBooks:
    """The books of one connector; the processor's ``depth`` handler."""

    def __init__(self, processor: FeedProcessor) -> None:
        self.processor = processor
        self.connector = processor.connector
        self.config = processor.config
        self.stats = processor.stats
        self.name = processor.name
        self.label = processor.label
        self.errors = processor.errors
        self.depth_levels = processor.depth_levels

    @property
    def request_snapshot(self) -> Callable[[Stream, str], None] | None:
        return self.processor.request_snapshot

    def bad(self, stream: Stream, exc: DataError, msg: Any, raw: Any) -> None:
        self.processor.bad(stream, exc, msg, raw)

    def depth_of(self, symbol: str) -> int:
        return self.depth_levels.get(symbol, self.config.book_depth)

    def handle(self, stream: Stream, msg: dict[str, Any], key: str,
               recv_ts: int) -> MarketUpdate | None:
        """The handler of ``depth`` messages (called in sequence order)."""
        data = check_data(msg)
        symbol = msg.get("symbol")
        if symbol is None:
            raise DataError("missing_field", "symbol is required for a depth message")
        ts = venue_ts(msg)
        seq = msg.get("sequence")
        state = stream.books.get(symbol)
        if state is None:
            if len(stream.books) >= self.config.max_symbols:
                raise DataError("too_many_symbols", f"more than max_symbols books; {show(symbol)} "
                                "ignored")
            state = self.new_book(stream, symbol)
        if not state.valid:
            if data.get("snapshot") is True:
                return self._resync(stream, state, data, seq, msg.get("session"), ts, recv_ts,
                                    "a snapshot in the stream")
            pending = state.pending
            if len(pending) >= self.config.max_pending_depth:
                dropped = pending.popleft()
                self.stats.depth_dropped += 1
                if dropped[0] is not None:
                    state.required = max(state.required, dropped[0])
            pending.append((seq, data, ts))
            return None
        book = state.book
        if seq is not None and book.sequence is not None and seq <= book.sequence:
            return None  # already part of the snapshot the book was rebuilt from
        try:
            book.apply(data, seq)
        except BookError as exc:
            self.invalidate(stream, state, seq if seq is not None else -1,
                            f"bad depth update at sequence {seq}: {exc}")
            raise DataError(exc.code, str(exc)) from None
        return MarketUpdate(DataType.ORDERBOOK_SNAPSHOT,
                            book.snapshot(self.depth_of(symbol), ts or recv_ts),
                            self.name, seq, ts, recv_ts, stream.name)

    # -- books ----------------------------------------------------------------------
    def new_book(self, stream: Stream, symbol: str) -> BookState:
        state = stream.books.get(symbol)
        if state is None:
            state = stream.books[symbol] = BookState(symbol, self.config.max_book_levels)
            tracker = stream.sequencer.trackers.get(symbol)
            if tracker is not None and tracker.next_seq is not None:
                state.required = tracker.next_seq - 1
            self._ask_snapshot(stream, symbol)
        return state

    def _ask_snapshot(self, stream: Stream, symbol: str) -> None:
        if self.request_snapshot is not None and stream.snapshot_endpoint is not None:
            self.request_snapshot(stream, symbol)

    def invalidate(self, stream: Stream, state: BookState, required: int, reason: str,
                   *, reset: bool = False) -> None:
        """Mark a book unusable until a snapshot at ``required`` or later arrives."""
        was_valid = state.valid
        state.valid = False
        state.required = required if reset else max(state.required, required)
        state.pending.clear()
        state.book.clear()
        symbol = state.book.symbol
        if was_valid:
            self.stats.book_invalidations += 1
            has_service = stream.snapshot_endpoint is not None and \
                self.request_snapshot is not None
            what = ("requesting a snapshot from " + str(stream.snapshot_endpoint) if has_service
                    else "waiting for the next snapshot in the stream")
            message = (f"{self.label}: order book {symbol} from {stream.name} is invalid "
                       f"({reason}); {what}")
            self.errors.log(logging.WARNING, "book:" + stream.name, "%s", message)
            self.connector.report_error(message, symbol=symbol, code="book_invalid")
        self._ask_snapshot(stream, symbol)

    def _resync(self, stream: Stream, state: BookState, data: dict[str, Any], seq: int | None,
                session: Any, ts: int, recv_ts: int, origin: str) -> MarketUpdate | None:
        book = state.book
        try:
            book.apply(data, seq)
        except BookError as exc:
            book.clear()
            raise DataError(exc.code, f"unusable snapshot: {exc}") from None
        state.valid = True
        state.session = session
        pending, state.pending = state.pending, deque()
        for p_seq, p_data, p_ts in pending:
            if seq is not None and p_seq is not None and p_seq <= seq:
                continue
            try:
                book.apply(p_data, p_seq)
            except BookError as exc:
                self.invalidate(stream, state, p_seq if p_seq is not None else -1,
                                f"bad depth update at sequence {p_seq}: {exc}")
                self.bad(stream, DataError(exc.code, str(exc)), None, None)
                return None
            ts = p_ts or ts
        self.stats.resyncs += 1
        log.info("%s: order book %s from %s is valid again at sequence %s (from %s)",
                 self.label, book.symbol, stream.name, book.sequence, origin)
        return MarketUpdate(DataType.ORDERBOOK_SNAPSHOT,
                            book.snapshot(self.depth_of(book.symbol), ts or recv_ts),
                            self.name, book.sequence, ts, recv_ts, stream.name)

    def apply_snapshot_reply(self, stream: Stream, msg: Any) -> bool:
        """Use a snapshot service reply; return False if another request is needed."""
        recv_ts = now_ns()
        if type(msg) is not dict or msg.get("type") != "depth":
            self.bad(stream, DataError("malformed", f"unexpected snapshot reply {show(msg, 120)}"),
                     None, None)
            return False
        symbol = msg.get("symbol")
        if type(symbol) is not str:
            return False
        state = stream.books.get(symbol)
        if state is None or state.valid:
            return True  # nobody waits for this book any more
        data = msg.get("data")
        seq = msg.get("sequence")
        session = msg.get("session")
        if type(data) is not dict or data.get("snapshot") is not True or \
                (seq is not None and type(seq) is not int):
            self.bad(stream, DataError("malformed", "snapshot reply is not a depth snapshot"),
                     msg, None)
            return False
        tracker = stream.sequencer.trackers.get(symbol)
        if tracker is not None and tracker.next_seq is not None and session != tracker.session:
            log.info("%s: snapshot of %s from %s is of session %r, the stream is at %r; asking "
                     "again", self.label, symbol, stream.name, session, tracker.session)
            return False
        if seq is not None and seq < state.required:
            log.info("%s: snapshot of %s from %s is at sequence %d, the book needs %d; asking "
                     "again", self.label, symbol, stream.name, seq, state.required)
            return False
        try:
            ts = venue_ts(msg)
            update = self._resync(stream, state, data, seq, session, ts, recv_ts,
                                  "the snapshot service")
        except DataError as exc:
            self.bad(stream, exc, msg, None)
            return False
        if update is not None:
            self.stats.delivered += 1
            self.connector.deliver([update])
        return state.valid

    def on_join(self, stream: Stream, tracker: Tracker, sequence: int) -> None:
        state = stream.books.get(str(tracker.key))
        if state is None:
            return
        if state.valid:
            seq = state.book.sequence
            if state.session != tracker.session or (seq is not None and seq < sequence - 1):
                self.invalidate(stream, state, sequence - 1,
                                f"the stream starts at sequence {sequence}, after the snapshot "
                                f"at {seq}", reset=True)
        else:
            state.required = max(state.required, sequence - 1)

    def on_gap(self, stream: Stream, symbol: str, expected: int, received: int) -> None:
        state = stream.books.get(symbol)
        if state is not None:
            covered = state.book.sequence
            if state.valid and covered is not None and covered >= received - 1:
                return  # the snapshot the book was rebuilt from already has what was lost
            self.invalidate(stream, state, received - 1,
                            f"sequence gap, {expected}..{received - 1} lost")

    def on_restart(self, stream: Stream, symbol: str, sequence: int) -> None:
        state = stream.books.get(symbol)
        if state is not None:
            self.invalidate(stream, state, sequence - 1, "publisher restarted", reset=True)
