"""BD-rate on curves whose answer is known in closed form."""

from __future__ import annotations

import pytest

from vid2vid.bench.bdrate import bd_rate, equal_quality_ratio, pareto

RATES = [10.0, 20.0, 40.0, 80.0, 160.0]
PSNR = [28.0, 31.0, 33.5, 35.5, 37.0]


def test_identical_curves_give_zero() -> None:
    result = bd_rate(RATES, PSNR, RATES, PSNR)
    assert result.percent == pytest.approx(0.0, abs=1e-9)
    assert result.reason is None and result.overlap == (28.0, 37.0)


def test_half_the_rate_gives_minus_fifty_percent_and_ratio_two() -> None:
    half = [r / 2 for r in RATES]
    assert bd_rate(RATES, PSNR, half, PSNR).percent == pytest.approx(-50.0)
    assert bd_rate(half, PSNR, RATES, PSNR).percent == pytest.approx(100.0)
    ratios, reason = equal_quality_ratio(RATES, PSNR, half, PSNR)
    assert reason is None and [r.quality for r in ratios] == pytest.approx([28.0, 32.5, 37.0])
    assert all(r.ratio == pytest.approx(2.0) for r in ratios)


def test_lower_is_better_metrics_flip_the_sign() -> None:
    akd = [6.0, 4.0, 3.0, 2.5, 2.2]
    result = bd_rate(RATES, akd, [r / 2 for r in RATES], akd, higher_is_better=False)
    assert result.percent == pytest.approx(-50.0)
    assert result.overlap == (6.0, 2.2)


def test_partial_overlap_is_stated() -> None:
    shifted = [q + 3.0 for q in PSNR]  # test is better: same rate, 3 dB more
    result = bd_rate(RATES, PSNR, RATES, shifted)
    assert result.overlap == (31.0, 37.0)
    assert result.percent is not None and result.percent < 0


def test_no_overlap_or_flat_curve_gives_none_with_reason() -> None:
    result = bd_rate(RATES, PSNR, [1.0, 2.0], [15.0, 16.0])
    assert result.percent is None and "do not overlap" in (result.reason or "")
    flat = bd_rate(RATES, PSNR, [1.0, 2.0, 4.0], [30.0, 29.0, 30.0])
    assert flat.percent is None
    assert flat.reason == "the test curve has fewer than 2 useful (non-dominated) points"
    assert equal_quality_ratio(RATES, PSNR, [1.0, 2.0], [15.0, 16.0])[0] == []


def test_pareto_drops_dominated_and_non_finite_points() -> None:
    front = pareto([5, 10, 20, 30, 40], [30.0, 29.0, 33.0, float("inf"), 32.0])
    assert front == [(5.0, 30.0), (20.0, 33.0)]
