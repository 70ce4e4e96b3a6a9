"""Coordinate grids, Gaussian heatmaps and the first-order sparse motions of M (pure functions).

Coordinates follow ``grid_sample``: the last axis is (x, y, z) with x along the width, y along
the height, z along the depth, each spanning [-1, 1] corner to corner (``align_corners=True``
everywhere in this family).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _axis(n: int, like: Tensor) -> Tensor:
    """n points from -1 to 1 as zhengkw18 computes them: 2 · i / (n − 1) − 1."""
    index = torch.arange(n, device=like.device, dtype=like.dtype)  # n
    return 2 * (index / max(n - 1, 1)) - 1


def coordinate_grid(depth: int, height: int, width: int, like: Tensor) -> Tensor:
    """The identity grid of a D x H x W volume: D x H x W x 3 holding (x, y, z)."""
    z = _axis(depth, like).view(-1, 1, 1).expand(depth, height, width)  # D x H x W
    y = _axis(height, like).view(1, -1, 1).expand(depth, height, width)  # D x H x W
    x = _axis(width, like).view(1, 1, -1).expand(depth, height, width)  # D x H x W
    return torch.stack([x, y, z], dim=-1)  # D x H x W x 3


def coordinate_grid_2d(height: int, width: int, like: Tensor) -> Tensor:
    """The identity grid of an H x W image: H x W x 2 holding (x, y)."""
    y = _axis(height, like).view(-1, 1).expand(height, width)  # H x W
    x = _axis(width, like).view(1, -1).expand(height, width)  # H x W
    return torch.stack([x, y], dim=-1)  # H x W x 2


def gaussian_heatmaps(points: Tensor, grid: Tensor, variance: float) -> Tensor:
    """exp(−|g − x_k|² / 2σ²) of each point over the grid: B x K x N, grid ... x N -> B x K x ...

    Works for 3D (grid D x H x W x 3) and 2D (grid H x W x 2) alike.
    """
    spatial = grid.shape[:-1]
    n = points.shape[-1]
    flat = grid.reshape(1, 1, -1, n)  # 1 x 1 x P x N
    diff = flat - points.unsqueeze(2)  # B x K x P x N
    heat = torch.exp(-0.5 * (diff**2).sum(-1) / variance)  # B x K x P
    return heat.reshape(*points.shape[:2], *spatial)  # B x K x ...


def sparse_motions(grid: Tensor, source: Tensor, driving: Tensor, jacobian: Tensor) -> Tensor:
    """Where each driving cell comes from under each keypoint's first-order motion, plus identity.

    T_k(z) = J_k (z − x_d,k) + x_s,k with J_k = R_s R_d⁻¹ (the paper's first-order term, one
    jacobian B x 3 x 3 shared by all keypoints) or J_k = J_s,k J_d,k⁻¹ (L's optional Jacobians,
    jacobian B x K x 3 x 3); the background motion is the identity. grid D x H x W x 3, points
    B x K x 3 -> B x (K+1) x D x H x W x 3, background first.
    """
    batch, num_kp = source.shape[:2]
    cells = grid.unsqueeze(0).unsqueeze(0)  # 1 x 1 x D x H x W x 3
    relative = cells - driving.view(batch, num_kp, 1, 1, 1, 3)  # B x K x D x H x W x 3
    if jacobian.dim() == 4:
        moved = torch.einsum("bkij,bkdhwj->bkdhwi", jacobian, relative)  # B x K x D x H x W x 3
    else:
        moved = torch.einsum("bij,bkdhwj->bkdhwi", jacobian, relative)  # B x K x D x H x W x 3
    moved = moved + source.view(batch, num_kp, 1, 1, 1, 3)  # B x K x D x H x W x 3
    identity = cells.expand(batch, 1, *grid.shape)  # B x 1 x D x H x W x 3
    return torch.cat([identity, moved], dim=1)  # B x (K+1) x D x H x W x 3


def warp_volume(volume: Tensor, flows: Tensor) -> Tensor:
    """Sample one volume with each of M flows: B x C x D x H x W, B x M x D x H x W x 3 -> B x M x C x D x H x W."""
    batch, channels, depth, height, width = volume.shape
    count = flows.shape[1]
    repeated = volume.unsqueeze(1).expand(
        batch, count, channels, depth, height, width
    )  # B x M x C x D x H x W
    repeated = repeated.reshape(batch * count, channels, depth, height, width)  # BM x C x D x H x W
    grids = flows.reshape(batch * count, depth, height, width, 3)  # BM x D x H x W x 3
    warped = F.grid_sample(repeated, grids, align_corners=True)  # BM x C x D x H x W
    return warped.view(batch, count, channels, depth, height, width)  # B x M x C x D x H x W
