"""The core's sequencer and the manager's hub under arbitrary arrival orders, duplicates,
losses, bad sequence numbers and bad payloads: nothing raises out, nothing is delivered
twice or out of order within a stream, nothing received is silently lost (it is either
delivered or counted), and good updates beside bad ones are delivered."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stockfish_core.marketdata import MarketDataHub
from stockfish_core.models import DataType, MarketUpdate, NewsEvent, PriceTick
from stockfish_core.sequencing import Sequencer
from stockfish_core.stats import ConnectorStats


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


#: (sequence, seconds of silence before it)
arrivals = st.lists(st.tuples(st.integers(0, 60), st.sampled_from([0.0, 0.0, 0.0, 0.01, 1.0])),
                    max_size=120)


@given(arrivals, st.integers(0, 8), st.sampled_from([None, "a"]))
def test_the_sequencer_delivers_each_number_once_in_order_within_a_stream(
        items: list[tuple[int, float]], buffer_size: int, session: Any) -> None:
    clock = Clock()
    stats = ConnectorStats()
    seq: Sequencer[int] = Sequencer(stats=stats, buffer_size=buffer_size, wait=0.05,
                                    restart_silence=0.5, reset_window=30, clock=clock)
    tracker = seq.tracker("X")
    out: list[int] = []
    streams: list[list[int]] = [[]]
    restarts = 0
    for n, pause in items:
        clock.now += pause
        for _t, held in seq.expire():
            out.extend(held)
        before = stats.restarts
        got = seq.offer(tracker, n, n, session)
        if stats.restarts != before:
            restarts += 1
        out.extend(got)
    out.extend(seq.flush(tracker))
    assert stats.restarts == restarts
    # Within one stream (between restarts) the numbers delivered rise strictly.
    for n in out:
        if streams[-1] and n <= streams[-1][-1]:
            streams.append([])
        streams[-1].append(n)
    assert len(streams) <= stats.restarts + 1
    # Every arrival is delivered, or counted as a duplicate.
    assert len(out) + stats.duplicates == len(items)
    assert not tracker.pending and not seq.waiting


updates = st.lists(st.one_of(
    st.builds(lambda s, n: MarketUpdate(DataType.PRICE_TICK, PriceTick(s, last=1.0), "f", n),
              st.sampled_from(["A", "B"]), st.one_of(st.none(), st.integers(0, 30))),
    st.builds(lambda n: MarketUpdate(DataType.NEWS, NewsEvent("t"), "f", n),
              st.one_of(st.none(), st.integers(0, 5))),
    st.builds(lambda bad: MarketUpdate(DataType.PRICE_TICK, PriceTick("A"), "f", bad),
              st.sampled_from([-1, 1.5, "7", [1]])),
    st.builds(lambda p: MarketUpdate(DataType.TRADE, p, "f"),
              st.sampled_from([{"symbol": ["x"]}, {"symbol": {}}, object()])),
), max_size=80)


@given(updates)
def test_the_hub_never_raises_and_accounts_for_every_update(batch: list[MarketUpdate]
                                                            ) -> None:
    hub = MarketDataHub(5_000_000_000)
    delivered: list[MarketUpdate] = []

    class Sub:
        def on_update(self, update: MarketUpdate) -> None:
            delivered.append(update)

    hub.add_subscriber(Sub())
    stats = ConnectorStats()
    hub.process("f", stats, batch, 1)
    hub.reset_sequences("f")  # delivers what the reorder buffers still hold
    assert stats.updates_received == len(batch)
    held = stats.updates_received - len(delivered) - stats.duplicates - stats.data_errors
    assert held == 0, (held, stats.as_dict())
    assert len({id(u) for u in delivered}) == len(delivered)
