"""L: the canonical keypoint detector, image -> K canonical 3D keypoints x_c (and Jacobians J_c)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.facevid2vid.blocks import DownBlock, UpBlock
from vid2vid.codec.facevid2vid.geometry import coordinate_grid
from vid2vid.codec.keypoints import CanonicalKeypoints


class CanonicalKeypointDetector(nn.Module):
    """A 2D encoder on a downscaled image, lifted to a 3D decoder; soft-argmax per keypoint.

    Each keypoint is the expectation of the coordinate grid under a softmax (temperature 0.1)
    over the whole D x H x W heatmap, so it is differentiable and lies in [-1, 1]³.
    zhengkw18's ``CKD`` (state-dict names kept).

    With ``arch.estimate_jacobian`` (paper §3.1, off by default as in the paper's ablation and
    zhengkw18's release) a ``jacobian_conv`` predicts 9 channels per keypoint, and J_c,k is
    their heatmap-weighted sum (FOMM's way). Its weight starts at zero and its bias at the
    identity, so training starts from rigid motion (J = R). Without it the first-order term
    comes from the head rotations alone (R_s R_d⁻¹), and the state dict has no extra keys.
    """

    def __init__(self, arch: FaceVid2VidArch, num_kp: int) -> None:
        super().__init__()
        down = (3, *arch.keypoint_down)
        up = arch.keypoint_up
        self.down = nn.Sequential(*[DownBlock(down[i], down[i + 1]) for i in range(len(down) - 1)])
        self.mid_conv = nn.Conv2d(down[-1], up[0] * arch.keypoint_depth, 1, 1, 0)
        self.up = nn.Sequential(*[UpBlock(up[i], up[i + 1], dim=3) for i in range(len(up) - 1)])
        self.out_conv = nn.Conv3d(up[-1], num_kp, 3, 1, 1)
        self.jacobian_conv: nn.Conv3d | None = None
        if arch.estimate_jacobian:
            self.jacobian_conv = nn.Conv3d(up[-1], 9 * num_kp, 3, 1, 1)
            nn.init.zeros_(self.jacobian_conv.weight)
            with torch.no_grad():
                self.jacobian_conv.bias.copy_(torch.eye(3).flatten().repeat(num_kp))  # 9K
        self.channels, self.depth = up[0], arch.keypoint_depth
        self.scale = arch.keypoint_scale
        self.temperature = arch.keypoint_temperature

    def features(self, image: Tensor) -> Tensor:
        """B x 3 x H x W -> B x C x D x h x w, the decoder's last volume (before the heads)."""
        height, width = image.shape[-2:]
        size = (int(height * self.scale), int(width * self.scale))
        x = F.interpolate(image, size=size, mode="bilinear", align_corners=False)  # B x 3 x h x w
        x = self.mid_conv(self.down(x))  # B x CD x h' x w'
        batch, _, h, w = x.shape
        x = x.view(batch, self.channels, self.depth, h, w)  # B x C x D x h' x w'
        return self.up(x)  # B x C x D x h x w

    def heatmaps_from_features(self, features: Tensor) -> Tensor:
        """B x C x D x h x w -> B x K x D x h x w, each keypoint's softmax summing to 1."""
        logits = self.out_conv(features)  # B x K x D x h x w
        shape = logits.shape
        flat = logits.reshape(shape[0], shape[1], -1)  # B x K x DHW
        return torch.softmax(flat / self.temperature, dim=2).view(shape)  # B x K x D x h x w

    def heatmaps(self, image: Tensor) -> Tensor:
        """B x 3 x H x W -> B x K x D x h x w, each keypoint's softmax summing to 1."""
        return self.heatmaps_from_features(self.features(image))

    def forward(self, image: Tensor) -> Tensor:
        """B x 3 x H x W -> B x K x 3 keypoints (x, y, z) in [-1, 1]."""
        return self._soft_argmax(self.heatmaps(image))

    def forward_with_jacobians(self, image: Tensor) -> CanonicalKeypoints:
        """B x 3 x H x W -> x_c (B x K x 3) and J_c (B x K x 3 x 3, None when not estimated)."""
        features = self.features(image)  # B x C x D x h x w
        heat = self.heatmaps_from_features(features)  # B x K x D x h x w
        points = self._soft_argmax(heat)  # B x K x 3
        if self.jacobian_conv is None:
            return CanonicalKeypoints(points=points, jacobians=None)
        maps = self.jacobian_conv(features)  # B x 9K x D x h x w
        batch, num_kp = heat.shape[:2]
        maps = maps.view(batch, num_kp, 9, *heat.shape[2:])  # B x K x 9 x D x h x w
        jacobians = torch.einsum("bkdhw,bkjdhw->bkj", heat, maps)  # B x K x 9
        return CanonicalKeypoints(points=points, jacobians=jacobians.view(batch, num_kp, 3, 3))

    @staticmethod
    def _soft_argmax(heat: Tensor) -> Tensor:
        """B x K x D x h x w heatmaps -> B x K x 3 expected (x, y, z)."""
        grid = coordinate_grid(*heat.shape[2:], like=heat)  # D x h x w x 3
        return torch.einsum("bkdhw,dhwc->bkc", heat, grid)  # B x K x 3
