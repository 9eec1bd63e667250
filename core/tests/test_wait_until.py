"""stockfish_core.testing.wait_until: the one wait-for-a-condition loop of the test kits."""

from __future__ import annotations

import asyncio

import pytest

from stockfish_core.testing import wait_until


async def test_an_event_wakes_the_check_and_the_value_is_returned() -> None:
    changed = asyncio.Event()
    box: list[int] = []
    loop = asyncio.get_running_loop()
    loop.call_soon(lambda: (box.append(7), changed.set()))
    assert await wait_until(lambda: box and box[0], changed, 5, "a value") == 7


async def test_an_awaitable_wakes_the_check() -> None:
    box: list[int] = []

    async def next_change() -> None:
        box.append(1)

    assert await wait_until(lambda: len(box) >= 3, next_change, 5, "three changes")
    assert len(box) == 3


async def test_recheck_sees_what_only_time_changes() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    never = asyncio.Event()
    assert await wait_until(lambda: loop.time() - start > 0.05, never, 5, "time", recheck=0.01)


async def test_a_timeout_names_what_was_awaited() -> None:
    with pytest.raises(TimeoutError, match=r"after 0\.05s waiting for the moon"):
        await wait_until(lambda: False, asyncio.Event(), 0.05, "the moon")
