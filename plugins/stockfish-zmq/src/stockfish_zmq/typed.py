"""Typed decoding of the common message, a ticker, with msgspec: the JSON is read and
checked in C (types, non-negative finite prices and sizes, ``ts_ns`` in 63 bits) into a
:class:`TickerMessage`, with no Python work per field.

Anything the typed decoder refuses (another message type, a wrong type, an extreme
value) is decoded again as a plain dict and goes through the general path, which says
precisely what is wrong: this module only ever makes the valid common case cheaper.
A :class:`TickerMessage` answers ``get`` like the dict it stands for, so the code shared
with decoded dicts (sequencing, the reorder buffer, error reports) takes either. (One
difference: unknown fields are skipped unread, so a ticker with, say, a 400-digit
integer in a field of its own is delivered, where orjson refuses the whole document.)
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

__all__ = ["TICKER_MARK", "TickerData", "TickerMessage", "decode_errors", "decode_ticker"]

#: A body that does not contain this cannot be a ticker: it is not tried typed.
TICKER_MARK = b'"ticker"'

_MAX_FLOAT = 1.7976931348623157e308
Price = Annotated[float, msgspec.Meta(ge=0.0, le=_MAX_FLOAT)]
Nanoseconds = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
#: Integers within 64 bits only: orjson reads a larger one as a float, which the general
#: path refuses, and the typed path must accept nothing the general one refuses (what it
#: refuses goes the general way and gets the general answer).
Sequence = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Session = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class TickerData(msgspec.Struct, gc=False):
    """The ``data`` of a ticker (unknown fields ignored)."""

    bid: Price | None = None
    ask: Price | None = None
    last: Price | None = None
    bid_size: Price | None = None
    ask_size: Price | None = None
    last_size: Price | None = None
    volume: Price | None = None


class TickerMessage(msgspec.Struct, tag="ticker", tag_field="type", gc=False):
    """A whole ticker message, envelope included (unknown fields ignored)."""

    symbol: str
    data: TickerData
    sequence: Sequence | None = None
    session: str | Session | None = None
    ts_ns: Nanoseconds | None = None
    timestamp: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        """The field ``key`` as a decoded dict would give it (``type`` is ``ticker``)."""
        if key == "type":
            return "ticker"
        if key in _FIELDS:
            return getattr(self, key)
        return default


_FIELDS = frozenset(TickerMessage.__struct_fields__)

#: ``bytes`` -> :class:`TickerMessage`; raises one of :data:`decode_errors` otherwise.
decode_ticker = msgspec.json.Decoder(TickerMessage).decode
decode_errors = (msgspec.ValidationError, msgspec.DecodeError)
