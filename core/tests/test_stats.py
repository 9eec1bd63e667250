"""What the statistics keep stays bounded by count: latency samples and rate-limit keys."""

from __future__ import annotations

import logging

import pytest

from stockfish_core.stats import ConnectorStats, LatencySamples, RateLimitedLog


def test_latency_samples_keep_the_latest_size_as_machine_integers() -> None:
    samples = LatencySamples(size=100)
    for i in range(1, 351):
        samples.add(i * 1_000)
        assert len(samples) <= 100
    assert samples.count == 350
    assert len(samples) == 100
    assert samples._ring.itemsize == 8  # not one Python int object per sample
    assert samples.samples == [i * 1_000 for i in range(251, 351)]  # oldest first
    assert samples.recent(3) == [350_000, 349_000, 348_000]
    summary = samples.summary()
    assert summary["count"] == 350
    assert summary["max_us"] == 350.0
    assert summary["p50_us"] == 300.0


def test_latency_samples_before_the_ring_is_full() -> None:
    samples = LatencySamples(size=10)
    assert samples.recent(5) == [] and samples.summary()["p50_us"] is None
    for v in (5, 1, 3):
        samples.add(v)
    assert samples.samples == [5, 1, 3]
    assert samples.recent(5) == [3, 1, 5]
    with pytest.raises(ValueError, match="at least one sample"):
        LatencySamples(size=0)


def test_connector_stats_latencies_are_bounded() -> None:
    stats = ConnectorStats()
    for i in range(25_000):
        stats.ack_latency.add(i)
    assert len(stats.ack_latency) == stats.ack_latency.size == 10_000
    assert stats.as_dict()["ack_latency"]["count"] == 25_000


def test_rate_limited_log_forgets_quiet_keys_beyond_its_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("stockfish.test.stats"), interval=10,
                             clock=lambda: now[0], max_keys=64)
    with caplog.at_level(logging.WARNING, "stockfish.test.stats"):
        for i in range(1_000):  # a new key (a name from the wire) each time
            now[0] += 0.5
            assert limited.log(logging.WARNING, f"book:stream-{i}", "invalid %d", i)
            limited.log(logging.WARNING, f"book:stream-{i}", "invalid %d", i)  # suppressed
            assert limited.keys <= 64
    assert len(caplog.records) == 1_000  # one line per new key: forgetting loses none
    # The suppressed lines of forgotten windows are counted, not lost.
    assert limited.forgotten_suppressed + sum(
        int(w[2]) for w in limited._windows.values()) == 1_000


def test_rate_limited_log_keeps_live_keys_budgeted_when_full() -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("stockfish.test.stats"), interval=10,
                             clock=lambda: now[0], max_keys=4)
    for key in "abcd":
        assert limited.log(logging.WARNING, key, "x")
    assert not limited.log(logging.WARNING, "d", "x")  # within its interval
    assert limited.log(logging.WARNING, "e", "x")  # room made for a new key
    assert limited.keys <= 4
    assert not limited.log(logging.WARNING, "e", "x")
