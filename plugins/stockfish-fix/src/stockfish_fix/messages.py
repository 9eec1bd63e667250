"""FIX messages on the wire: reading received ones, building the ones the connector sends.

Received messages are read from their FIX string (``tag=value`` fields separated by SOH,
as QuickFIX re-serialises them after validation) on the manager's loop, so no QuickFIX
object outlives its callback. Sent messages are built field by field with string values:
prices and quantities are written from their Decimal (``format(d, "f")``), never through
a float.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from stockfish_core.plugin_api import OrderSide, OrderType, TimeInForce

__all__ = [
    "ORD_TYPE",
    "SIDE",
    "SOH",
    "TIME_IN_FORCE",
    "decimal_text",
    "field",
    "fields",
    "flat",
    "msg_type",
    "new_message",
    "transact_time",
    "utc_timestamp_ns",
]

SOH = "\x01"

SIDE = {OrderSide.BUY: "1", OrderSide.SELL: "2"}
SIDE_FROM_FIX = {"1": OrderSide.BUY, "2": OrderSide.SELL}
ORD_TYPE = {
    OrderType.MARKET: "1",
    OrderType.LIMIT: "2",
    OrderType.STOP: "3",
    OrderType.STOP_LIMIT: "4",
    OrderType.TRAILING_STOP: "P",  # pegged, with ExecInst a (trailing stop peg)
}
ORD_TYPE_FROM_FIX = {v: k for k, v in ORD_TYPE.items()}
TIME_IN_FORCE = {
    TimeInForce.DAY: "0",
    TimeInForce.GTC: "1",
    TimeInForce.IOC: "3",
    TimeInForce.FOK: "4",
    TimeInForce.GTD: "6",
}
TIME_IN_FORCE_FROM_FIX = {v: k for k, v in TIME_IN_FORCE.items()}


def fields(raw: str) -> list[tuple[str, str]]:
    """The fields of a FIX string, in order, as (tag, value) strings."""
    out = []
    for item in raw.split(SOH):
        if item:
            tag, _, value = item.partition("=")
            out.append((tag, value))
    return out


def flat(raw: str) -> dict[str, str]:
    """The fields of a FIX string by tag (a repeated tag keeps its last value)."""
    if raw.count("=") == raw.count(SOH) and raw[-1:] == SOH and _TWO_EQUALS.search(raw) is None:
        # Every report, twice per order. Each field has exactly one "=" (as many "=" as
        # fields, none with two), so once "=" is an SOH too, tags and values alternate.
        parts = iter(raw[:-1].replace("=", SOH).split(SOH))
        return dict(zip(parts, parts, strict=True))
    out: dict[str, str] = {}
    for item in raw.split(SOH):  # a value with "=", a field without: field by field
        if item:
            tag, _, value = item.partition("=")
            out[tag] = value
    return out


#: A field whose value holds "=" (flat's fast path cannot split it).
_TWO_EQUALS = re.compile(f"=[^{SOH}]*=")


def field(raw: str, tag: str) -> str:
    """The value of the first ``tag`` in a FIX string after BeginString ("" if absent),
    without parsing the rest."""
    key = f"{SOH}{tag}="
    start = raw.find(key)
    if start < 0:
        return ""
    start += len(key)
    end = raw.find(SOH, start)
    return raw[start:] if end < 0 else raw[start:end]


def msg_type(raw: str) -> str:
    """MsgType (35) of a FIX string, without parsing the rest."""
    return field(raw, "35")


def decimal_text(value: Decimal) -> str:
    """A Decimal as FIX writes numbers: plain notation, exactly (``1E+2`` -> ``100``)."""
    return format(value, "f")


def transact_time(now_ns: int | None = None) -> str:
    """A UTCTimestamp with milliseconds, e.g. ``20260101-13:45:00.123``."""
    ns = time.time_ns() if now_ns is None else now_ns
    seconds, rest = divmod(ns, 1_000_000_000)
    global _last_stamp
    second, text = _last_stamp  # one per order: a second's text is made once (one tuple
    if second != seconds:       # read at once, so threads never mix two seconds)
        text = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(seconds))
        _last_stamp = (seconds, text)
    return f"{text}.{rest // 1_000_000:03d}"


_last_stamp: tuple[int, str] = (-1, "")

_last_second: tuple[str, int] = ("", 0)


def utc_timestamp_ns(text: str | None) -> int:
    """Nanoseconds since the epoch of a UTCTimestamp (``YYYYMMDD-HH:MM:SS[.fff...]``);
    0 if it is missing or unreadable."""
    if not text or len(text) < 17:
        return 0
    global _last_second
    try:
        second = text[:17]
        cached, seconds = _last_second  # reports come in bursts within one second
        if cached != second:
            seconds = calendar.timegm((int(text[0:4]), int(text[4:6]), int(text[6:8]),
                                       int(text[9:11]), int(text[12:14]), int(text[15:17]),
                                       0, 0, 0))
            _last_second = (second, seconds)
        fraction = text[18:] if len(text) > 18 and text[17] == "." else ""
        nanos = int((fraction + "000000000")[:9]) if fraction else 0
    except ValueError:
        return 0
    return seconds * 1_000_000_000 + nanos


def new_message(
    quickfix: Any,
    message_type: str,
    body: Iterable[tuple[int, str | None]] | Mapping[int, str | None],
    groups: Iterable[tuple[int, int, list[list[tuple[int, str]]]]] = (),
) -> Any:
    """A ``quickfix.Message`` of one type with the given body fields (None: left out).

    ``groups`` are ``(count_tag, delimiter_tag, entries)``, each entry a list of fields
    starting with the delimiter. The session fills in the header when it sends (the
    BeginString written here is replaced by the session's).

    A message without groups is parsed from its FIX string in one call, which costs a
    third of setting its fields one by one; a message with groups is built field by field
    (parsed without a data dictionary, a group's repeated tags would be lost).
    """
    items = body.items() if isinstance(body, Mapping) else body
    groups = list(groups)
    if not groups:
        text = _PREFIX + message_type + SOH + "".join(
            f"{tag}={value}{SOH}" for tag, value in items if value is not None)
        if text.count(SOH) != text.count("="):
            raise ValueError(f"a {message_type} field value contains SOH or '=' is missing")
        return quickfix.Message(text + _SUFFIX, False)
    message = quickfix.Message()
    message.getHeader().setField(35, message_type)
    for tag, value in items:
        if value is not None:
            message.setField(tag, value)
    for count_tag, delimiter, entries in groups:
        for entry in entries:
            group = quickfix.Group(count_tag, delimiter)
            for tag, value in entry:
                group.setField(tag, value)
            message.addGroup(group)
    return message


_PREFIX = f"8=FIX.4.4{SOH}9=0{SOH}35="
_SUFFIX = f"10=000{SOH}"
