"""LivePortrait's motion extractor: one ConvNeXt-V2 tiny with seven linear heads.

A single network yields both what the paper splits into L (canonical keypoints x_c) and H, Δ
(head pose, translation, expression deformations), plus LivePortrait's scale.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from vid2vid.codec.liveportrait.arch import LivePortraitArch
from vid2vid.codec.liveportrait.convnext import EPS, ChannelsFirstLayerNorm, ConvNeXtBlock


class MotionHeads(NamedTuple):
    """The raw head outputs, as LivePortrait returns them (angles still as bin logits)."""

    kp: Tensor  # B x 3K, canonical keypoints x_c
    pitch: Tensor  # B x 66 bin logits
    yaw: Tensor  # B x 66
    roll: Tensor  # B x 66
    t: Tensor  # B x 3
    exp: Tensor  # B x 3K, expression deformations δ
    scale: Tensor  # B x 1


class ConvNeXtV2Detector(nn.Module):
    """ConvNeXt-V2 (stem 4×4/4, three LayerNorm + 2×2/2 downsamplings), pooled, then the heads."""

    def __init__(self, arch: LivePortraitArch, num_kp: int) -> None:
        super().__init__()
        dims = arch.convnext_dims
        stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4), ChannelsFirstLayerNorm(dims[0]))
        downs = [stem]
        for i in range(3):
            downs.append(
                nn.Sequential(
                    ChannelsFirstLayerNorm(dims[i]), nn.Conv2d(dims[i], dims[i + 1], 2, stride=2)
                )
            )
        self.downsample_layers = nn.ModuleList(downs)
        self.stages = nn.ModuleList(
            nn.Sequential(*[ConvNeXtBlock(dim) for _ in range(depth)])
            for dim, depth in zip(dims, arch.convnext_depths, strict=True)
        )
        self.norm = nn.LayerNorm(dims[-1], eps=EPS)
        self.fc_kp = nn.Linear(dims[-1], 3 * num_kp)
        self.fc_scale = nn.Linear(dims[-1], 1)
        self.fc_pitch = nn.Linear(dims[-1], arch.num_bins)
        self.fc_yaw = nn.Linear(dims[-1], arch.num_bins)
        self.fc_roll = nn.Linear(dims[-1], arch.num_bins)
        self.fc_t = nn.Linear(dims[-1], 3)
        self.fc_exp = nn.Linear(dims[-1], 3 * num_kp)

    def forward(self, image: Tensor) -> MotionHeads:
        """B x 3 x H x W in [0, 1] -> the raw heads."""
        x = image
        for down, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(down(x))
        x = self.norm(x.mean(dim=(-2, -1)))  # B x C
        return MotionHeads(
            kp=self.fc_kp(x),
            pitch=self.fc_pitch(x),
            yaw=self.fc_yaw(x),
            roll=self.fc_roll(x),
            t=self.fc_t(x),
            exp=self.fc_exp(x),
            scale=self.fc_scale(x),
        )


class MotionExtractor(nn.Module):
    """Holds the detector under ``detector.`` as LivePortrait's checkpoint does."""

    def __init__(self, arch: LivePortraitArch, num_kp: int) -> None:
        super().__init__()
        self.detector = ConvNeXtV2Detector(arch, num_kp)

    def forward(self, image: Tensor) -> MotionHeads:
        return self.detector(image)
