"""Adaptation: the receiver's link reports and the sender's level policy with its hysteresis."""

from __future__ import annotations

import pytest

from vid2vid.call.adapt import (
    AdaptationConfig,
    AdaptationPolicy,
    LinkReporter,
    QualityLevel,
    default_levels,
)
from vid2vid.call.control import LinkReport
from vid2vid.errors import ConfigError

FPS = 25


def _feed(reporter, sequences, start_s=0.0, clock_offset_ms=5_000_000, extra_ms=None):
    """Packets captured every 40 ms, arriving 20 ms later (+ ``extra_ms[i]`` of queueing)."""
    reports = []
    for i, sequence in enumerate(sequences):
        captured = start_s + i / FPS
        arrival = captured + 0.020 + (extra_ms[i] / 1000 if extra_ms else 0.0)
        stamp = (round(captured * 1000) - clock_offset_ms) % (1 << 24)
        report = reporter.motion(sequence % 65536, stamp, 30, arrival)
        if report is not None:
            reports.append(report)
    return reports


def test_reports_come_once_an_interval_and_count_gaps_as_loss_across_the_wrap():
    reporter = LinkReporter(interval_s=1.0)
    sequences = [s for s in range(65500, 65500 + 100) if s % 5 != 0]  # every fifth lost
    reports = _feed(reporter, sequences)
    assert len(reports) == 3  # 80 packets over 3.2 s: a report after each whole second
    for report in reports:
        assert 0.15 <= report.loss <= 0.25
        assert report.kbps == pytest.approx(report.received * 30 * 8 / report.interval_ms, 0.01)
    # Clock offset between the ends cancels out: a steady path is not late.
    assert all(r.delay_ms < 1.0 and r.late == 0 for r in reports)


def test_reordered_and_duplicated_packets_are_not_loss():
    reporter = LinkReporter(interval_s=1.0)
    sequences = list(range(60))
    sequences[10], sequences[11] = sequences[11], sequences[10]
    sequences[30] = 29  # a duplicate instead of packet 30: that one is lost
    reports = _feed(reporter, sequences)
    assert sum(r.lost for r in reports) <= 1


def test_a_packet_reordered_across_the_end_of_an_interval_is_paid_back():
    reporter = LinkReporter(interval_s=1.0)
    sequences = list(range(75))
    sequences[24], sequences[25] = sequences[25], sequences[24]  # 24 lands in the next second
    reports = _feed(reporter, sequences)
    assert sum(r.lost for r in reports) <= 1
    assert reports[-1].lost == 0


def test_a_queue_building_up_shows_as_lateness():
    reporter = LinkReporter(interval_s=1.0, late_ms=150.0)
    extra = [0.0] * 50 + [min(400.0, 20.0 * i) for i in range(100)]  # a queue, up to 400 ms
    # A busy CPU delays some packets of the clean part by up to 170 ms: not a queue.
    extra[5:50:3] = [170.0] * len(extra[5:50:3])
    reports = _feed(reporter, list(range(150)), extra_ms=extra)
    assert reports[0].delay_ms < 1.0 and reports[0].late > 0  # late packets, but no queue
    assert reports[-1].delay_ms > 250 and reports[-1].late > 10


def _report(loss=0.0, delay_ms=None):
    """A report of ``loss``; lossy ones show some queueing (congestion) unless told."""
    if delay_ms is None:
        delay_ms = 120.0 if loss >= 0.05 else 0.0
    received = 100
    lost = round(received * loss / (1 - loss)) if loss < 1 else received
    return LinkReport(1000.0, received, lost, 0, delay_ms, 20.0)


def _run(policy, reports, start_s=0.0):
    """One report a second; the level after each."""
    levels = []
    for i, report in enumerate(reports):
        policy.on_report(report, start_s + i + 1)
        levels.append(policy.level)
    return levels


def test_the_policy_steps_down_on_loss_or_lateness_and_holds_between_steps():
    policy = AdaptationPolicy(default_levels(), AdaptationConfig(start_level=0, down_hold_s=2))
    levels = _run(policy, [_report(loss=0.3)] * 7)
    # One step per hold time, to the lowest level and no further.
    assert levels == [0, 1, 1, 2, 2, 3, 3]
    policy = AdaptationPolicy(default_levels(), AdaptationConfig(start_level=0))
    assert _run(policy, [_report(delay_ms=400)] * 3)[-1] == 1
    assert policy.history[-1].reason == "queuing delay 400 ms"
    # A single late second (a busy CPU, not a queue) between clean ones moves nothing.
    policy = AdaptationPolicy(default_levels(), AdaptationConfig(start_level=0))
    assert set(_run(policy, [_report(), _report(delay_ms=400)] * 6)) == {0}


def test_loss_is_judged_over_several_reports_and_heavy_loss_at_once():
    policy = AdaptationPolicy(default_levels(), AdaptationConfig(start_level=0))
    # One lost pack now and then (a report at 8 %, then clean ones): not a bad path.
    assert set(_run(policy, [_report(loss=0.08), _report(), _report()] * 5)) == {0}
    policy = AdaptationPolicy(default_levels(), AdaptationConfig(start_level=0))
    assert _run(policy, [_report(loss=0.12)] * 3)[-1] == 1  # steady 12 %: down
    policy = AdaptationPolicy(default_levels(), AdaptationConfig(start_level=0))
    assert _run(policy, [_report(), _report(), _report(loss=0.4)])[-1] == 1  # heavy: at once
    # Loss with no queue at all: a lossy radio, not a full link; the level holds.
    policy = AdaptationPolicy(default_levels(), AdaptationConfig(start_level=0))
    assert set(_run(policy, [_report(loss=0.2, delay_ms=0.0)] * 10)) == {0}


def test_recovery_needs_clean_reports_for_a_while_and_reports_between_thresholds_hold():
    config = AdaptationConfig(start_level=3, up_after_s=5)
    policy = AdaptationPolicy(default_levels(), config)
    # Between the thresholds (5 % loss: neither degrading nor clean): nothing moves.
    assert set(_run(policy, [_report(loss=0.05)] * 20)) == {3}
    # Clean: one step up after 5 s of it, then another 5 s later.
    levels = _run(policy, [_report()] * 12, start_s=20)
    assert levels[:5] == [3] * 5 and levels[5] == 2
    assert levels[6:11] == [2] * 5 and levels[11] == 1


def test_a_flapping_link_backs_off_its_probing():
    config = AdaptationConfig(start_level=1, up_after_s=4, down_hold_s=1, probe_s=10)
    policy = AdaptationPolicy(default_levels(), config)
    times_up = []
    t = 0.0
    for _cycle in range(4):
        # Clean until the policy steps up, then the step up fails at once.
        while True:
            t += 1
            if policy.on_report(_report(), t) is not None:
                times_up.append(t)
                break
        t += 1
        policy.on_report(_report(loss=0.5), t)
    waits = [b - a for a, b in zip(times_up, times_up[1:], strict=False)]
    assert waits[0] < waits[1] < waits[2]  # each failed probe doubles the wait


def test_a_step_up_is_undone_by_the_first_late_report():
    config = AdaptationConfig(start_level=2, up_after_s=3, down_hold_s=2)
    policy = AdaptationPolicy(default_levels(), config)
    levels = _run(policy, [_report()] * 4 + [_report(delay_ms=300)])
    assert levels == [2, 2, 2, 1, 2]  # up at 4 s, back down at 5 s on one late report
    levels = _run(policy, [_report(delay_ms=300)] * 3, start_s=5)
    assert levels == [2, 3, 3]  # away from a probe, lateness must last two reports


def test_silence_from_the_receiver_is_a_bad_report_once_reports_have_come():
    policy = AdaptationPolicy(default_levels(), AdaptationConfig(start_level=0))
    assert policy.tick(100.0) is None  # no report yet: nothing to time out
    policy.on_report(_report(), 1.0)
    assert policy.tick(2.0) is None
    assert policy.tick(5.0) == 1
    assert policy.tick(5.5) is None  # one step per timeout


def test_levels_and_configs_refuse_bad_values():
    with pytest.raises(ConfigError, match="pack must be in 1..15, got 0"):
        QualityLevel("x", 30, 0, "webp", 80, 10.0)
    with pytest.raises(ConfigError, match="keyframe must be an image form"):
        QualityLevel("x", 30, 1, "volume-int8", 80, 10.0)
    with pytest.raises(ConfigError, match="recover_loss < degrade_loss"):
        AdaptationConfig(recover_loss=0.2, degrade_loss=0.1)
    with pytest.raises(ConfigError, match="at least one level"):
        AdaptationPolicy(())
    levels = default_levels(quality=20, pack=2)
    assert levels[0].motion_quality == 20 and levels[0].pack == 2
    assert [lv.pack for lv in levels] == sorted(lv.pack for lv in levels)
    assert all(lv.motion_quality <= 20 for lv in levels)
