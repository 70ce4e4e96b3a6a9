"""The bridge between the model's batched torch :class:`Motion` and the wire's numpy
:class:`MotionParams`, kept out of ``codec/bitstream`` so that package never imports torch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vid2vid.codec.bitstream.motion_params import MotionLayout, MotionParams
from vid2vid.codec.config import ModelConfig
from vid2vid.codec.keypoints import Motion


def layout_for(config: ModelConfig) -> MotionLayout:
    """What a motion packet of this model holds: K deformations, and a scale for LivePortrait."""
    return MotionLayout(
        num_kp=config.num_kp,
        has_scale=config.family in ("liveportrait", "lite"),
        planar=config.family == "lite",
    )


def motion_to_params(motion: Motion, layout: MotionLayout) -> list[MotionParams]:
    """One :class:`MotionParams` per batch item (float32 on the CPU)."""
    yaw, pitch, roll, translation, deformation, scale = (
        field.detach().to("cpu", torch.float32).numpy() for field in motion
    )
    return [
        MotionParams(
            yaw=float(yaw[i]),
            pitch=float(pitch[i]),
            roll=float(roll[i]),
            translation=translation[i].copy(),
            deformation=deformation[i].copy(),
            scale=float(scale[i]) if layout.has_scale else None,
        )
        for i in range(yaw.shape[0])
    ]


def params_to_motion(params: Sequence[MotionParams], device: torch.device | str = "cpu") -> Motion:
    """Stack wire params into a batched :class:`Motion`; a missing scale means 1."""

    def stack(values: list[np.ndarray] | list[float]) -> torch.Tensor:
        return torch.from_numpy(np.asarray(values, dtype=np.float32)).to(device)

    return Motion(
        yaw=stack([p.yaw for p in params]),
        pitch=stack([p.pitch for p in params]),
        roll=stack([p.roll for p in params]),
        translation=stack([np.asarray(p.translation) for p in params]),
        deformation=stack([np.asarray(p.deformation) for p in params]),
        scale=stack([1.0 if p.scale is None else p.scale for p in params]),
    )
