"""G: LivePortrait's SPADE generator, warped 2D features -> 512 px image logits."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.codec.liveportrait.arch import LivePortraitArch
from vid2vid.codec.liveportrait.spade import SpadeResBlock


class SpadeGenerator(nn.Module):
    """3×3 conv to 2C, SPADE middle blocks, two (nearest ×2, SPADE block) ups, conv + pixel shuffle.

    Returns logits (before the sigmoid) so callers get both the logits and, through
    :func:`torch.sigmoid`, the image without running the network twice.
    """

    def __init__(self, arch: LivePortraitArch) -> None:
        super().__init__()
        c = arch.warped_channels
        hidden = arch.spade_hidden
        self.num_middle = arch.generator_middle_blocks
        self.fc = nn.Conv2d(c, 2 * c, kernel_size=3, padding=1)
        for i in range(self.num_middle):
            # LivePortrait's attribute names (G_middle_0 ...) keep the checkpoint keys unchanged.
            self.add_module(f"G_middle_{i}", SpadeResBlock(2 * c, 2 * c, c, hidden))
        self.up_0 = SpadeResBlock(2 * c, c, c, hidden)
        self.up_1 = SpadeResBlock(c, arch.generator_channels, c, hidden)
        r = arch.pixel_shuffle
        self.conv_img = nn.Sequential(
            nn.Conv2d(arch.generator_channels, 3 * r * r, kernel_size=3, padding=1),
            nn.PixelShuffle(r),
        )

    def forward(self, feature: Tensor) -> Tensor:
        """B x C x H x W warped features -> B x 3 x 4rH x 4rW logits."""
        x = self.fc(feature)  # B x 2C x H x W
        for i in range(self.num_middle):
            x = self.get_submodule(f"G_middle_{i}")(x, feature)
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # B x 2C x 2H x 2W
        x = self.up_0(x, feature)  # B x C x 2H x 2W
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # B x C x 4H x 4W
        x = self.up_1(x, feature)  # B x 64 x 4H x 4W
        return self.conv_img(F.leaky_relu(x, 0.2))  # B x 3 x 4rH x 4rW
