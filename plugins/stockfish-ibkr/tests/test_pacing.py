"""The request pacer: a sliding window, and waiting senders spaced out rather than sent
in a burst when the window frees up."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from stockfish_ibkr.pacing import RequestPacer


async def admissions(pacer: RequestPacer, count: int) -> list[float]:
    times: list[float] = []

    async def one() -> None:
        await pacer.acquire()
        times.append(time.monotonic())

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), 10)
    return times


def most_in_any_window(times: list[float], window: float) -> int:
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


async def test_waiting_senders_leave_spaced_out_within_the_window() -> None:
    pacer = RequestPacer(10, 0.2, spacing=0.02)
    times = await admissions(pacer, 30)
    assert (pacer.admitted, pacer.delayed) == (30, 20)
    # The first window goes at once; after it, one at a time, 20 ms apart at least.
    assert times[9] - times[0] < 0.02
    gaps = [b - a for a, b in itertools.pairwise(times[10:])]
    assert min(gaps) >= 0.02 - 1e-3
    assert most_in_any_window(times, 0.2) <= 10


async def test_a_delayed_first_window_does_not_push_a_receiver_over_its_limit() -> None:
    # 40 a second against a receiver that allows 50 and counts on arrival: the first
    # window reaches it 150 ms late, what follows on time.
    pacer = RequestPacer(40, 1.0, spacing=1.0 / 40)
    sent = await admissions(pacer, 80)
    arrived = [t + 0.15 if i < 40 else t for i, t in enumerate(sent)]
    assert most_in_any_window(sorted(arrived), 0.98) <= 50


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="spacing >= 0"):
        RequestPacer(10, 1.0, spacing=-1)
