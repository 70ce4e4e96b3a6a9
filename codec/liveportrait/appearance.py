"""F: the appearance feature extractor, image -> 3D appearance volume f_s."""

from __future__ import annotations

from torch import Tensor, nn

from vid2vid.codec.liveportrait.arch import LivePortraitArch
from vid2vid.codec.liveportrait.blocks import DownBlock2d, ResBlock3d, SameBlock2d


class AppearanceFeatureExtractor(nn.Module):
    """2D encoder to C·D channels, lifted to a C x D x H x W volume and refined by 3D res blocks.

    The reshape is what makes the volume "3D": the 2D channels are read as depth slices, so the
    warping module can move features along z as well as x and y.
    """

    def __init__(self, arch: LivePortraitArch) -> None:
        super().__init__()
        self.channels = arch.volume_channels
        self.depth = arch.volume_depth
        width = arch.appearance_channels
        self.first = SameBlock2d(3, width)
        blocks = []
        for i in range(arch.appearance_down_blocks):
            cin = min(arch.volume_features, width * 2**i)
            cout = min(arch.volume_features, width * 2 ** (i + 1))
            blocks.append(DownBlock2d(cin, cout))
        self.down_blocks = nn.ModuleList(blocks)
        self.second = nn.Conv2d(arch.appearance_out_channels, arch.volume_features, kernel_size=1)
        self.resblocks_3d = nn.Sequential()
        for i in range(arch.appearance_resblocks):
            # LivePortrait's names ("3dr0", ...) keep the checkpoint keys unchanged.
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(arch.volume_channels))

    def forward(self, image: Tensor) -> Tensor:
        """B x 3 x H x W in [0, 1] -> f_s, B x C x D x H/4 x W/4."""
        x = self.first(image)  # B x 64 x H x W
        for block in self.down_blocks:
            x = block(x)
        x = self.second(x)  # B x C·D x h x w
        b, _, h, w = x.shape
        volume = x.reshape(b, self.channels, self.depth, h, w)  # B x C x D x h x w
        return self.resblocks_3d(volume)
