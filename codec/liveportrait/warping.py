"""W: LivePortrait's warping module, f_s warped to the driving pose and projected to 2D."""

from __future__ import annotations

from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.codec.liveportrait.arch import LivePortraitArch
from vid2vid.codec.liveportrait.blocks import SameBlock2d
from vid2vid.codec.liveportrait.dense_motion import DenseMotionNetwork


class WarpOutput(NamedTuple):
    out: Tensor  # B x 256 x H x W, the generator's input
    occlusion: Tensor  # B x 1 x H x W
    deformation: Tensor  # B x D x H x W x 3


class WarpingNetwork(nn.Module):
    """Dense motion, trilinear warp of f_s, flatten depth into channels, 3×3 + 1×1 convs, × occlusion."""

    def __init__(self, arch: LivePortraitArch, num_kp: int) -> None:
        super().__init__()
        self.dense_motion_network = DenseMotionNetwork(arch, num_kp)
        self.third = SameBlock2d(arch.volume_features, arch.warped_channels, leaky=True)
        self.fourth = nn.Conv2d(arch.warped_channels, arch.warped_channels, kernel_size=1)

    def forward(self, volume: Tensor, kp_source: Tensor, kp_driving: Tensor) -> WarpOutput:
        """f_s (B x C x D x H x W), x_s, x_d (B x K x 3) -> warped 2D features and the motion."""
        motion = self.dense_motion_network(volume, kp_source, kp_driving)
        warped = F.grid_sample(volume, motion.deformation, align_corners=False)  # B x C x D x H x W
        b, c, d, h, w = warped.shape
        out = self.fourth(self.third(warped.reshape(b, c * d, h, w)))  # B x 256 x H x W
        return WarpOutput(
            out=out * motion.occlusion, occlusion=motion.occlusion, deformation=motion.deformation
        )
