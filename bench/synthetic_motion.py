"""Deterministic, realistic-looking motion for bitstream tests and size measurements.

A talking head at 30 fps: slow head turns (yaw ±20°, pitch ±10°, roll ±6°), a drifting crop
(translation ±0.04), and expression deformations of ±0.01..0.03 made of a fixed per-keypoint
offset plus smooth 0.3..3 Hz oscillations (mouth and eyes move faster than the rest).
"""

from __future__ import annotations

import numpy as np

from vid2vid.codec.bitstream.motion_params import MotionLayout, MotionParams


def talking_head(
    layout: MotionLayout, frames: int, fps: float = 30.0, seed: int = 0
) -> list[MotionParams]:
    """``frames`` frames of smooth head motion with small expression changes."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps  # T
    k = layout.num_kp

    def wave(
        amplitude: float, low_hz: float, high_hz: float, shape: tuple[int, ...] = ()
    ) -> np.ndarray:
        """A sum of three sinusoids per element: T x shape."""
        total = np.zeros((frames, *shape))
        for _ in range(3):
            hz = rng.uniform(low_hz, high_hz, shape)
            phase = rng.uniform(0.0, 2 * np.pi, shape)
            total += np.sin(2 * np.pi * hz * t.reshape(-1, *[1] * len(shape)) + phase)
        return amplitude / 3 * total

    yaw, pitch, roll = wave(20.0, 0.05, 0.4), wave(10.0, 0.05, 0.5), wave(6.0, 0.05, 0.4)
    translation = wave(0.04, 0.05, 0.3, (3,))  # T x 3
    translation[:, 2] *= 0.25
    amplitude = rng.uniform(0.01, 0.03, (k, 3))  # K x 3
    deformation = rng.normal(0.0, 0.02, (k, 3)) + amplitude * wave(
        1.0, 0.3, 3.0, (k, 3)
    )  # T x K x 3
    scale = 1.0 + wave(0.03, 0.05, 0.3) if layout.has_scale else None
    return [
        MotionParams(
            yaw=yaw[i],
            pitch=pitch[i],
            roll=roll[i],
            translation=translation[i],
            deformation=deformation[i],
            scale=None if scale is None else scale[i],
        )
        for i in range(frames)
    ]
