"""The lite family's two small U-Nets and the motion hypotheses they mix.

Kept free of data-dependent Python control flow and of 5D ops, so that the decoder exports to
ONNX as one graph and runs in ONNX Runtime on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class UNet(nn.Module):
    """Encoder at ``widths`` (halving the side at each step), decoder back with skips."""

    def __init__(self, cin: int, widths: tuple[int, ...], cout: int) -> None:
        super().__init__()
        self.down = nn.ModuleList()
        previous = cin
        for width in widths:
            self.down.append(_conv(previous, width))
            previous = width
        self.up = nn.ModuleList()
        for skip in reversed(widths[:-1]):
            self.up.append(_conv(previous + skip, skip))
            previous = skip
        self.out = nn.Conv2d(previous, cout, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.avg_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        return self.out(x)


def base_grid(size: int, like: Tensor) -> Tensor:
    """size x size x 2 (x, y) pixel-centre coordinates in [-1, 1] (align_corners=False)."""
    axis = (torch.arange(size, dtype=like.dtype, device=like.device) * 2 + 1) / size - 1
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x, y], dim=-1)


def upsample_flow(flow: Tensor, size: int) -> Tensor:
    """B x m x m x 2 sampling grid -> B x size x size x 2, exact for the identity.

    Upsampling the grid itself would clamp it at the borders (half a coarse pixel pulled
    inwards); the displacement is upsampled instead and added to the fine identity grid.
    """
    displacement = (flow - base_grid(flow.shape[1], flow)).permute(0, 3, 1, 2)
    fine = F.interpolate(displacement, size=(size, size), mode="bilinear", align_corners=False)
    return fine.permute(0, 2, 3, 1) + base_grid(size, flow)


def local_affines(source_rotation: Tensor, driving_rotation: Tensor, scale: Tensor) -> Tensor:
    """B x 2 x 2: how a small patch around a keypoint maps from the driving to the source frame.

    The image-plane block of R_s · R_dᵀ (the paper's first-order term without Jacobians), times
    the ratio of the two faces' sizes.
    """
    relative = source_rotation @ driving_rotation.transpose(1, 2)  # B x 3 x 3
    return relative[:, :2, :2] * scale[:, None, None]


def hypotheses(grid: Tensor, source_kp: Tensor, driving_kp: Tensor, affine: Tensor) -> Tensor:
    """B x (K+1) x H x W x 2 sampling grids: the identity, then one per keypoint.

    Hypothesis k carries a driving-frame point z to x_s,k + A_k · (z − x_d,k); ``affine`` is
    B x K x 2 x 2.
    """
    batch = source_kp.shape[0]
    z = grid[None, None]  # 1 x 1 x H x W x 2
    offset = z - driving_kp[:, :, None, None, :]  # B x K x H x W x 2
    moved = torch.einsum("bkij,bkhwj->bkhwi", affine, offset) + source_kp[:, :, None, None, :]
    identity = z.expand(batch, 1, *grid.shape)
    return torch.cat([identity, moved], dim=1)


def heatmaps(grid: Tensor, points: Tensor, sigma: float) -> Tensor:
    """B x K x H x W Gaussian bumps at ``points`` (B x K x 2)."""
    d2 = ((grid[None, None] - points[:, :, None, None, :]) ** 2).sum(-1)
    return torch.exp(d2 * (-0.5 / sigma**2))


class DenseMotion(nn.Module):
    """M: mixes the K + 1 hypotheses into one flow and says where the keyframe cannot help."""

    def __init__(self, num_kp: int, widths: tuple[int, ...], size: int, sigma: float) -> None:
        super().__init__()
        self.size, self.sigma = size, sigma
        self.net = UNet((num_kp + 1) * 4, widths, num_kp + 2)

    def forward(
        self, source: Tensor, source_kp: Tensor, driving_kp: Tensor, affine: Tensor
    ) -> tuple[Tensor, Tensor]:
        """source: B x 3 x m x m -> flow (B x m x m x 2 grid), occlusion logits (B x 1 x m x m)."""
        batch, k = source_kp.shape[:2]
        grid = base_grid(self.size, source)
        grids = hypotheses(grid, source_kp, driving_kp, affine)  # B x K+1 x m x m x 2
        flat = grids.reshape(batch * (k + 1), self.size, self.size, 2)
        repeated = source[:, None].expand(batch, k + 1, *source.shape[1:])
        repeated = repeated.reshape(batch * (k + 1), *source.shape[1:])
        deformed = F.grid_sample(
            repeated, flat, mode="bilinear", padding_mode="border", align_corners=False
        )
        deformed = deformed.reshape(batch, (k + 1) * 3, self.size, self.size)
        heat = heatmaps(grid, driving_kp, self.sigma) - heatmaps(grid, source_kp, self.sigma)
        heat = torch.cat([torch.zeros_like(heat[:, :1]), heat], dim=1)  # B x K+1 x m x m
        out = self.net(torch.cat([heat, deformed], dim=1))
        mask = torch.softmax(out[:, : k + 1], dim=1)  # B x K+1 x m x m
        flow = (mask[..., None] * grids).sum(dim=1)  # B x m x m x 2
        return flow, out[:, k + 1 :]


class Inpainter(nn.Module):
    """G: paints what the warp cannot bring and says where to trust the warped keyframe."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.net = UNet(3 + 1 + 2, widths, 4)

    def forward(
        self, warped: Tensor, occlusion: Tensor, displacement: Tensor
    ) -> tuple[Tensor, Tensor]:
        """All at g x g -> inpainting RGB in [0, 1], blend logits (B x 1 x g x g)."""
        out = self.net(torch.cat([warped, occlusion, displacement], dim=1))
        return torch.sigmoid(out[:, :3]), out[:, 3:]
