"""D: the keypoint-conditioned patch discriminator of training (one scale)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.facevid2vid.blocks import ConvBlock
from vid2vid.codec.facevid2vid.geometry import coordinate_grid_2d, gaussian_heatmaps


class DiscriminatorOutput(NamedTuple):
    """Patch logits and every intermediate feature map (for the feature-matching loss)."""

    logits: Tensor  # B x 1 x h x w
    features: tuple[Tensor, ...]  # one per hidden layer, B x c_i x h_i x w_i


class PatchDiscriminator(nn.Module):
    """Spectral-normalized strided convs with instance norm on the image plus keypoint heatmaps.

    The 2D Gaussian heatmaps of the driving keypoints' (x, y) are concatenated to the image, so
    D judges realism where the face should be; zhengkw18's ``Discriminator`` (names kept).
    """

    def __init__(self, arch: FaceVid2VidArch, num_kp: int) -> None:
        super().__init__()
        ch = arch.discriminator_channels
        last = len(ch) - 2
        layers: list[nn.Module] = [self._layer(3 + num_kp, ch[0], 2)]
        layers += [self._layer(ch[i], ch[i + 1], 2 if i < last else 1) for i in range(len(ch) - 1)]
        layers.append(ConvBlock("CN", ch[-1], 1, 3, 1, 1, norm="none", spectral=True))
        self.layers = nn.ModuleList(layers)
        self.variance = arch.heatmap_variance

    @staticmethod
    def _layer(in_channels: int, out_channels: int, stride: int) -> ConvBlock:
        return ConvBlock(
            "CNA", in_channels, out_channels, 3, stride, 1,
            norm="instance", activation="leakyrelu", spectral=True,
        )  # fmt: skip

    def forward(self, image: Tensor, keypoints: Tensor) -> DiscriminatorOutput:
        """image B x 3 x H x W, keypoints B x K x 3 (or 2) -> logits and features."""
        grid = coordinate_grid_2d(*image.shape[2:], like=image)  # H x W x 2
        heat = gaussian_heatmaps(keypoints.detach()[..., :2], grid, self.variance)  # B x K x H x W
        x = torch.cat([image, heat], dim=1)  # B x (3+K) x H x W
        features: list[Tensor] = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return DiscriminatorOutput(logits=features[-1], features=tuple(features[:-1]))
