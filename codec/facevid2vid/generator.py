"""G: the generator, warped appearance volume (+ occlusion) -> output image."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.facevid2vid.blocks import ConvBlock, ResBlock, UpBlock


class Generator(nn.Module):
    """Warps f_s by the deformation, flattens depth into channels and decodes to RGB.

    Spectral-normalized convs as in zhengkw18's ``Generator`` (state-dict names kept); the
    output has no final activation, like the original. ``arch.generator_extra_up`` appends
    up blocks at the last width so the same volume renders at 2x, 4x … the size.
    """

    def __init__(self, arch: FaceVid2VidArch) -> None:
        super().__init__()
        ch = (*arch.generator_channels, *([arch.generator_channels[-1]] * arch.generator_extra_up))
        in_channels = arch.volume_channels * arch.volume_depth
        self.in_conv = ConvBlock(
            "CNA", in_channels, ch[0], 3, 1, 1, activation="leakyrelu", spectral=True
        )
        self.mid_conv = nn.Conv2d(ch[0], ch[0], 1, 1, 0)
        self.res = nn.Sequential(
            *[ResBlock(ch[0], spectral=True) for _ in range(arch.generator_res_blocks)]
        )
        self.up = nn.Sequential(
            *[UpBlock(ch[i], ch[i + 1], spectral=True) for i in range(len(ch) - 1)]
        )
        self.out_conv = nn.Conv2d(ch[-1], 3, 7, 1, 3)

    def warp(self, volume: Tensor, deformation: Tensor) -> Tensor:
        """Sample f_s at the deformation: B x C x D x H x W, B x D x H x W x 3 -> same as f_s."""
        return F.grid_sample(volume, deformation, align_corners=True)  # B x C x D x H x W

    def forward(self, volume: Tensor, deformation: Tensor, occlusion: Tensor) -> Tensor:
        """f_s, deformation, occlusion B x 1 x H x W -> B x 3 x S x S."""
        batch, _, _, height, width = volume.shape
        x = self.warp(volume, deformation).reshape(batch, -1, height, width)  # B x CD x H x W
        x = self.mid_conv(self.in_conv(x)) * occlusion  # B x c x H x W
        return self.out_conv(self.up(self.res(x)))  # B x 3 x S x S
