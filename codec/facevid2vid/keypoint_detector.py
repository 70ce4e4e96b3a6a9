"""L: the canonical keypoint detector, image -> K canonical 3D keypoints x_c."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.facevid2vid.blocks import DownBlock, UpBlock
from vid2vid.codec.facevid2vid.geometry import coordinate_grid


class CanonicalKeypointDetector(nn.Module):
    """A 2D encoder on a downscaled image, lifted to a 3D decoder; soft-argmax per keypoint.

    Each keypoint is the expectation of the coordinate grid under a softmax (temperature 0.1)
    over the whole D x H x W heatmap, so it is differentiable and lies in [-1, 1]³.
    zhengkw18's ``CKD`` (state-dict names kept). No Jacobians: this family's first-order term
    comes from the head rotations (J = R_s R_d⁻¹), not from L.
    """

    def __init__(self, arch: FaceVid2VidArch, num_kp: int) -> None:
        super().__init__()
        down = (3, *arch.keypoint_down)
        up = arch.keypoint_up
        self.down = nn.Sequential(*[DownBlock(down[i], down[i + 1]) for i in range(len(down) - 1)])
        self.mid_conv = nn.Conv2d(down[-1], up[0] * arch.keypoint_depth, 1, 1, 0)
        self.up = nn.Sequential(*[UpBlock(up[i], up[i + 1], dim=3) for i in range(len(up) - 1)])
        self.out_conv = nn.Conv3d(up[-1], num_kp, 3, 1, 1)
        self.channels, self.depth = up[0], arch.keypoint_depth
        self.scale = arch.keypoint_scale
        self.temperature = arch.keypoint_temperature

    def heatmaps(self, image: Tensor) -> Tensor:
        """B x 3 x H x W -> B x K x D x h x w, each keypoint's softmax summing to 1."""
        height, width = image.shape[-2:]
        size = (int(height * self.scale), int(width * self.scale))
        x = F.interpolate(image, size=size, mode="bilinear", align_corners=False)  # B x 3 x h x w
        x = self.mid_conv(self.down(x))  # B x CD x h' x w'
        batch, _, h, w = x.shape
        x = x.view(batch, self.channels, self.depth, h, w)  # B x C x D x h' x w'
        logits = self.out_conv(self.up(x))  # B x K x D x h x w
        shape = logits.shape
        flat = logits.reshape(shape[0], shape[1], -1)  # B x K x DHW
        return torch.softmax(flat / self.temperature, dim=2).view(shape)  # B x K x D x h x w

    def forward(self, image: Tensor) -> Tensor:
        """B x 3 x H x W -> B x K x 3 keypoints (x, y, z) in [-1, 1]."""
        heat = self.heatmaps(image)  # B x K x D x h x w
        grid = coordinate_grid(*heat.shape[2:], like=heat)  # D x h x w x 3
        return torch.einsum("bkdhw,dhwc->bkc", heat, grid)  # B x K x 3
