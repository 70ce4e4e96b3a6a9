"""Conv-norm-activation blocks shared by F and W (LivePortrait's ``util.py`` blocks).

Attribute names (``conv``, ``norm``, ``pool``) follow LivePortrait so that converted state-dict
keys need no renaming inside a block.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class SameBlock2d(nn.Module):
    """3×3 conv, BatchNorm, ReLU (or LeakyReLU 0.01): keeps the resolution."""

    def __init__(self, in_channels: int, out_channels: int, *, leaky: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)
        self.leaky = leaky

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.conv(x))
        return F.leaky_relu(x) if self.leaky else F.relu(x)


class DownBlock2d(nn.Module):
    """3×3 conv, BatchNorm, ReLU, 2×2 average pool: halves H and W."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)
        self.pool = nn.AvgPool2d(kernel_size=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(F.relu(self.norm(self.conv(x))))


class ResBlock3d(nn.Module):
    """Pre-activation 3D residual block: (BN, ReLU, 3³ conv) twice, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.norm1 = nn.BatchNorm3d(channels)
        self.norm2 = nn.BatchNorm3d(channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class DownBlock3d(nn.Module):
    """3³ conv, BatchNorm, ReLU, (1, 2, 2) average pool: halves H and W, keeps the depth."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_channels)
        self.pool = nn.AvgPool3d(kernel_size=(1, 2, 2))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(F.relu(self.norm(self.conv(x))))


class UpBlock3d(nn.Module):
    """Nearest ×(1, 2, 2) upsampling, 3³ conv, BatchNorm, ReLU: doubles H and W."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        return F.relu(self.norm(self.conv(x)))
