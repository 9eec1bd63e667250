"""cancel_and_wait: tasks end for good, also those that survive a cancel."""

from __future__ import annotations

import asyncio

import pytest

from stockfish_core.tasks import cancel_and_wait


async def test_a_task_that_swallows_a_cancel_is_cancelled_again() -> None:
    started, never = asyncio.Event(), asyncio.Event()
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        started.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            swallowed += 1  # as 3.11's wait_for can
        await never.wait()

    task = asyncio.ensure_future(stubborn())
    plain = asyncio.ensure_future(never.wait())
    await asyncio.wait_for(started.wait(), 5)
    assert await asyncio.wait_for(cancel_and_wait([task, plain], wait=0.2), 5) == set()
    assert swallowed == 1
    assert task.cancelled() and plain.cancelled()


async def test_a_task_that_never_ends_is_returned() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def deaf() -> None:
        started.set()
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                pass

    task = asyncio.ensure_future(deaf())
    await asyncio.wait_for(started.wait(), 5)
    assert await cancel_and_wait([task], rounds=3, wait=0.01) == {task}
    assert not task.done()
    release.set()
    await asyncio.wait_for(task, 5)


async def test_an_error_is_logged_and_done_tasks_are_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    failed = asyncio.ensure_future(broken())
    finished = asyncio.ensure_future(asyncio.sleep(0, "ok"))
    await asyncio.wait({failed, finished})
    assert await cancel_and_wait([failed, finished]) == set()
    assert finished.result() == "ok"
    assert "ended with an error while being stopped" in caplog.text
    assert "boom" in caplog.text
