"""The quality knob: uniform scalar quantization of motion values, one step per value group.

Quality is an integer 1..100, higher is finer. At :data:`REFERENCE_QUALITY` each group uses its
base step; every :data:`HALVING_QUALITY` points up halves the steps (and costs about one bit more
per value), every as many points down doubles them. So quality 100 is 32x finer than 50 and
quality 1 about 30x coarser, a range wide enough that rate control never runs out of knob.

Why these ranges and steps (face-vid2vid and LivePortrait heads, keypoints in [-1, 1] image units,
1 unit = 128 px at 256 px and 256 px at 512 px output):

- angles: a head turns at most ±90° (the pose classifier's bins end there). An angle error e moves
  a keypoint at radius ~0.7 by ~0.7 · e (rad); the 0.25° base step is ~0.4 px at 512 px at worst.
- translation: a tracked, cropped face stays within ±0.3 of the crop centre; base step 0.002
  (worst error 0.001 = 0.26 px at 512 px).
- deformation δ: expression offsets stay within ±0.1; they move single keypoints (mouth, eyes),
  so they get the same 0.002 step as translation.
- scale: LivePortrait's learned s stays within 0.5..1.5 and multiplies every keypoint (|x| < 1),
  so a scale error is a position error of the same size: 0.002.

The ranges also give the intra prior (:func:`intra_spread`) and the prior the first predicted
packets use before the sender has fitted one (:func:`default_delta_spread`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from vid2vid.codec.bitstream.motion_params import Group, MotionLayout
from vid2vid.errors import ConfigError

QUALITY_MIN = 1
QUALITY_MAX = 100
#: The quality at which every group uses its base step.
REFERENCE_QUALITY = 50
#: Quality points per halving of the steps.
HALVING_QUALITY = 10
#: Symbols saturate here, so any finite input gives a bounded integer (2**31 - 1 steps is far
#: outside every range below at every quality).
SYMBOL_LIMIT = (1 << 31) - 1


@dataclass(frozen=True)
class GroupRange:
    """The values a group takes on real heads, and its step at :data:`REFERENCE_QUALITY`."""

    low: float
    high: float
    base_step: float

    @property
    def centre(self) -> float:
        return (self.low + self.high) / 2


RANGES: dict[Group, GroupRange] = {
    Group.ANGLE: GroupRange(-90.0, 90.0, 0.25),
    Group.TRANSLATION: GroupRange(-0.3, 0.3, 0.002),
    Group.DEFORMATION: GroupRange(-0.1, 0.1, 0.002),
    Group.SCALE: GroupRange(0.5, 1.5, 0.002),
}


def check_quality(quality: int) -> int:
    """``quality`` as an int, or ConfigError when it is not an integer in 1..100."""
    if isinstance(quality, bool) or not isinstance(quality, int | np.integer):
        raise ConfigError(f"quality must be an integer, got {quality!r}")
    if not QUALITY_MIN <= quality <= QUALITY_MAX:
        raise ConfigError(f"quality {quality} is out of range {QUALITY_MIN}..{QUALITY_MAX}")
    return int(quality)


def group_step(group: Group, quality: int) -> float:
    """The quantization step of ``group`` at ``quality`` (in the group's unit)."""
    halvings = (check_quality(quality) - REFERENCE_QUALITY) / HALVING_QUALITY
    return RANGES[group].base_step * 2.0**-halvings


def intra_spread(group: Group) -> float:
    """Laplace scale of absolute values around the centre: an eighth of the range."""
    r = RANGES[group]
    return (r.high - r.low) / 8


def default_delta_spread(group: Group) -> float:
    """Laplace scale of a change within one intra period, before any has been measured."""
    r = RANGES[group]
    return (r.high - r.low) / 64


@dataclass(frozen=True)
class Quantizer:
    """Maps a frame's values (wire order) to integer symbols and back at one quality."""

    layout: MotionLayout
    quality: int
    steps: np.ndarray = field(init=False, repr=False, compare=False)  # size
    centres: np.ndarray = field(init=False, repr=False, compare=False)  # size

    def __post_init__(self) -> None:
        groups = [Group(g) for g in range(self.layout.num_groups)]
        steps = np.array([group_step(g, self.quality) for g in groups])
        centres = np.array([RANGES[g].centre for g in groups])
        object.__setattr__(self, "steps", steps[self.layout.groups])
        object.__setattr__(self, "centres", centres[self.layout.groups])

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """Nearest multiples of the step around each centre, saturated at ±SYMBOL_LIMIT (int64)."""
        with np.errstate(over="ignore"):  # a huge value becomes ±inf, then saturates
            scaled = np.rint((values - self.centres) / self.steps)
        return np.clip(scaled, -SYMBOL_LIMIT, SYMBOL_LIMIT).astype(np.int64)

    def dequantize(self, symbols: np.ndarray) -> np.ndarray:
        """The values the symbols stand for (float64)."""
        return symbols * self.steps + self.centres


@lru_cache(maxsize=64)
def quantizer(layout: MotionLayout, quality: int) -> Quantizer:
    """A shared :class:`Quantizer` (a decoder builds one per intra packet; this keeps it cheap)."""
    return Quantizer(layout, quality)
