"""D at several image scales: one patch discriminator per scale (the paper's multi-scale D)."""

from __future__ import annotations

from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.facevid2vid.discriminator import DiscriminatorOutput, PatchDiscriminator


class MultiScaleOutput(NamedTuple):
    """Per scale (full size first): patch logits and hidden feature maps."""

    logits: tuple[Tensor, ...]
    features: tuple[tuple[Tensor, ...], ...]


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` patch discriminators, scale i seeing the image average-pooled 2^i times.

    Coarse scales judge the global face, fine ones the texture. With one scale this is
    zhengkw18's discriminator; its state dict loads under ``scales.0.``
    (:func:`vid2vid.codec.facevid2vid.convert.map_discriminator_state`).
    """

    def __init__(self, arch: FaceVid2VidArch, num_kp: int, num_scales: int | None = None) -> None:
        super().__init__()
        count = arch.discriminator_scales if num_scales is None else num_scales
        if count < 1:
            raise ValueError(f"num_scales must be at least 1, got {count}")
        self.scales = nn.ModuleList(PatchDiscriminator(arch, num_kp) for _ in range(count))

    def forward(self, image: Tensor, keypoints: Tensor) -> MultiScaleOutput:
        """image B x 3 x H x W, keypoints B x K x 3 in [-1, 1] (scale-free, so shared)."""
        outputs: list[DiscriminatorOutput] = []
        for i, discriminator in enumerate(self.scales):
            scaled = image if i == 0 else F.avg_pool2d(image, 2**i)  # B x 3 x H/2^i x W/2^i
            outputs.append(discriminator(scaled, keypoints))
        return MultiScaleOutput(
            logits=tuple(o.logits for o in outputs), features=tuple(o.features for o in outputs)
        )
