"""Rate control: the highest quality that meets a bit rate, and a clear error when none does."""

from __future__ import annotations

import pytest

from vid2vid.bench.synthetic_motion import talking_head
from vid2vid.codec.bitstream.motion_params import MotionLayout
from vid2vid.codec.bitstream.rate import motion_bits_per_second, quality_for_kbps
from vid2vid.errors import ConfigError

LAYOUT = MotionLayout(num_kp=15, has_scale=False)
SAMPLES = talking_head(LAYOUT, 120, seed=7)


def rate(quality: int) -> float:
    return motion_bits_per_second(SAMPLES, LAYOUT, quality, fps=30.0, intra_period=30)


@pytest.mark.parametrize(("kbps", "fixed"), [(10.0, 0.0), (6.0, 0.0), (12.0, 1500.0)])
def test_highest_quality_that_fits(kbps: float, fixed: float) -> None:
    quality = quality_for_kbps(SAMPLES, LAYOUT, kbps, 30.0, 30, fixed_bits_per_second=fixed)
    assert rate(quality) + fixed <= kbps * 1000
    if quality < 100:
        assert rate(quality + 1) + fixed > kbps * 1000


def test_generous_target_gives_top_quality() -> None:
    assert quality_for_kbps(SAMPLES, LAYOUT, 1000.0, 30.0, 30) == 100


def test_impossible_target_names_the_minimum() -> None:
    least = (rate(1) + 500.0) / 1000
    with pytest.raises(ConfigError) as caught:
        quality_for_kbps(SAMPLES, LAYOUT, 1.0, 30.0, 30, fixed_bits_per_second=500.0)
    assert str(caught.value) == f"motion cannot fit 1 kbit/s: quality 1 needs {least:.2f} kbit/s"


def test_rate_counts_headers() -> None:
    assert rate(1) > 8 * 8 * 30  # at least the 8-byte header of every packet


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": []}, "rate control needs at least one sample frame"),
        ({"fps": 0.0}, "fps 0.0 and kbps 10.0 must be positive"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    arguments = {
        "samples": SAMPLES,
        "layout": LAYOUT,
        "kbps": 10.0,
        "fps": 30.0,
        "intra_period": 30,
    }
    with pytest.raises(ConfigError) as caught:
        quality_for_kbps(**{**arguments, **kwargs})
    assert str(caught.value) == message
