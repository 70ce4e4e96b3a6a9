"""The lite family's training loss: cheap, and all of it about the driving frame's pixels.

No pretrained network exists here for a perceptual loss, and a random VGG costs most of a
CPU step while teaching little, so the loss is L1 on an image pyramid of the output (full,
1/2, 1/4 size: the coarse levels reward getting shapes right before details) plus L1 of the
keyframe warped at the motion network's resolution, which trains the flow directly instead of
letting the inpainter paint over a wrong warp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vid2vid.codec.keypoints import Keypoints
from vid2vid.codec.lite.model import LiteModel, motion_from_landmarks, shrink


@dataclass(frozen=True)
class LossWeights:
    pyramid: tuple[float, ...] = (1.0, 1.0, 1.0)
    warp: float = 1.0


def keypoints_of(model: LiteModel, points: np.ndarray, side: int) -> Keypoints:
    """Landmarks (B x 68 x 2 px) -> posed keypoints, as the receiver computes them from packets."""
    motion = motion_from_landmarks(points, side)
    canonical = model.canonical[None].expand(len(points), -1, -1)
    return model.pose(canonical, motion)


def pyramid_l1(output: Tensor, target: Tensor, weights: tuple[float, ...]) -> Tensor:
    total = output.new_zeros(())
    for level, weight in enumerate(weights):
        if level:
            output, target = F.avg_pool2d(output, 2), F.avg_pool2d(target, 2)
        total = total + weight * (output - target).abs().mean()
    return total


def lite_loss(
    model: LiteModel,
    source: Tensor,
    driving: Tensor,
    source_points: np.ndarray,
    driving_points: np.ndarray,
    weights: LossWeights = LossWeights(),
) -> tuple[Tensor, dict[str, float]]:
    side = source.shape[-1]
    output, warped_small = model.render(
        source, keypoints_of(model, source_points, side), keypoints_of(model, driving_points, side)
    )
    pyramid = pyramid_l1(output, driving, weights.pyramid)
    small = shrink(driving, warped_small.shape[-1])
    warp = (warped_small - small).abs().mean()
    loss = pyramid + weights.warp * warp
    parts = {"loss": loss.item(), "pyramid": pyramid.item(), "warp": warp.item()}
    return loss, parts


def psnr(a: Tensor, b: Tensor) -> Tensor:
    """Per-image PSNR in dB of B x 3 x H x W images in [0, 1]."""
    mse = (a.clamp(0, 1) - b).square().mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return 10.0 * torch.log10(1.0 / mse)
