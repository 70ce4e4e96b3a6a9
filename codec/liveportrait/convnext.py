"""ConvNeXt-V2 building blocks of the motion extractor (LayerNorm over channels, GRN, block)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: ConvNeXt-V2's LayerNorm and GRN epsilon.
EPS = 1e-6


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over C of a B x C x H x W map, written out as ConvNeXt does (biased variance)."""

    def __init__(self, channels: int, eps: float = EPS) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(1, keepdim=True)  # B x 1 x H x W
        var = (x - mean).pow(2).mean(1, keepdim=True)  # B x 1 x H x W
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GlobalResponseNorm(nn.Module):
    """GRN: γ·(x·N) + β + x with N = ‖x‖₂ over H, W divided by its mean over channels.

    It makes channels compete, which is what lets ConvNeXt-V2 drop LayerScale.
    Works on channels-last maps, B x H x W x C.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, channels))

    def forward(self, x: Tensor) -> Tensor:
        gx = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)  # B x 1 x 1 x C
        nx = gx / (gx.mean(dim=-1, keepdim=True) + EPS)  # B x 1 x 1 x C
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtBlock(nn.Module):
    """7×7 depthwise conv, LayerNorm, Linear ×4, GELU, GRN, Linear, plus the input."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = GlobalResponseNorm(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # B x H x W x C
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)  # B x C x H x W
