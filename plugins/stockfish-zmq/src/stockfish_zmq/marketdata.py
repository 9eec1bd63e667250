"""From raw frames to MarketUpdates: decode, filter, sequence, maintain books, build.

:class:`FeedProcessor` is what ``stockfish_normalize`` runs, once per batch. The batch
is a :class:`FrameBatch` (a list of JSON bodies that also says which publisher it came
from and when it was read); a plain list of bytes, str or dicts is accepted too and is
treated as coming from an unnamed stream.

Per message, the common path is: one JSON decode, a dict lookup for the symbol's
interest, a comparison with the expected sequence number, one builder call. A ticker
(the most frequent message) is decoded typed and built inline in the batch loop, from
the struct's attributes, with no handler call. Everything unusual (held back,
duplicate, gap, restart, a bad message) leaves that path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stockfish_core.plugin_api import (
    PAYLOAD_TYPES,
    DataType,
    MarketUpdate,
    PriceTick,
    Sequencer,
    Tracker,
    now_ns,
    sequencer_for,
    without_gc,
)

from . import schema
from .depth import BookState, DepthBooks
from .payloads import (
    DataError,
    build_bar,
    build_custom,
    build_macro,
    build_news,
    build_ticker,
    build_trade,
    check_data,
    show,
    venue_ts,
)
from .schema import DATA_TYPE_KIND, KINDS
from .stats import FeedStats, RateLimitedLog
from .typed import TICKER_MARK, TickerMessage, decode_errors, decode_ticker

if TYPE_CHECKING:
    from stockfish_core.plugin_api import Connector

    from .config import ZmqConfig

__all__ = ["FeedProcessor", "FrameBatch", "Stream"]

log = logging.getLogger("stockfish.zmq")

Handler = Callable[["Stream", dict[str, Any], str, int], "MarketUpdate | None"]
_PAYLOAD_DATA_TYPE: dict[type, DataType] = {cls: dt for dt, cls in PAYLOAD_TYPES.items()}
_INF = float("inf")
#: What a decoded message may be: a dict, or a ticker decoded typed.
_MESSAGE_TYPES = frozenset((dict, TickerMessage))
_MAX_TS_NS = 2**63 - 1


class FrameBatch(list):  # type: ignore[type-arg]
    """A batch of raw JSON bodies read from one publisher at one time."""

    __slots__ = ("recv_ts_ns", "stream")

    def __init__(self, stream: Stream, recv_ts_ns: int) -> None:
        super().__init__()
        self.stream = stream
        self.recv_ts_ns = recv_ts_ns


class Stream:
    """One publisher endpoint: its sequence space, its books."""

    __slots__ = ("books", "last_recv_ns", "name", "processor", "sequencer", "snapshot_endpoint")

    def __init__(self, name: str, processor: FeedProcessor, snapshot_endpoint: str | None) -> None:
        self.name = name
        self.processor = processor
        self.snapshot_endpoint = snapshot_endpoint
        cfg = processor.config
        # The core's sequencer (it counts and logs gaps, duplicates, restarts); run here,
        # before normalizing, because a gap must invalidate an order book.
        self.sequencer: Sequencer[dict[str, Any]] = sequencer_for(
            processor.connector, self, stream=name, buffer_size=cfg.reorder_buffer,
            wait=cfg.reorder_wait, reset_window=cfg.sequence_reset_window)
        self.books: dict[str, BookState] = {}
        self.last_recv_ns = 0

    def __repr__(self) -> str:
        return f"<Stream {self.name}>"

    # SequenceEvents, forwarded to the processor with the stream
    def on_join(self, tracker: Tracker, sequence: int) -> None:
        self.processor.on_join(self, tracker, sequence)

    def on_gap(self, tracker: Tracker, expected: int, received: int) -> None:
        self.processor.on_gap(self, tracker, expected, received)

    def on_restart(self, tracker: Tracker, sequence: int, old_session: Any) -> None:
        self.processor.on_restart(self, tracker, sequence, old_session)

    def on_duplicate(self, tracker: Tracker, sequence: int) -> None:
        pass  # counted by the core's sequencer

    def on_held(self, tracker: Tracker, sequence: int) -> None:
        pass  # counted by the core's sequencer


class FeedProcessor:
    """Normalization state of one connector (all its publishers)."""

    def __init__(
        self,
        connector: Connector,
        config: ZmqConfig,
        stats: FeedStats | None = None,
        *,
        normalizers: dict[str, Callable[[dict[str, Any]], Any]] | None = None,
        request_snapshot: Callable[[Stream, str], None] | None = None,
    ) -> None:
        self.connector = connector
        self.config = config
        self.name = connector.name
        self.label = config.feed_name or connector.name
        self.stats = stats if stats is not None else FeedStats()
        self.loads = schema.loads
        self.request_snapshot = request_snapshot
        #: symbol (topic) -> the message kinds subscribed; None: everything.
        self.interest: dict[str, set[str]] | None = None if config.subscribe_all else {}
        self.depth_levels: dict[str, int] = {}
        self.errors = RateLimitedLog(log, burst=5)
        #: Order books: depth messages, invalidation and resynchronisation.
        self.depth = DepthBooks(self)
        self.streams: dict[str, Stream] = {}
        self.default_stream = Stream("", self, None)
        self.custom_kinds = frozenset(normalizers or ())
        self.handlers = self._make_handlers(normalizers or {})
        #: Tickers decoded typed (typed.TickerMessage) unless a normalizer replaces the
        #: built-in ticker or the feed carries another type only.
        self.typed_ticker = "ticker" not in self.custom_kinds and \
            config.feed_type in (None, "ticker")
        self._timer: asyncio.TimerHandle | None = None

    # -- setup ----------------------------------------------------------------------
    def add_stream(self, name: str, snapshot_endpoint: str | None) -> Stream:
        stream = self.streams[name] = Stream(name, self, snapshot_endpoint)
        return stream

    def _make_handlers(self, normalizers: dict[str, Callable[[dict[str, Any]], Any]]
                       ) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {
            "ticker": self._ticker(),
            "trade": self._simple(DataType.TRADE, build_trade, needs_symbol=True),
            "bar": self._simple(DataType.OHLCV_BAR, build_bar, needs_symbol=True),
            "news": self._simple(DataType.NEWS, build_news, needs_symbol=False),
            "macro": self._simple(DataType.MACRO, build_macro, needs_symbol=False),
            "custom": self._simple(DataType.CUSTOM, build_custom, needs_symbol=False),
            "depth": self.depth.handle,
        }
        for kind, fn in normalizers.items():
            handlers[kind] = self._plugged(kind, fn)
        only = self.config.feed_type
        if only is not None:
            for kind in list(handlers):
                if kind != only:
                    handlers[kind] = self._skip
        return handlers

    # -- subscriptions --------------------------------------------------------------
    def add_interest(self, topic: str, kind: str, depth: int | None) -> bool:
        """Note a subscription (again is a no-op: the manager re-subscribes after a
        reconnect); return True if the topic is new (subscribe the socket)."""
        if kind == "depth":
            self.depth_levels[topic] = depth or self.config.book_depth
        if self.interest is None:
            return False
        kinds = self.interest.get(topic)
        new_topic = kinds is None
        if kinds is None:
            kinds = self.interest[topic] = set()
        if kind == "depth" and kind not in kinds:
            for stream in self.streams.values():
                self.depth.new_book(stream, topic)
        kinds.add(kind)
        return new_topic

    def remove_interest(self, topic: str, kind: str) -> bool:
        """Forget a subscription; return True if nothing wants the topic any more."""
        if self.interest is None:
            return False
        kinds = self.interest.get(topic)
        if not kinds or kind not in kinds:
            return False
        kinds.discard(kind)
        if kind == "depth":
            self.depth_levels.pop(topic, None)
            for stream in self.streams.values():
                stream.books.pop(topic, None)
        if kinds:
            return False
        del self.interest[topic]
        for stream in self.streams.values():
            stream.sequencer.forget(topic)
        return True

    # -- the hot path ---------------------------------------------------------------
    def process(self, messages: list[Any]) -> list[MarketUpdate]:
        """Normalize one batch; bad messages are counted and reported, never raised.

        The cyclic garbage collector is paused meanwhile: decoded JSON has no cycles and
        reference counting frees it, while a large message (a depth snapshot of 95,000
        levels allocates as many lists) would otherwise make the collector walk the whole
        heap several times, the larger part of the message's cost."""
        return without_gc(self._process, messages)

    def _process(self, messages: list[Any]) -> list[MarketUpdate]:
        stream: Stream = getattr(messages, "stream", None) or self.default_stream
        recv_ts: int = getattr(messages, "recv_ts_ns", 0) or now_ns()
        stream.last_recv_ns = recv_ts
        stats = self.stats
        stats.batches += 1
        stats.received += len(messages)
        out: list[MarketUpdate] = []
        append = out.append
        trackers = stream.sequencer.trackers
        now = stream.sequencer.clock()
        interest = self.interest
        handlers = self.handlers
        custom_kinds = self.custom_kinds
        loads = self.loads
        typed = self.typed_ticker
        name = self.name
        stream_name = stream.name
        price_tick = DataType.PRICE_TICK
        for raw in messages:
            msg: Any = None
            try:
                if type(raw) is bytes:
                    # One frame, b"TOPIC {json}" (or the bare JSON, the seeds' format).
                    body = raw if raw[:1] == b"{" else raw[raw.find(b" ") + 1:]
                    if typed and TICKER_MARK in body:
                        try:
                            msg = decode_ticker(body)  # a valid ticker, checked in C
                        except decode_errors:
                            msg = loads(body)  # the general path says what is wrong
                        else:
                            # The common case inline: typed fields, no dict, no call per
                            # field, the in-order sequence check, one update built.
                            symbol = msg.symbol
                            if not symbol:
                                raise _bad_key(msg)
                            kinds: set[str] | None = None
                            if interest is not None:
                                kinds = interest.get(symbol)
                                if kinds is None:
                                    stats.filtered += 1
                                    continue
                            seq = msg.sequence
                            if seq is not None:
                                tracker = trackers.get(symbol)
                                if (tracker is None or seq != tracker.next_seq
                                        or tracker.pending or msg.session != tracker.session):
                                    for released in self._offer(stream, symbol, tracker, msg,
                                                                seq, now):
                                        self._dispatch_safe(stream, symbol, released, recv_ts,
                                                            out)
                                    continue
                                tracker.next_seq = seq + 1
                                tracker.seen = now
                            if kinds is not None and "ticker" not in kinds:
                                stats.filtered += 1
                                continue
                            d = msg.data
                            bid = d.bid
                            ask = d.ask
                            last = d.last
                            if bid is None and ask is None and last is None:
                                raise DataError("missing_field", "a ticker needs at least one "
                                                "of bid, ask, last")
                            if bid is not None and ask is not None and bid > ask:
                                raise DataError("crossed_quote",
                                                f"crossed quote: bid {bid} > ask {ask}")
                            ts = msg.ts_ns
                            if ts is None:
                                ts = venue_ts(msg)  # type: ignore[arg-type]  # ISO, or 0
                            append(MarketUpdate(price_tick, PriceTick(
                                symbol, bid, ask, last, d.bid_size, d.ask_size, d.last_size,
                                d.volume, ts or recv_ts), name, seq, ts, recv_ts, stream_name))
                            continue
                    else:
                        msg = loads(body)
                else:
                    msg = _coerce(raw, loads)
                if type(msg) not in _MESSAGE_TYPES:
                    raise DataError("malformed", "a message must be a JSON object")
                symbol = msg.get("symbol")
                key = msg.get("type") if symbol is None else symbol
                if type(key) is not str or not key:
                    raise _bad_key(msg)
                if interest is not None and key not in interest:
                    stats.filtered += 1
                    continue
                seq = msg.get("sequence")
                if seq is not None:
                    tracker = trackers.get(key)
                    if (tracker is None or seq != tracker.next_seq or type(seq) is not int
                            or tracker.pending or msg.get("session") != tracker.session):
                        for released in self._offer(stream, key, tracker, msg, seq, now):
                            self._dispatch_safe(stream, key, released, recv_ts, out)
                        continue
                    tracker.next_seq = seq + 1
                    tracker.seen = now
                kind = msg.get("type")
                handler = handlers.get(kind) if type(kind) is str else None
                if handler is None:
                    raise _unknown_kind(kind)
                if interest is not None and kind not in interest[key] and \
                        kind not in custom_kinds:
                    stats.filtered += 1
                    continue
                update = handler(stream, msg, key, recv_ts)
                if update is not None:
                    append(update)
            except DataError as exc:
                self.bad(stream, exc, msg, raw)
            except Exception as exc:  # noqa: BLE001 - one bad message never stops a stream
                self.bad(stream, _unexpected(exc, msg), msg, raw)
        if self._timer is None and self._loop_or_none() is None:
            self._expire_into(out)  # no event loop to time the reorder buffer: do it here
        stats.delivered += len(out)
        return out

    def _dispatch(self, stream: Stream, key: str, msg: dict[str, Any],
                  recv_ts: int) -> MarketUpdate | None:
        kind = msg.get("type")
        handler = self.handlers.get(kind) if type(kind) is str else None
        if handler is None:
            raise _unknown_kind(kind)
        interest = self.interest
        if interest is not None and kind not in interest.get(key, ()) and \
                kind not in self.custom_kinds:
            self.stats.filtered += 1
            return None
        return handler(stream, msg, key, recv_ts)

    def _dispatch_safe(self, stream: Stream, key: str, msg: dict[str, Any], recv_ts: int,
                       out: list[MarketUpdate]) -> None:
        try:
            update = self._dispatch(stream, key, msg, recv_ts)
        except DataError as exc:
            self.bad(stream, exc, msg, None)
        except Exception as exc:  # noqa: BLE001 - one bad message never stops a stream
            self.bad(stream, _unexpected(exc, msg), msg, None)
        else:
            if update is not None:
                out.append(update)

    def _offer(self, stream: Stream, key: str, tracker: Tracker | None, msg: dict[str, Any],
               seq: Any, now: float) -> list[dict[str, Any]]:
        if type(seq) is not int or seq < 0:
            raise DataError("wrong_type", f"sequence must be a non-negative integer, got "
                            f"{show(seq)}")
        session = msg.get("session")
        if session is not None and type(session) is not str and type(session) is not int:
            raise DataError("wrong_type", "session must be a string or an integer")
        sequencer = stream.sequencer
        if tracker is None:
            if len(sequencer.trackers) >= self.config.max_symbols:
                raise DataError("too_many_symbols", f"more than max_symbols="
                                f"{self.config.max_symbols} symbols from this publisher; "
                                f"{show(key)} ignored")
            tracker = sequencer.tracker(key)
        released = sequencer.offer(tracker, msg, seq, session, now)
        if sequencer.waiting:
            self._arm_timer()
        return released

    # -- handlers -------------------------------------------------------------------
    def _simple(self, data_type: DataType, builder: Callable[[Any, dict[str, Any], int], Any],
                *, needs_symbol: bool) -> Handler:
        name = self.name
        kind = DATA_TYPE_KIND[data_type]

        def handle(stream: Stream, msg: dict[str, Any], key: str, recv_ts: int) -> MarketUpdate:
            data = msg.get("data")
            if type(data) is not dict:
                data = check_data(msg)
            symbol = msg.get("symbol")
            if needs_symbol and symbol is None:
                raise DataError("missing_field", f"symbol is required for a {kind} message")
            ts = venue_ts(msg)
            payload = builder(symbol, data, ts or recv_ts)
            return MarketUpdate(data_type, payload, name, msg.get("sequence"), ts, recv_ts,
                                stream.name)

        return handle

    def _ticker(self) -> Handler:
        """The ticker handler: the common case (a dict of float fields, ``ts_ns``) checked
        inline with no call per field; anything else goes through :func:`build_ticker`,
        which converts integers and says precisely what is wrong."""
        slow = self._simple(DataType.PRICE_TICK, build_ticker, needs_symbol=True)
        name = self.name
        price_tick = DataType.PRICE_TICK
        inf = _INF
        max_ts = _MAX_TS_NS

        def handle(stream: Stream, msg: dict[str, Any], key: str,
                   recv_ts: int) -> MarketUpdate | None:
            if isinstance(msg, TickerMessage):
                return typed(stream, msg, recv_ts)
            data = msg.get("data")
            symbol = msg.get("symbol")
            if type(data) is not dict or symbol is None:
                return slow(stream, msg, key, recv_ts)
            ts = msg.get("ts_ns")
            if type(ts) is not int or not 0 <= ts <= max_ts:
                if ts is not None:
                    return slow(stream, msg, key, recv_ts)
                ts = venue_ts(msg)  # the ISO timestamp (the seeds' format), or 0
            get = data.get
            bid = get("bid")
            ask = get("ask")
            last = get("last")
            bid_size = get("bid_size")
            ask_size = get("ask_size")
            last_size = get("last_size")
            volume = get("volume")
            # Each present field a float, finite and >= 0 (NaN fails every comparison).
            if ((bid is None or (type(bid) is float and 0.0 <= bid < inf))
                    and (ask is None or (type(ask) is float and 0.0 <= ask < inf))
                    and (last is None or (type(last) is float and 0.0 <= last < inf))
                    and (bid_size is None or (type(bid_size) is float and 0.0 <= bid_size < inf))
                    and (ask_size is None or (type(ask_size) is float and 0.0 <= ask_size < inf))
                    and (last_size is None
                         or (type(last_size) is float and 0.0 <= last_size < inf))
                    and (volume is None or (type(volume) is float and 0.0 <= volume < inf))
                    and (bid is not None or ask is not None or last is not None)
                    and (bid is None or ask is None or bid <= ask)):
                return MarketUpdate(price_tick, PriceTick(symbol, bid, ask, last, bid_size,
                                                          ask_size, last_size, volume,
                                                          ts or recv_ts),
                                    name, msg.get("sequence"), ts, recv_ts, stream.name)
            return slow(stream, msg, key, recv_ts)

        def typed(stream: Stream, msg: TickerMessage, recv_ts: int) -> MarketUpdate:
            # Types and ranges were checked by the decoder; what is left is semantic.
            d = msg.data
            bid, ask, last = d.bid, d.ask, d.last
            if bid is None and ask is None and last is None:
                raise DataError("missing_field", "a ticker needs at least one of bid, ask, "
                                "last")
            if bid is not None and ask is not None and bid > ask:
                raise DataError("crossed_quote", f"crossed quote: bid {bid} > ask {ask}")
            ts = msg.ts_ns
            if ts is None:
                ts = venue_ts(msg)  # type: ignore[arg-type]  # the ISO timestamp, or 0
            return MarketUpdate(price_tick, PriceTick(msg.symbol, bid, ask, last, d.bid_size,
                                                      d.ask_size, d.last_size, d.volume,
                                                      ts or recv_ts),
                                name, msg.sequence, ts, recv_ts, stream.name)

        return handle

    def _skip(self, stream: Stream, msg: dict[str, Any], key: str, recv_ts: int) -> None:
        self.stats.filtered += 1

    def _plugged(self, kind: str, fn: Callable[[dict[str, Any]], Any]) -> Handler:
        name = self.name

        def handle(stream: Stream, msg: dict[str, Any], key: str,
                   recv_ts: int) -> MarketUpdate | None:
            try:
                result = fn(msg)
            except DataError:
                raise
            except Exception as exc:
                raise DataError("normalizer_error",
                                f"normalizer for {kind!r} failed: {show(exc, 200)}") from exc
            if result is None:
                return None
            if isinstance(result, MarketUpdate):
                update = result
                update.source = update.source or name
                update.stream = update.stream or stream.name
                if update.sequence_number is None:
                    update.sequence_number = msg.get("sequence")
                update.recv_ts_ns = update.recv_ts_ns or recv_ts
            else:
                data_type = _PAYLOAD_DATA_TYPE.get(type(result))
                if data_type is None:
                    raise DataError("normalizer_error", f"normalizer for {kind!r} returned "
                                    f"{type(result).__name__}, not a payload or MarketUpdate")
                ts = venue_ts(msg)
                update = MarketUpdate(data_type, result, name, msg.get("sequence"), ts,
                                      recv_ts, stream.name)
            interest = self.interest
            if interest is not None and \
                    DATA_TYPE_KIND[update.data_type] not in interest.get(key, ()):
                self.stats.filtered += 1
                return None
            return update

        return handle

    # -- sequence events (counted and logged by the core's sequencer) ------------------
    def on_join(self, stream: Stream, tracker: Tracker, sequence: int) -> None:
        self.depth.on_join(stream, tracker, sequence)

    def on_gap(self, stream: Stream, tracker: Tracker, expected: int, received: int) -> None:
        self.depth.on_gap(stream, str(tracker.key), expected, received)

    def on_restart(self, stream: Stream, tracker: Tracker, sequence: int, old: Any) -> None:
        self.depth.on_restart(stream, str(tracker.key), sequence)

    # -- reorder-buffer timing ----------------------------------------------------------
    def _loop_or_none(self) -> asyncio.AbstractEventLoop | None:
        loop = self.connector.loop
        if loop is not None and not loop.is_closed():
            return loop
        return None

    def _arm_timer(self) -> None:
        if self._timer is not None:
            return
        loop = self._loop_or_none()
        if loop is None:
            return
        deadlines = [d for s in self._all_streams()
                     if (d := s.sequencer.next_deadline()) is not None]
        if deadlines:
            delay = max(0.0, min(deadlines) - time.monotonic())
            self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        out: list[MarketUpdate] = []
        self._expire_into(out)
        if out:
            self.stats.delivered += len(out)
            self.connector.deliver(out)
        self._arm_timer()

    def _expire_into(self, out: list[MarketUpdate]) -> None:
        now = time.monotonic()
        for stream in self._all_streams():
            sequencer = stream.sequencer
            if not sequencer.waiting:
                continue
            for tracker, messages in sequencer.expire(now):
                recv_ts = now_ns()
                for msg in messages:
                    self._dispatch_safe(stream, str(tracker.key), msg, recv_ts, out)

    def _all_streams(self) -> list[Stream]:
        return [self.default_stream, *self.streams.values()]

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- bad input --------------------------------------------------------------------
    def bad(self, stream: Stream, exc: DataError, msg: Any, raw: Any) -> None:
        """Count, log (rate-limited) and report one unusable message; never raises (a
        poison message costs itself only, never the rest of its batch)."""
        self.stats.count_error(exc.code)
        try:
            self._report(stream, exc, msg, raw)
        except Exception:
            log.exception("%s: reporting a bad message failed", self.label)

    def _report(self, stream: Stream, exc: DataError, msg: Any, raw: Any) -> None:
        symbol = msg.get("symbol") if type(msg) is dict or type(msg) is TickerMessage else None
        symbol = symbol if type(symbol) is str else None
        where = stream.name or "unnamed stream"
        message = f"{self.label}: bad message from {where}: {exc} [{exc.code}]; dropped"
        self.errors.log(logging.WARNING, "data:" + exc.code, "%s; message: %s", message,
                        _excerpt(raw if raw is not None else msg))
        self.connector.report_error(message, symbol=symbol, code=exc.code, data=True)


def _body(frame: bytes) -> bytes:
    """The JSON of a topic-prefixed frame, ``TOPIC {json}``: what follows the first space
    (a frame without one is returned as it is, and fails to decode as JSON)."""
    space = frame.find(b" ")
    return frame if space < 0 else frame[space + 1:]


def _coerce(raw: Any, loads: Callable[[Any], Any]) -> Any:
    if type(raw) is dict:
        return raw
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        return loads(raw if raw[:1] == b"{" else _body(raw))
    if isinstance(raw, str):
        return loads(raw)
    raise DataError("malformed", f"cannot read a message of type {type(raw).__name__}")


def _bad_key(msg: dict[str, Any]) -> DataError:
    symbol = msg.get("symbol")
    if symbol is not None:
        return DataError("wrong_type", f"symbol must be a non-empty string, got {show(symbol)}")
    if "type" not in msg:
        return DataError("missing_field", "type is required")
    return DataError("wrong_type", f"type must be a string, got {show(msg.get('type'))}")


def _unknown_kind(kind: Any) -> DataError:
    if kind is None:
        return DataError("missing_field", "type is required")
    return DataError("unknown_type", f"unknown message type {show(kind)} (known: "
                     f"{', '.join(sorted(KINDS))})"[:200])


def _unexpected(exc: Exception, msg: Any) -> DataError:
    if msg is None and isinstance(exc, RecursionError):
        return DataError("malformed", "not valid JSON: nested too deeply")
    if msg is None and isinstance(exc, ValueError):
        return DataError("malformed", f"not valid JSON: {exc}"[:200])
    return DataError("invalid_value", f"{type(exc).__name__}: {exc}"[:200])


def _excerpt(value: Any) -> str:
    """The start of a bad message for a log line: the bytes as received when there are
    any (a decoded poison message is never walked), else a bounded description."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = repr(bytes(value[:200]))
    elif isinstance(value, str):
        text = repr(value[:200])
    else:
        text = show(value, 200)
    return text if len(text) <= 200 else text[:197] + "..."
