"""One frame of motion as the bitstream sees it, and the fixed order its values travel in.

The bitstream is numpy-only (a thin client decodes packets without torch), so it has its own
per-frame record instead of the batched torch :class:`vid2vid.codec.keypoints.Motion`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property

import numpy as np

from vid2vid.errors import BitstreamError

#: The most keypoints a motion packet can describe (the intra packet spends 7 bits on K).
MAX_KEYPOINTS = 127


class Group(IntEnum):
    """Values that share a unit, a quantization step and an entropy-coder prior."""

    ANGLE = 0  # yaw, pitch, roll in degrees
    TRANSLATION = 1  # t, 3 values
    DEFORMATION = 2  # δ, K x 3 values
    SCALE = 3  # s, one value, only for models that learn it


@dataclass(frozen=True)
class MotionParams:
    """The motion of one frame: angles in degrees, t (3,), δ (K, 3), s or None."""

    yaw: float
    pitch: float
    roll: float
    translation: np.ndarray  # 3
    deformation: np.ndarray  # K x 3
    scale: float | None = None

    def __post_init__(self) -> None:
        translation = np.asarray(self.translation, dtype=np.float32)
        deformation = np.asarray(self.deformation, dtype=np.float32)
        if translation.shape != (3,):
            raise BitstreamError(f"translation has shape {translation.shape}, expected (3,)")
        if deformation.ndim != 2 or deformation.shape[1] != 3:
            raise BitstreamError(f"deformation has shape {deformation.shape}, expected (K, 3)")
        object.__setattr__(self, "translation", translation)
        object.__setattr__(self, "deformation", deformation)
        for name in ("yaw", "pitch", "roll"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.scale is not None:
            object.__setattr__(self, "scale", float(self.scale))

    @property
    def num_kp(self) -> int:
        return int(self.deformation.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MotionParams):
            return NotImplemented
        return (
            (self.yaw, self.pitch, self.roll, self.scale)
            == (other.yaw, other.pitch, other.roll, other.scale)
            and np.array_equal(self.translation, other.translation)
            and np.array_equal(self.deformation, other.deformation)
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays


@dataclass(frozen=True)
class MotionLayout:
    """How many values a frame has and their order on the wire.

    Order: yaw, pitch, roll, t_x, t_y, t_z, δ row by row (K x 3), then s if ``has_scale``.

    ``planar``: the model's motion has no depth (t_z and every δ_z are 0, as the lite family's
    weak-perspective fit gives). The values stay on the wire, so the packet syntax is the same,
    but both ends code them with a near-certain zero, which costs a few hundredths of a bit
    instead of the bits a deformation's spread would give them. Both ends take it from the
    model's config (:func:`vid2vid.codec.wire.layout_for`), like ``num_kp``.
    """

    num_kp: int
    has_scale: bool
    planar: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.num_kp <= MAX_KEYPOINTS:
            raise BitstreamError(
                f"num_kp {self.num_kp} is out of range 1..{MAX_KEYPOINTS} for a motion packet"
            )

    @property
    def size(self) -> int:
        """The number of scalar values of one frame."""
        return 6 + 3 * self.num_kp + int(self.has_scale)

    @cached_property
    def groups(self) -> np.ndarray:
        """The :class:`Group` of each value, in wire order (read-only, int64)."""
        counts = [3, 3, 3 * self.num_kp] + ([1] if self.has_scale else [])
        groups = np.repeat(np.arange(len(counts)), counts)  # size
        groups.flags.writeable = False
        return groups

    @cached_property
    def fixed_zero(self) -> np.ndarray:
        """Which values are always 0 (t_z and δ_z of a planar layout), in wire order."""
        mask = np.zeros(self.size, dtype=bool)
        if self.planar:
            mask[5] = True  # t_z
            mask[8 : 6 + 3 * self.num_kp : 3] = True  # δ_z of every keypoint
        mask.flags.writeable = False
        return mask

    @property
    def num_groups(self) -> int:
        return 4 if self.has_scale else 3

    def flatten(self, params: MotionParams) -> np.ndarray:
        """The values of ``params`` in wire order as float64, after checking they fit."""
        if params.num_kp != self.num_kp:
            raise BitstreamError(
                f"motion has {params.num_kp} keypoints, the layout expects {self.num_kp}"
            )
        if (params.scale is not None) != self.has_scale:
            expected = "a scale" if self.has_scale else "no scale"
            raise BitstreamError(f"motion scale is {params.scale}, the layout expects {expected}")
        head = [params.yaw, params.pitch, params.roll, *params.translation.tolist()]
        tail = [params.scale] if params.scale is not None else []
        values = np.concatenate([head, params.deformation.reshape(-1), tail])  # size
        if not np.isfinite(values).all():
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise BitstreamError(f"motion value {bad} is {values[bad]}, not a finite number")
        return values.astype(np.float64)

    def unflatten(self, values: np.ndarray) -> MotionParams:
        """Inverse of :meth:`flatten` (translation and deformation come back as float32)."""
        if values.shape != (self.size,):
            raise BitstreamError(f"motion vector has shape {values.shape}, expected ({self.size},)")
        end = 6 + 3 * self.num_kp
        scale = float(values[end]) if self.has_scale else None
        return MotionParams(
            yaw=float(values[0]),
            pitch=float(values[1]),
            roll=float(values[2]),
            translation=values[3:6],
            deformation=values[6:end].reshape(self.num_kp, 3),  # K x 3
            scale=scale,
        )
