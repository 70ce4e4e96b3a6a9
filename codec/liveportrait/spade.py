"""SPADE normalization and the SPADE residual block of the generator."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm


class Spade(nn.Module):
    """Instance norm (no affine) modulated by γ, β predicted from the segmentation map.

    In LivePortrait the "segmentation map" is the warped feature map itself, so every block
    sees the pose-aligned features again at its own resolution.
    """

    def __init__(self, channels: int, label_channels: int, hidden: int) -> None:
        super().__init__()
        self.param_free_norm = nn.InstanceNorm2d(channels, affine=False)
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(label_channels, hidden, kernel_size=3, padding=1), nn.ReLU()
        )
        self.mlp_gamma = nn.Conv2d(hidden, channels, kernel_size=3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor, segmap: Tensor) -> Tensor:
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")  # B x L x H x W
        actv = self.mlp_shared(segmap)
        return self.param_free_norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SpadeResBlock(nn.Module):
    """(SPADE, LeakyReLU 0.2, spectral-norm 3×3 conv) twice, plus a shortcut.

    The shortcut is SPADE + spectral-norm 1×1 conv (no bias) when the channels change.
    Spectral norm is torch's classic hook (``weight_orig``/``weight_u``/``weight_v``), so a
    converted checkpoint computes exactly W/σ with its stored u, v in eval mode.
    """

    def __init__(self, fin: int, fout: int, label_channels: int, hidden: int) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        middle = min(fin, fout)
        self.conv_0 = spectral_norm(nn.Conv2d(fin, middle, kernel_size=3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(middle, fout, kernel_size=3, padding=1))
        self.norm_0 = Spade(fin, label_channels, hidden)
        self.norm_1 = Spade(middle, label_channels, hidden)
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
            self.norm_s = Spade(fin, label_channels, hidden)

    def forward(self, x: Tensor, segmap: Tensor) -> Tensor:
        shortcut = self.conv_s(self.norm_s(x, segmap)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, segmap), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, segmap), 0.2))
        return shortcut + dx
