"""The 3D hourglass (U-Net) of the dense motion network."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.codec.liveportrait.blocks import DownBlock3d, UpBlock3d


def _width(expansion: int, max_channels: int, level: int) -> int:
    return min(max_channels, expansion * 2**level)


class HourglassEncoder(nn.Module):
    """Down blocks; returns the input and every level's output for the skips."""

    def __init__(self, in_channels: int, expansion: int, max_channels: int, blocks: int) -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock3d(
                in_channels if i == 0 else _width(expansion, max_channels, i),
                _width(expansion, max_channels, i + 1),
            )
            for i in range(blocks)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class HourglassDecoder(nn.Module):
    """Up blocks concatenating each skip, then 3³ conv + BN + ReLU on expansion + input channels."""

    def __init__(self, in_channels: int, expansion: int, max_channels: int, blocks: int) -> None:
        super().__init__()
        ups = []
        for i in reversed(range(blocks)):
            factor = 1 if i == blocks - 1 else 2  # the deepest level has no skip concatenated yet
            ups.append(
                UpBlock3d(
                    factor * _width(expansion, max_channels, i + 1),
                    _width(expansion, max_channels, i),
                )
            )
        self.up_blocks = nn.ModuleList(ups)
        self.out_channels = expansion + in_channels
        self.conv = nn.Conv3d(self.out_channels, self.out_channels, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_channels)

    def forward(self, skips: list[Tensor]) -> Tensor:
        skips = list(skips)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)  # B x (c + c_skip) x D x H x W
        return F.relu(self.norm(self.conv(out)))


class Hourglass(nn.Module):
    """B x C_in x D x H x W -> B x (expansion + C_in) x D x H x W; H, W divisible by 2^blocks."""

    def __init__(self, in_channels: int, expansion: int, max_channels: int, blocks: int) -> None:
        super().__init__()
        self.encoder = HourglassEncoder(in_channels, expansion, max_channels, blocks)
        self.decoder = HourglassDecoder(in_channels, expansion, max_channels, blocks)
        self.out_channels = self.decoder.out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))
