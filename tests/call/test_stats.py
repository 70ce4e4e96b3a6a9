"""CallStats keeps a bounded record per stage, still sliceable as the benchmark reads it."""

from __future__ import annotations

from vid2vid.call.stats import RECORD_LIMIT, CallStats, percentiles


def test_stage_record_is_bounded_and_keeps_the_newest():
    stats = CallStats(record_limit=100)
    for i in range(1000):
        stats.stage("render", float(i))
    record = stats.all_stages["render"]
    assert 100 <= len(record) <= 110
    assert record[-1] == 999.0
    assert list(record) == [float(i) for i in range(1000 - len(record), 1000)]
    # what bench/call_latency.py does: len() to skip a warm-up, then a slice
    skip = len(record)
    stats.stage("render", 1000.0)
    assert record[skip - 1 :][-1] == 1000.0
    assert percentiles(record[-10:])["n"] == 10


def test_default_limit_and_unrecorded_stages():
    stats = CallStats()
    assert RECORD_LIMIT == 100_000
    stats.stage("x", 1.0, record=False)
    assert "x" not in stats.all_stages
    for _ in range(RECORD_LIMIT + RECORD_LIMIT // 10 + 5):
        stats.stage("y", 2.0)
    assert len(stats.all_stages["y"]) <= RECORD_LIMIT + RECORD_LIMIT // 10
