"""F: the appearance feature extractor, keyframe image -> 3D appearance volume f_s."""

from __future__ import annotations

from torch import Tensor, nn

from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.facevid2vid.blocks import ConvBlock, DownBlock, ResBlock


class AppearanceFeatureExtractor(nn.Module):
    """2D encoder whose channels are reshaped into depth, refined by 3D residual blocks.

    The paper lifts 2D features to a C x D x H x W volume so that M can warp it in 3D;
    zhengkw18's ``AFE`` (state-dict names kept).
    """

    def __init__(self, arch: FaceVid2VidArch) -> None:
        super().__init__()
        ch = arch.appearance_channels
        self.in_conv = ConvBlock("CNA", 3, ch[0], 7, 1, 3)
        self.down = nn.Sequential(*[DownBlock(ch[i], ch[i + 1]) for i in range(len(ch) - 1)])
        self.mid_conv = nn.Conv2d(ch[-1], arch.volume_channels * arch.volume_depth, 1, 1, 0)
        self.res = nn.Sequential(
            *[ResBlock(arch.volume_channels, dim=3) for _ in range(arch.appearance_res_blocks)]
        )
        self.channels, self.depth = arch.volume_channels, arch.volume_depth

    def forward(self, image: Tensor) -> Tensor:
        """B x 3 x H x W in [0, 1] -> B x C x D x H/s x W/s."""
        x = self.down(self.in_conv(image))  # B x c x h x w
        x = self.mid_conv(x)  # B x CD x h x w
        batch, _, height, width = x.shape
        x = x.view(batch, self.channels, self.depth, height, width)  # B x C x D x h x w
        return self.res(x)
