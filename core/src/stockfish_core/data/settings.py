"""Settings of the recorder (``manager: {recording: {...}}`` in the YAML).

This module imports nothing beyond the core's own dependencies, so the configuration
loader can validate a ``recording`` section on an installation without pyarrow.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Union

import attrs

from ..models import DataType

__all__ = ["COMPRESSIONS", "HistoryRequest", "RecordingConfig", "TimeLike", "to_ns"]

TimeLike = Union[datetime, date, int, str, None]  # noqa: UP007 - a runtime alias, also on 3.10


def to_ns(value: TimeLike) -> int | None:
    """A datetime (naive is UTC), a date, an ISO string or integer nanoseconds, to ns."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("expected a time, got a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO date or time: {value!r}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(value, date):
        return to_ns(datetime(value.year, value.month, value.day, tzinfo=timezone.utc))
    raise TypeError(f"expected a datetime, date, ISO string or nanoseconds, got {value!r}")

#: Parquet compressions a recording may use.
COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "none")


def _positive(_: Any, attribute: attrs.Attribute, value: Any) -> None:  # type: ignore[type-arg]
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _scale(_: Any, attribute: attrs.Attribute, value: int) -> None:  # type: ignore[type-arg]
    if not 0 <= value <= 18:
        raise ValueError(f"{attribute.name} must be between 0 and 18, got {value}")


def _compression(_: Any, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    if value not in COMPRESSIONS:
        raise ValueError(f"{attribute.name} must be one of {', '.join(COMPRESSIONS)}, "
                         f"got {value!r}")


def _not_empty(_: Any, attribute: attrs.Attribute, value: Any) -> None:  # type: ignore[type-arg]
    if value is not None and len(value) == 0:
        raise ValueError(f"{attribute.name} is empty: leave it out to record everything")


@attrs.frozen
class RecordingConfig:
    """What the recorder writes, and where.

    ``types``, ``symbols`` and ``connectors`` narrow what is recorded (None: all). Prices,
    sizes and economic values are stored as ``decimal128(38, decimal_scale)``: a value
    with at most ``decimal_scale`` decimals after the point is stored exactly (450.01 is
    450.0100000000, not the binary float's 450.00999999999999090505...). A value that
    does not fit (more decimals than the scale) is stored rounded and counted as
    ``inexact_values`` in the recording's stats.

    A file is closed (and readable) once it has been open ``rotate_seconds`` or holds
    ``rotate_bytes``. After a crash, what was in files still open is lost: at most the
    last ``rotate_seconds`` plus ``flush_interval`` of each partition.
    """

    #: The folder of the recording (created if need be).
    path: str
    #: Data types to record (None: every type).
    types: list[DataType] | None = attrs.field(default=None, validator=_not_empty)
    #: Symbols to record (None: every symbol; news counts when it names one of them).
    symbols: list[str] | None = attrs.field(default=None, validator=_not_empty)
    #: Connector names whose updates are recorded (None: every connector).
    connectors: list[str] | None = attrs.field(default=None, validator=_not_empty)
    #: Order book levels kept per side (None: as delivered).
    book_depth: int | None = attrs.field(default=None, validator=_positive)
    #: Digits after the point of prices, sizes and values (0-18); more are rounded and
    #: counted as ``inexact_values``.
    decimal_scale: int = attrs.field(default=10, validator=_scale)
    #: Close a file after this many seconds (the bound on what a crash loses).
    rotate_seconds: float = attrs.field(default=60.0, validator=_positive)
    #: Close a file once it holds this many bytes.
    rotate_bytes: int = attrs.field(default=256 * 1024 * 1024, validator=_positive)
    #: Rows per Parquet row group (a smaller group is written when a file closes).
    row_group_rows: int = attrs.field(default=65_536, validator=_positive)
    #: Seconds between the background writer's passes over the queue.
    flush_interval: float = attrs.field(default=0.25, validator=_positive)
    #: Updates waiting for the writer at most; beyond it they are dropped from the
    #: recording (never from delivery), counted and logged.
    max_queue: int = attrs.field(default=1_000_000, validator=_positive)
    #: Parquet compression: zstd, snappy, gzip, lz4 or none.
    compression: str = attrs.field(default="zstd", validator=_compression)


_WHAT = ("bars", "ticks")


def _what(_: Any, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    if value not in _WHAT:
        raise ValueError(f"{attribute.name} must be one of {', '.join(_WHAT)}, got {value!r}")


def _range(instance: HistoryRequest, attribute: attrs.Attribute, value: int) -> None:  # type: ignore[type-arg]
    if value <= instance.start_ns:
        raise ValueError("a history request's end must be after its start")


@attrs.frozen
class HistoryRequest:
    """What ``stockfish_history`` is asked for: ``symbol``'s bars of ``interval`` (or its
    ticks) in ``[start_ns, end_ns)``."""

    symbol: str
    start_ns: int
    end_ns: int = attrs.field(validator=_range)
    interval: str = "1m"
    what: str = attrs.field(default="bars", validator=_what)
