"""Fixtures: real publishers on 127.0.0.1 (or ipc in a temporary folder), always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stockfish_zmq.testing.publisher import Publisher


@pytest.fixture
def publisher_factory() -> Iterator[Callable[..., Publisher]]:
    """Start publishers (bound to 127.0.0.1 free ports unless told); stop them after."""
    started: list[Publisher] = []

    def make(endpoint: str = "tcp://127.0.0.1:*", **kwargs: Any) -> Publisher:
        pub = Publisher(endpoint, **kwargs).start()
        started.append(pub)
        return pub

    yield make
    for pub in started:
        pub.stop()


@pytest.fixture
def publisher(publisher_factory: Callable[..., Publisher]) -> Publisher:
    """One publisher with a snapshot service and session ``s1``."""
    return publisher_factory(snapshot_endpoint="tcp://127.0.0.1:*", session="s1")
