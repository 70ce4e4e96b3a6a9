"""H and Δ: head pose (yaw, pitch, roll, translation) and expression deformations from an image."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.facevid2vid.blocks import Bottleneck, ConvBlock
from vid2vid.codec.keypoints import angles_from_bins


class HeadPose(NamedTuple):
    """H and Δ's outputs; angles in degrees (zhengkw18 returns radians)."""

    yaw: Tensor  # B
    pitch: Tensor  # B
    roll: Tensor  # B
    translation: Tensor  # B x 3
    deformation: Tensor  # B x K x 3


class HeadPoseEstimator(nn.Module):
    """A ResNet-50-like trunk shared by H and Δ (zhengkw18's ``HPE_EDE``; names kept).

    Angles are Hopenet-style 66-bin classifiers read out as the expected bin, which is what
    lets the head-pose loss supervise them with a pretrained Hopenet.
    """

    def __init__(self, arch: FaceVid2VidArch, num_kp: int) -> None:
        super().__init__()
        ch = arch.head_pose_channels
        self.pre_layers = nn.Sequential(ConvBlock("CNA", 3, ch[0], 7, 2, 3), nn.MaxPool2d(3, 2, 1))
        blocks: list[nn.Module] = []
        for i, extra in enumerate(arch.head_pose_blocks):
            blocks.append(Bottleneck(ch[i], ch[i + 1], 1 if i == 0 else 2))
            blocks.extend(Bottleneck(ch[i + 1], ch[i + 1]) for _ in range(extra))
        self.res_layers = nn.Sequential(*blocks)
        self.fc_yaw = nn.Linear(ch[-1], arch.num_bins)
        self.fc_pitch = nn.Linear(ch[-1], arch.num_bins)
        self.fc_roll = nn.Linear(ch[-1], arch.num_bins)
        self.fc_t = nn.Linear(ch[-1], 3)
        self.fc_delta = nn.Linear(ch[-1], 3 * num_kp)
        self.bin_degrees = arch.bin_degrees
        self.offset_degrees = arch.angle_offset_degrees

    def _angle(self, logits: Tensor) -> Tensor:
        return angles_from_bins(logits, self.bin_degrees, self.offset_degrees)  # B

    def forward(self, image: Tensor) -> HeadPose:
        """B x 3 x H x W -> yaw, pitch, roll (degrees), t (B x 3), δ (B x K x 3)."""
        x = self.res_layers(self.pre_layers(image))  # B x C x h x w
        x = torch.mean(x, (2, 3))  # B x C
        delta = self.fc_delta(x)  # B x 3K
        return HeadPose(
            yaw=self._angle(self.fc_yaw(x)),
            pitch=self._angle(self.fc_pitch(x)),
            roll=self._angle(self.fc_roll(x)),
            translation=self.fc_t(x),
            deformation=delta.view(x.shape[0], -1, 3),  # B x K x 3
        )
