"""``stockfish run --headless``: one JSON object per line on standard output.

Log records become ``{"ts": ..., "level": ..., "logger": ..., "message": ...}``; order,
fill and connector events and a periodic ``stats`` record carry ``"event"`` and their
fields. Every line parses with ``json.loads``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, TextIO

from ..config import Config
from ..orders import Fill, Order
from ..serialization import to_dict
from .runner import RunState

__all__ = ["HeadlessDisplay", "JsonFormatter"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """Log records as single-line JSON objects."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, display: HeadlessDisplay) -> None:
        super().__init__(display.out)
        self.setFormatter(JsonFormatter())
        self.display = display

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            self.display.reader_gone()
        else:
            super().handleError(record)


class HeadlessDisplay:
    def __init__(self, state: RunState, out: TextIO | None = None) -> None:
        self.state = state
        self.out = out or sys.stdout
        self._last_stats = 0.0
        #: Set when standard output went away (a closed pipe): the run then stops.
        self.done = False
        handler = _Handler(self)
        self._handler = handler
        root = logging.getLogger()
        self._saved = root.handlers[:]
        root.handlers[:] = [handler]
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        state.listeners.append(self._event)

    def emit(self, event: str, **fields: Any) -> None:
        if self.done:
            return
        record = {"ts": _now(), "event": event, **fields}
        try:
            self.out.write(json.dumps(record, default=str) + "\n")
            self.out.flush()
        except BrokenPipeError:
            self.reader_gone()

    def reader_gone(self) -> None:
        """Standard output was closed (``| head``): stop quietly, write nothing more."""
        self.done = True
        self._handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as the run

    def _event(self, kind: str, item: Any) -> None:
        if isinstance(item, Order):
            self.emit("order", order=to_dict(item))
        elif isinstance(item, Fill):
            self.emit("fill", fill=to_dict(item))
        else:
            self.emit(kind, **item)

    def started(self, config: Config) -> None:
        self.emit("started", config=config.source or "built-in simulated venue",
                  connectors=[name for name, _s, _p in self.state.manager.list_connectors()])

    def refresh(self) -> None:
        now = time.monotonic()
        if now - self._last_stats < 1.0:
            return
        self._last_stats = now
        manager = self.state.manager
        stats = manager.get_stats()
        quotes = {}
        for symbol in sorted(self.state.quote_sources):
            tick = manager.latest(symbol)
            if tick is not None:
                quotes[symbol] = {"bid": tick.bid, "ask": tick.ask, "last": tick.last,
                                  "source": self.state.quote_sources[symbol]}
        self.emit("stats", total=stats["total"], health=manager.get_health_status(),
                  quotes=quotes, orders=stats["orders"])

    def stopping(self) -> None:
        self.emit("stopping")

    def close(self) -> None:
        self.emit("stopped")
        logging.getLogger().handlers[:] = self._saved
