"""The wire format: message kinds, envelope fields, JSON codec and timestamps.

One message is one JSON object (UTF-8), sent as one ZeroMQ frame ``TOPIC {json}`` (the
publisher's default), as two frames ``[topic, json]``, or as one frame holding only the
JSON (the seeds' format). The topic is the message's ``symbol`` (or, for a message
without a symbol, its ``type``). The full schema of every kind is documented in the
package README.

This module is shared by the connector and the publisher; it has no state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from stockfish_core.plugin_api import DataType

__all__ = [
    "BARE_JSON_TOPIC",
    "DATA_TYPE_KIND",
    "JSON_BACKEND",
    "KINDS",
    "KIND_DATA_TYPE",
    "dumps",
    "format_iso",
    "loads",
    "parse_iso_ns",
    "topic_of",
]

#: Message ``type`` on the wire -> the data type of the updates it produces.
KIND_DATA_TYPE: dict[str, DataType] = {
    "ticker": DataType.PRICE_TICK,
    "depth": DataType.ORDERBOOK_SNAPSHOT,
    "trade": DataType.TRADE,
    "bar": DataType.OHLCV_BAR,
    "news": DataType.NEWS,
    "macro": DataType.MACRO,
    "custom": DataType.CUSTOM,
}
DATA_TYPE_KIND: dict[DataType, str] = {v: k for k, v in KIND_DATA_TYPE.items()}
KINDS = frozenset(KIND_DATA_TYPE)

#: The subscription that receives single-frame JSON messages sent without a topic (the
#: seeds' format): the first byte of a JSON object.
BARE_JSON_TOPIC = b"{"

loads: Callable[[bytes | str], Any]
JSON_BACKEND: str
try:  # orjson is an optional extra (pip install stockfish-zmq[fast]): ~4x faster loads
    import orjson

    loads = orjson.loads
    JSON_BACKEND = "orjson"

    def dumps(obj: Any) -> bytes:
        """Compact JSON as UTF-8 bytes."""
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - depends on the environment
    loads = json.loads
    JSON_BACKEND = "json"
    _encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def dumps(obj: Any) -> bytes:
        """Compact JSON as UTF-8 bytes."""
        return _encode(obj).encode()


def topic_of(message: dict[str, Any]) -> str:
    """The topic frame a publisher sends a message under: its symbol, else its type."""
    symbol = message.get("symbol")
    if isinstance(symbol, str) and symbol:
        return symbol
    return str(message.get("type", ""))


# -- timestamps --------------------------------------------------------------------
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECONDS_CACHE: dict[str, int] = {}
_CACHE_MAX = 4096


def _whole_seconds(prefix: str) -> int:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) to seconds since the epoch, cached."""
    cached = _SECONDS_CACHE.get(prefix)
    if cached is None:
        dt = datetime.fromisoformat(prefix).replace(tzinfo=timezone.utc)
        cached = (dt - _EPOCH) // _ONE_SECOND
        if len(_SECONDS_CACHE) >= _CACHE_MAX:
            _SECONDS_CACHE.clear()
        _SECONDS_CACHE[prefix] = cached
    return cached


_ONE_SECOND = datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc) - _EPOCH


def parse_iso_ns(text: str) -> int:
    """An ISO 8601 timestamp to integer nanoseconds since the epoch.

    ``2026-01-19T10:30:45.123Z`` (any number of fraction digits, up to nanoseconds) takes
    a fast path; any other form ``datetime.fromisoformat`` reads is accepted too, and a
    timestamp without an offset is taken as UTC. Raises ``ValueError`` otherwise.
    """
    if len(text) > 64:  # no ISO 8601 time is this long; never scan a huge string
        raise ValueError(f"invalid ISO timestamp {text[:40]!r}... ({len(text)} characters)")
    if len(text) >= 20 and text[-1] == "Z" and text[10] == "T":
        seconds = _whole_seconds(text[:19])
        if len(text) == 20:
            return seconds * 1_000_000_000
        if text[19] == "." and len(text) <= 30:
            digits = text[20:-1]
            if digits.isdigit():
                return seconds * 1_000_000_000 + int(digits.ljust(9, "0"))
        raise ValueError(f"invalid ISO timestamp {text!r}")
    return _parse_iso_slow(text)


def _parse_iso_slow(text: str) -> int:
    body = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    fraction_ns = 0
    # datetime keeps microseconds; keep the nanoseconds of a longer fraction ourselves.
    dot = body.find(".", 19)
    if dot != -1:
        end = dot + 1
        while end < len(body) and body[end].isdigit():
            end += 1
        digits = body[dot + 1 : end]
        if not digits or len(digits) > 9:
            raise ValueError(f"invalid ISO timestamp {text!r}")
        fraction_ns = int(digits.ljust(9, "0"))
        body = body[:dot] + body[end:]
    try:
        dt = datetime.fromisoformat(body)
    except ValueError:
        raise ValueError(f"invalid ISO timestamp {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - _EPOCH) // _ONE_SECOND * 1_000_000_000 + fraction_ns


_ISO_CACHE: dict[int, str] = {}


def format_iso(ns: int) -> str:
    """Nanoseconds since the epoch to ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    prefix = _ISO_CACHE.get(seconds)
    if prefix is None:
        prefix = f"{datetime.fromtimestamp(seconds, tz=timezone.utc):%Y-%m-%dT%H:%M:%S}"
        if len(_ISO_CACHE) >= _CACHE_MAX:
            _ISO_CACHE.clear()
        _ISO_CACHE[seconds] = prefix
    return f"{prefix}.{rest // 1_000_000:03d}Z"
