"""Counters of one connector (``connector.state.stats``); rate-limited logging is the
core's (:class:`stockfish_core.plugin_api.RateLimitedLog`), re-exported here."""

from __future__ import annotations

from typing import Any

import attrs

from stockfish_core.plugin_api import RateLimitedLog

__all__ = ["FeedStats", "RateLimitedLog"]


@attrs.define
class FeedStats:
    """What the connector has seen since it was created (kept across reconnects)."""

    #: Raw messages handed to normalize, and batches they came in.
    received: int = 0
    batches: int = 0
    #: Updates produced.
    delivered: int = 0
    #: Messages for symbols or types nobody subscribed to (a topic prefix match).
    filtered: int = 0
    #: Bad messages of every kind; ``errors_by_code`` splits them (malformed, invalid...).
    data_errors: int = 0
    errors_by_code: dict[str, int] = attrs.Factory(dict)
    # Sequence accounting (gaps, lost, duplicates, out_of_order, reordered, restarts) is
    # the core's: ``connector.stats``, shown by the manager's get_stats().
    #: Books marked invalid, snapshot requests sent, books made valid again.
    book_invalidations: int = 0
    snapshot_requests: int = 0
    resyncs: int = 0
    #: Depth updates dropped because the book was invalid and no resync could use them.
    depth_dropped: int = 0
    #: Transport: handshakes failed (CURVE key or mechanism mismatch), disconnections.
    handshake_failures: int = 0
    disconnects: int = 0
    #: Worker processes (``worker: true``) that ended by themselves (a lost connection).
    worker_restarts: int = 0

    def count_error(self, code: str) -> None:
        self.data_errors += 1
        self.errors_by_code[code] = self.errors_by_code.get(code, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)
