"""The TWS socket protocol on the wire: framing, field encoding and reading.

A message is a 4-byte big-endian length followed by NUL-terminated text fields. The
one exception is the client's opening: ``API\\0`` then a length-prefixed version range
such as ``v157..176``. The server answers the opening with exactly two fields (its
version and the connection time); every later message starts with its message id.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable
from typing import Any

__all__ = [
    "SERVER_VERSION",
    "UNSET_DOUBLE",
    "UNSET_INTEGER",
    "FieldReader",
    "FrameBuffer",
    "HandshakeError",
    "WireContract",
    "encode",
    "fmt",
    "parse_versions",
]

#: The protocol version this gateway speaks; ib_insync 0.9.86 and ib_async 2.1.0 accept it.
SERVER_VERSION = 176
MIN_CLIENT_VERSION = 157

UNSET_INTEGER = 2**31 - 1
UNSET_DOUBLE = 1.7976931348623157e308

_MAX_FRAME = 16 * 1024 * 1024
_VERSIONS = re.compile(rb"^v(\d+)(?:\.\.(\d+))?(?: (.*))?$")


class HandshakeError(Exception):
    """The peer did not open with a TWS API handshake we can serve."""


def fmt(value: Any) -> str:
    """One field as the TWS API writes it (None and unset values are empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return "" if value == UNSET_INTEGER else str(value)
    if isinstance(value, float):
        if value == UNSET_DOUBLE or math.isnan(value):
            return ""
        if value == math.inf:
            return "Infinite"
        return repr(value)
    return str(value)


def encode(fields: Iterable[Any]) -> bytes:
    """A length-prefixed message from its fields."""
    payload = "".join(fmt(f) + "\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def parse_versions(payload: bytes) -> tuple[int, int, str]:
    """The client's version range ``v157..176 [options]``: (min, max, options)."""
    match = _VERSIONS.match(payload)
    if match is None:
        raise HandshakeError(f"bad version range {payload!r}")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    return low, high, (match.group(3) or b"").decode(errors="replace")


class FrameBuffer:
    """Splits the client's byte stream into the handshake and then messages."""

    __slots__ = ("_buf", "handshaken")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.handshaken = False

    def feed(self, data: bytes) -> list[bytes | list[str]]:
        """Add bytes; return what is complete: the handshake's version payload (bytes)
        first, then each message as its list of fields."""
        buf = self._buf
        buf += data
        out: list[bytes | list[str]] = []
        pos = 0
        end = len(buf)
        if not self.handshaken:
            if end < 8:
                return out
            if buf[:4] != b"API\0":
                raise HandshakeError(f"expected b'API\\0', got {bytes(buf[:4])!r}")
            (size,) = struct.unpack_from(">I", buf, 4)
            if end < 8 + size:
                return out
            out.append(bytes(buf[8:8 + size]))
            self.handshaken = True
            pos = 8 + size
        while end - pos >= 4:
            (size,) = struct.unpack_from(">I", buf, pos)
            if size > _MAX_FRAME:
                raise HandshakeError(f"frame of {size} bytes is larger than {_MAX_FRAME}")
            if end - pos - 4 < size:
                break
            fields = buf[pos + 4:pos + 4 + size].decode(errors="backslashreplace").split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            out.append(fields)
            pos += 4 + size
        if pos:
            del buf[:pos]
        return out


class WireContract:
    """The twelve contract fields a client sends: conId ... tradingClass."""

    __slots__ = (
        "con_id", "symbol", "sec_type", "expiry", "strike", "right", "multiplier",
        "exchange", "primary_exchange", "currency", "local_symbol", "trading_class",
    )

    def __init__(self, fields: list[str]) -> None:
        (con_id, self.symbol, self.sec_type, self.expiry, strike, self.right,
         self.multiplier, self.exchange, self.primary_exchange, self.currency,
         self.local_symbol, self.trading_class) = fields
        self.con_id = int(con_id or 0)
        self.strike = float(strike or 0.0)

    def __repr__(self) -> str:
        parts = [self.sec_type, self.symbol, self.expiry, self.exchange, self.currency]
        text = " ".join(p for p in parts if p)
        return f"<WireContract {text or '?'}{f' conId={self.con_id}' if self.con_id else ''}>"


class FieldReader:
    """Read a client message's fields in order."""

    __slots__ = ("fields", "pos")

    def __init__(self, fields: list[str], start: int = 1) -> None:
        self.fields = fields
        self.pos = start

    def text(self) -> str:
        if self.pos >= len(self.fields):
            raise ValueError(f"message too short: {len(self.fields)} fields")
        value = self.fields[self.pos]
        self.pos += 1
        return value

    def integer(self, default: int = 0) -> int:
        value = self.text()
        return int(value) if value else default

    def number(self, default: float = 0.0) -> float:
        value = self.text()
        if not value:
            return default
        if value == "Infinite":
            return math.inf
        return float(value)

    def flag(self) -> bool:
        value = self.text()
        return bool(int(value)) if value else False

    def skip(self, count: int = 1) -> None:
        self.pos += count

    def contract(self) -> WireContract:
        start = self.pos
        self.pos += 12
        if self.pos > len(self.fields):
            raise ValueError("message too short for a contract")
        return WireContract(self.fields[start:self.pos])

    @property
    def remaining(self) -> int:
        return len(self.fields) - self.pos
