"""Rate control: the finest motion quality that fits a bit rate, measured on sample frames.

Coded size falls monotonically (up to entropy-coder noise) as quality falls, so a binary search
over 1..100 finds the highest quality that fits in seven trial encodes of the samples.
"""

from __future__ import annotations

from collections.abc import Sequence

from vid2vid.codec.bitstream.motion import MotionEncoder
from vid2vid.codec.bitstream.motion_params import MotionLayout, MotionParams
from vid2vid.codec.bitstream.quantize import QUALITY_MAX, QUALITY_MIN
from vid2vid.errors import ConfigError


def motion_bits_per_second(
    samples: Sequence[MotionParams],
    layout: MotionLayout,
    quality: int,
    fps: float,
    intra_period: int,
) -> float:
    """The bit rate of ``samples`` coded as a stream at ``fps``, packet headers included."""
    encoder = MotionEncoder(layout, quality=quality, intra_period=intra_period)
    period_ms = 1000.0 / fps
    total = sum(
        len(encoder.encode(params, round(index * period_ms)))
        for index, params in enumerate(samples)
    )
    return 8.0 * total * fps / len(samples)


def quality_for_kbps(
    samples: Sequence[MotionParams],
    layout: MotionLayout,
    kbps: float,
    fps: float,
    intra_period: int,
    fixed_bits_per_second: float = 0.0,
) -> int:
    """The highest quality whose motion stream plus ``fixed_bits_per_second`` fits ``kbps``.

    ``fixed_bits_per_second`` is what else shares the budget, e.g. the keyframe amortized over
    the call. Raises ConfigError when even quality 1 does not fit, naming the least rate possible.
    """
    if not samples:
        raise ConfigError("rate control needs at least one sample frame")
    if fps <= 0 or kbps <= 0:
        raise ConfigError(f"fps {fps} and kbps {kbps} must be positive")
    budget = kbps * 1000.0 - fixed_bits_per_second

    def fits(quality: int) -> bool:
        return motion_bits_per_second(samples, layout, quality, fps, intra_period) <= budget

    if not fits(QUALITY_MIN):
        least = motion_bits_per_second(samples, layout, QUALITY_MIN, fps, intra_period)
        minimum = (least + fixed_bits_per_second) / 1000.0
        raise ConfigError(
            f"motion cannot fit {kbps:g} kbit/s: quality {QUALITY_MIN} needs {minimum:.2f} kbit/s"
        )
    low, high = QUALITY_MIN, QUALITY_MAX  # fits(low) holds throughout
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low
