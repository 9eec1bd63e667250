"""IB history ranges: any range, any bar size, is cut into requests that the simulator
(holding IB's table of longest durations) accepts and that cover every bar of the range."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("stockfish_ibkr")

from stockfish_ibkr.history import bar_chunks, max_duration
from stockfish_ibkr.marketdata import _BAR_SIZES
from stockfish_ibkr.testing.history import (
    bar_seconds,
    duration_seconds,
    max_duration_seconds,
)

NS = 1_000_000_000
T0 = 1_700_000_000  # 2023-11-14


def _end_epoch(text: str) -> int:
    moment = dt.datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp())


@given(interval=st.sampled_from(sorted(_BAR_SIZES)),
       start=st.integers(T0 * NS, (T0 + 86400 * 365) * NS),
       span=st.integers(1, 400 * 86400 * NS))
def test_chunks_cover_the_range_within_ibs_limits(interval: str, start: int,
                                                  span: int) -> None:
    secs = bar_seconds(_BAR_SIZES[interval])
    assert max_duration(secs) == max_duration_seconds(secs)  # the plugin and the simulator
    end = start + span
    chunks = bar_chunks(start, end, secs)
    assert len(chunks) <= span // NS // max(1, max_duration(secs) // 2) + 2
    first_bar = start // NS - (start // NS) % secs
    covered_to = None
    for end_text, duration in chunks:
        length = duration_seconds(duration)
        assert length <= max_duration_seconds(secs)  # the simulator (IB) takes it
        chunk_end = _end_epoch(end_text)
        if covered_to is not None:
            assert chunk_end >= covered_to  # no gap between requests
        covered_to = chunk_end - length
    assert chunks and covered_to is not None and covered_to <= first_bar
    assert _end_epoch(chunks[0][0]) * NS >= end  # the bar holding the range's end
