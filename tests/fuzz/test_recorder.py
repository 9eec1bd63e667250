"""The recorder's exactness claim under generated values: every price, size and custom
payload comes back as the same value, or it is counted (inexact or unrecordable); nothing
is lost silently and good updates beside bad ones are kept."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("pyarrow")

from stockfish_core.data import RecordingConfig, read_updates
from stockfish_core.data.recorder import Recorder
from stockfish_core.models import DataType, MarketUpdate, PriceTick, Trade

T0 = 1_765_000_000_000_000_000

#: What venues quote: decimal numbers with a few digits after the point.
quoted = st.decimals(min_value=0, max_value=10**12, places=8, allow_nan=False,
                     allow_infinity=False).map(float)
anything = st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e25)
maybe = st.one_of(st.none(), quoted, anything)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53), st.text(max_size=8),
              st.decimals(allow_nan=False, allow_infinity=False, places=6)),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.text(max_size=5), children, max_size=3)),
    max_leaves=8,
)


def record(updates: list[MarketUpdate]) -> tuple[Recorder, list[MarketUpdate]]:
    with tempfile.TemporaryDirectory() as tmp:
        recorder = Recorder(RecordingConfig(str(Path(tmp) / "rec"))).start()
        for update in updates:
            recorder.on_update(update)
        recorder.close()
        return recorder, read_updates(Path(tmp) / "rec")


@given(st.lists(st.tuples(maybe, maybe, maybe, quoted), min_size=1, max_size=20))
def test_prices_come_back_exactly_or_are_counted(rows: list[tuple[Any, ...]]) -> None:
    updates = [MarketUpdate(DataType.PRICE_TICK, PriceTick("SPY", bid, ask, last, size,
                                                           timestamp_ns=T0 + i),
                            "feed", i + 1, T0 + i, T0 + i)
               for i, (bid, ask, last, size) in enumerate(rows)]
    recorder, back = record(updates)
    assert len(back) == len(updates) == recorder.recorded
    differing = 0
    for mine, theirs in zip(updates, back, strict=True):
        for name in ("bid", "ask", "last", "bid_size"):
            a, b = getattr(mine.payload, name), getattr(theirs.payload, name)
            if a != b:
                differing += 1
                assert a is not None and b is not None
                assert b == pytest.approx(a, rel=1e-9, abs=1e-10)  # rounded at the scale
    assert differing <= recorder.inexact_values
    quoted_values = [v for row in rows for v in row if v is not None
                     and Decimal(repr(v)).as_tuple().exponent >= -8 and v < 1e18]
    if len(quoted_values) == sum(v is not None for row in rows for v in row):
        assert recorder.inexact_values == 0  # quoted decimals are always exact


@given(st.lists(st.one_of(json_values, st.just(object())), min_size=1, max_size=10))
def test_custom_payloads_come_back_or_are_counted(values: list[Any]) -> None:
    updates = [MarketUpdate(DataType.CUSTOM, {"symbol": "SPY", "value": v}, "feed", None, 0,
                            T0 + i) for i, v in enumerate(values)]
    trade = MarketUpdate(DataType.TRADE, Trade("SPY", 1.25, 3.0), "feed", None, 0, T0)
    recorder, back = record([*updates, trade])
    good = [u.payload for u in updates if _plain(u.payload["value"])]
    assert recorder.unrecordable == len(updates) - len(good)  # each bad one counted
    assert recorder.write_errors == 0
    assert trade in back  # good updates beside bad ones are kept
    assert [u.payload for u in back if u.data_type is DataType.CUSTOM] == good


def _plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(v) for v in value.values())
    return type(value) is not object
