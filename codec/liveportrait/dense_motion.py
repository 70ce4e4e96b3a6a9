"""M: the dense motion network, keypoints -> per-voxel backward flow and an occlusion map.

Zeroth order, as in LivePortrait: keypoint k moves its neighbourhood by x_s,k − x_d,k (no
Jacobian). The hourglass sees, for each of the K + 1 motions (K keypoints + the identity as
background), the difference of Gaussian heatmaps and the compressed volume warped by that
motion; a softmax mask over the K + 1 motions composes them into one flow.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.codec.liveportrait.arch import LivePortraitArch
from vid2vid.codec.liveportrait.hourglass import Hourglass


class DenseMotion(NamedTuple):
    deformation: Tensor  # B x D x H x W x 3, grid_sample coordinates (x, y, z) in [-1, 1]
    occlusion: Tensor  # B x 1 x H x W, in (0, 1)
    mask: Tensor  # B x (K+1) x D x H x W, softmax over the motions (background first)


def coordinate_grid(depth: int, height: int, width: int, like: Tensor) -> Tensor:
    """Voxel centres in [-1, 1] (x fastest, then y, then z): D x H x W x 3."""
    axes = [
        2 * (torch.arange(n, dtype=like.dtype, device=like.device) / (n - 1)) - 1
        for n in (depth, height, width)
    ]
    z, y, x = torch.meshgrid(*axes, indexing="ij")  # D x H x W each
    return torch.stack([x, y, z], dim=-1)  # D x H x W x 3


def gaussian_heatmaps(points: Tensor, grid: Tensor, variance: float) -> Tensor:
    """exp(−‖grid − x_k‖² / 2σ²) per keypoint: B x K x 3, D x H x W x 3 -> B x K x D x H x W."""
    diff = grid[None, None] - points[:, :, None, None, None, :]  # B x K x D x H x W x 3
    return torch.exp(-0.5 * diff.pow(2).sum(-1) / variance)


class DenseMotionNetwork(nn.Module):
    """Compress f_s, warp it by every sparse motion, and let the hourglass pick per voxel."""

    def __init__(self, arch: LivePortraitArch, num_kp: int) -> None:
        super().__init__()
        self.num_kp = num_kp
        self.kp_variance = float(arch.kp_variance)
        motions = num_kp + 1
        self.hourglass = Hourglass(
            motions * (arch.motion_compress + 1),
            arch.motion_channels,
            arch.motion_max_channels,
            arch.motion_blocks,
        )
        out = self.hourglass.out_channels
        self.mask = nn.Conv3d(out, motions, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(arch.volume_channels, arch.motion_compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(arch.motion_compress)
        self.occlusion = nn.Conv2d(out * arch.volume_depth, 1, kernel_size=7, padding=3)

    def forward(self, volume: Tensor, kp_source: Tensor, kp_driving: Tensor) -> DenseMotion:
        """f_s (B x C x D x H x W), x_s and x_d (B x K x 3) -> the composed backward flow."""
        b, _, d, h, w = volume.shape
        k = self.num_kp + 1
        feature = F.relu(self.norm(self.compress(volume)))  # B x c x D x H x W
        grid = coordinate_grid(d, h, w, volume)  # D x H x W x 3
        # Backward flow per keypoint: where a driving voxel reads the source volume.
        shift = (kp_source - kp_driving)[:, :, None, None, None, :]  # B x K x 1 x 1 x 1 x 3
        identity = grid.expand(b, 1, d, h, w, 3)  # B x 1 x D x H x W x 3
        motions = torch.cat([identity, grid + shift], dim=1)  # B x (K+1) x D x H x W x 3
        repeated = feature[:, None].expand(b, k, *feature.shape[1:])  # B x (K+1) x c x D x H x W
        warped = F.grid_sample(
            repeated.reshape(b * k, -1, d, h, w),  # B(K+1) x c x D x H x W
            motions.reshape(b * k, d, h, w, 3),  # B(K+1) x D x H x W x 3
            align_corners=False,
        ).reshape(b, k, -1, d, h, w)  # B x (K+1) x c x D x H x W
        heat = gaussian_heatmaps(kp_driving, grid, self.kp_variance) - gaussian_heatmaps(
            kp_source, grid, self.kp_variance
        )  # B x K x D x H x W
        heat = torch.cat([heat.new_zeros(b, 1, d, h, w), heat], dim=1)  # B x (K+1) x D x H x W
        stacked = torch.cat([heat[:, :, None], warped], dim=2)  # B x (K+1) x (c+1) x D x H x W
        prediction = self.hourglass(stacked.reshape(b, -1, d, h, w))  # B x P x D x H x W
        mask = torch.softmax(self.mask(prediction), dim=1)  # B x (K+1) x D x H x W
        deformation = (motions * mask[..., None]).sum(dim=1)  # B x D x H x W x 3
        flat = prediction.reshape(b, -1, h, w)  # B x P·D x H x W
        occlusion = torch.sigmoid(self.occlusion(flat))  # B x 1 x H x W
        return DenseMotion(deformation=deformation, occlusion=occlusion, mask=mask)
