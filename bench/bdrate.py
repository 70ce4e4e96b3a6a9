"""Bjøntegaard delta rate and the equal-quality bitrate ratio of two rate–quality curves.

BD-rate (VCEG-M33): fit log(rate) as a polynomial of quality (cubic with four or more points,
lower order with fewer) for each codec, integrate both over the quality range where the curves
overlap, and turn the mean log-rate difference into a percentage: the test codec needs
``bd_rate`` % more (negative: less) bit rate than the anchor for the same quality, averaged
over the overlap. Outside the overlap nothing is claimed: no overlap gives ``None`` and the
reason.

Only each curve's non-dominated points are used (a point that costs more and is no better than
another is never an operating point anyone would pick), so an encoder that cannot buy quality
with bits shows up as "fewer than 2 useful points" instead of a meaningless fit. Metrics where
lower is better (AKD, identity distance) are passed with ``higher_is_better=False``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BDResult", "RateRatio", "bd_rate", "equal_quality_ratio", "pareto"]


@dataclass(frozen=True)
class BDResult:
    """BD-rate of ``test`` against ``anchor`` in percent (``None`` with ``reason`` when undefined)."""

    percent: float | None
    reason: str | None
    overlap: tuple[float, float] | None  # quality range both curves cover


@dataclass(frozen=True)
class RateRatio:
    """Bit rates of both codecs at one quality inside the overlap; ``ratio`` = anchor / test."""

    quality: float
    anchor_kbps: float
    test_kbps: float

    @property
    def ratio(self) -> float:
        return self.anchor_kbps / self.test_kbps


def pareto(
    rates: Sequence[float], qualities: Sequence[float], higher_is_better: bool = True
) -> list[tuple[float, float]]:
    """The non-dominated (rate, quality) points, rate ascending and quality strictly rising.

    Quality is returned sign-flipped when lower is better, so callers always see "higher is
    better"; points with a non-finite rate or quality (PSNR of identical frames, a metric with
    no face) are dropped.
    """
    sign = 1.0 if higher_is_better else -1.0
    points = sorted(
        (float(r), sign * float(q))
        for r, q in zip(rates, qualities, strict=True)
        if q is not None and math.isfinite(float(q)) and math.isfinite(float(r)) and r > 0
    )
    front: list[tuple[float, float]] = []
    for rate, quality in points:
        if not front or quality > front[-1][1]:
            front.append((rate, quality))
    return front


def _overlap(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> tuple[tuple[float, float] | None, str | None]:
    if len(a) < 2 or len(b) < 2:
        which = "anchor" if len(a) < 2 else "test"
        return None, f"the {which} curve has fewer than 2 useful (non-dominated) points"
    low = max(a[0][1], b[0][1])
    high = min(a[-1][1], b[-1][1])
    if not low < high:
        return None, (
            f"the curves do not overlap in quality (anchor {a[0][1]:.4g}..{a[-1][1]:.4g}, "
            f"test {b[0][1]:.4g}..{b[-1][1]:.4g})"
        )
    return (low, high), None


def _integral(points: list[tuple[float, float]], low: float, high: float) -> float:
    """Integral of the fitted log-rate over quality from ``low`` to ``high``."""
    quality = np.array([q for _, q in points])
    log_rate = np.log(np.array([r for r, _ in points]))
    degree = min(3, len(points) - 1)
    poly = np.polyint(np.polyfit(quality, log_rate, degree))
    return float(np.polyval(poly, high) - np.polyval(poly, low))


def bd_rate(
    anchor_rates: Sequence[float],
    anchor_quality: Sequence[float],
    test_rates: Sequence[float],
    test_quality: Sequence[float],
    higher_is_better: bool = True,
) -> BDResult:
    """Average bit-rate difference of ``test`` vs ``anchor`` at equal quality, in percent."""
    a = pareto(anchor_rates, anchor_quality, higher_is_better)
    b = pareto(test_rates, test_quality, higher_is_better)
    overlap, reason = _overlap(a, b)
    if overlap is None:
        return BDResult(None, reason, None)
    low, high = overlap
    mean_diff = (_integral(b, low, high) - _integral(a, low, high)) / (high - low)
    sign = 1.0 if higher_is_better else -1.0
    return BDResult((math.exp(mean_diff) - 1.0) * 100.0, None, (sign * low, sign * high))


def _rate_at(points: list[tuple[float, float]], quality: float) -> float:
    """Bit rate reaching ``quality``: piecewise linear in log-rate between Pareto points."""
    qualities = [q for _, q in points]
    log_rates = [math.log(r) for r, _ in points]
    return math.exp(float(np.interp(quality, qualities, log_rates)))


def equal_quality_ratio(
    anchor_rates: Sequence[float],
    anchor_quality: Sequence[float],
    test_rates: Sequence[float],
    test_quality: Sequence[float],
    higher_is_better: bool = True,
    samples: int = 3,
) -> tuple[list[RateRatio], str | None]:
    """Both codecs' rates at ``samples`` qualities spread over the overlap (its ends included).

    ``ratio`` > 1 means the anchor (x264) needs that many times the test codec's bit rate.
    """
    a = pareto(anchor_rates, anchor_quality, higher_is_better)
    b = pareto(test_rates, test_quality, higher_is_better)
    overlap, reason = _overlap(a, b)
    if overlap is None:
        return [], reason
    sign = 1.0 if higher_is_better else -1.0
    out = []
    for quality in np.linspace(overlap[0], overlap[1], samples):
        q = float(quality)
        out.append(RateRatio(sign * q, _rate_at(a, q), _rate_at(b, q)))
    return out, None
