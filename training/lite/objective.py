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
from vid2vid.codec.lite.model import LiteModel, motion_from_landmarks, shrink, to_grey


@dataclass(frozen=True)
class LossWeights:
    pyramid: tuple[float, ...] = (1.0, 1.0, 1.0)
    warp: float = 1.0
    #: Extra weight on the eyes and the mouth (Gaussian blobs around the driving frame's
    #: landmarks there): the pixels that carry expression and that AKD reads are few, and an
    #: unweighted L1 is content to move the head and keep the mouth shut.
    expression: float = 2.0
    expression_sigma: float = 0.04  # of the image side
    #: Weight of the mean squared error of the output: PSNR is a squared error, and L1 alone
    #: settles for the median where a pixel's future is uncertain (hair, shoulders).
    squared: float = 0.0


#: dlib indices of the eyes (36-47) and the mouth (48-67).
EXPRESSION_POINTS = tuple(range(36, 68))


def expression_weight(points: np.ndarray, side: int, weight: float, sigma: float) -> Tensor:
    """B x 1 x side x side map: 1 everywhere, up to 1 + ``weight`` on the eyes and mouth.

    Drawn at a quarter of the side and upsampled: the blobs are smooth, and at 512 px a full
    map would cost more than the rest of the loss.
    """
    coarse = max(side // 4, 1)
    scale_down = coarse / side
    centres = torch.from_numpy(np.asarray(points, np.float32)[:, list(EXPRESSION_POINTS)])
    centres = (centres + 0.5) * scale_down - 0.5  # B x P x 2, coarse pixels
    axis = torch.arange(coarse, dtype=torch.float32)
    dx = (axis[None, None, :] - centres[..., 0:1]) ** 2  # B x P x W
    dy = (axis[None, None, :] - centres[..., 1:2]) ** 2  # B x P x H
    scale = -0.5 / (sigma * coarse) ** 2
    bumps = torch.exp(dy[..., :, None] * scale) * torch.exp(dx[..., None, :] * scale)
    peak = bumps.amax(dim=1, keepdim=True)  # B x 1 x h x w
    peak = F.interpolate(peak, size=(side, side), mode="bilinear", align_corners=False)
    return 1.0 + weight * peak


def keypoints_of(
    model: LiteModel, points: np.ndarray, side: int, background: np.ndarray | None = None
) -> Keypoints:
    """Landmarks (B x 68 x 2 px) -> posed keypoints, as the receiver computes them from packets.

    ``background`` are the background points' deformations (B x E x 3); None means they have
    not moved (a keyframe's own motion).
    """
    if background is None:
        background = np.zeros((len(points), model.background_kp, 3), np.float32)
    motion = motion_from_landmarks(points, side, background=background)
    canonical = model.canonical[None].expand(len(points), -1, -1)
    return model.pose(canonical, motion)


def pair_keypoints(
    model: LiteModel,
    source: Tensor,
    driving: Tensor,
    source_points: np.ndarray,
    driving_points: np.ndarray,
) -> tuple[Keypoints, Keypoints]:
    """Source and driving keypoints of keyframe/frame pairs, as a call sends them: the landmarks'
    motion, and the background points' flow from each keyframe to its frame."""
    side = source.shape[-1]
    background = None
    if model.background_kp:
        background = model.background_motion(to_grey(driving), source)
    return (
        keypoints_of(model, source_points, side),
        keypoints_of(model, driving_points, side, background),
    )


def pyramid_l1(
    output: Tensor, target: Tensor, weights: tuple[float, ...], pixel_weight: Tensor | None = None
) -> Tensor:
    total = output.new_zeros(())
    for level, weight in enumerate(weights):
        if level:
            output, target = F.avg_pool2d(output, 2), F.avg_pool2d(target, 2)
            if pixel_weight is not None:
                pixel_weight = F.avg_pool2d(pixel_weight, 2)
        error = (output - target).abs()
        if pixel_weight is not None:
            error = error * pixel_weight
        total = total + weight * error.mean()
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
        source, *pair_keypoints(model, source, driving, source_points, driving_points)
    )
    emphasis = None
    if weights.expression:
        emphasis = expression_weight(
            driving_points, side, weights.expression, weights.expression_sigma
        )
        emphasis = emphasis.to(output.device)
    pyramid = pyramid_l1(output, driving, weights.pyramid, emphasis)
    small = shrink(driving, warped_small.shape[-1])
    warp = (warped_small - small).abs().mean()
    loss = pyramid + weights.warp * warp
    parts = {"loss": loss.item(), "pyramid": pyramid.item(), "warp": warp.item()}
    if weights.squared:
        squared = (output - driving).square().mean()
        loss = loss + weights.squared * squared
        parts.update(loss=loss.item(), squared=squared.item())
    return loss, parts


def psnr(a: Tensor, b: Tensor) -> Tensor:
    """Per-image PSNR in dB of B x 3 x H x W images in [0, 1]."""
    mse = (a.clamp(0, 1) - b).square().mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return 10.0 * torch.log10(1.0 / mse)
