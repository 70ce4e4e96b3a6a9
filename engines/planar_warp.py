"""The 3D warp (5D ``grid_sample``) expressed with one 4D ``grid_sample``, for TensorRT.

TensorRT's ONNX parser takes GridSample on 4D inputs only, and every decoder of the project
warps a 5D appearance volume (M warps the compressed volume by K+1 motions, then G or W warps
f_s by the composed flow). Trilinear sampling is two bilinear samples in the nearest depth
slices blended linearly, so:

1. pad every depth slice with a one-cell zero border and tile the D slices into one 2D image
   (a near-square grid of tiles, to keep pixel coordinates small: float32 resolution falls
   with their size);
2. for each output point take z0 = floor(z) and z1 = z0 + 1, find their tiles, and sample x/y
   in both tiles with one 4D GridSample call (the two grids stacked along the height);
3. blend with weights (1 − (z − z0), z − z0), zeroed for a slice outside 0..D−1.

Zero padding of the reference holds because x/y are clamped to [−1, W] / [−1, H] inside a
tile: at or past −1 (or W) every corner lands in the zero border, never in the neighbour tile.
Both ``align_corners`` settings use ATen's unnormalization, so the result equals the 5D
reference up to float rounding (tests: ≤ 1e-5 on the tiny model's sizes, in torch and ORT).

Only ``mode="bilinear"`` with ``padding_mode="zeros"`` (what every network here uses) is
rewritten; :func:`planar_grid_sample` leaves every other call alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode


def tile_layout(depth: int) -> tuple[int, int]:
    """Rows and columns of the tile grid that holds ``depth`` slices (near-square)."""
    cols = math.ceil(math.sqrt(depth))
    return math.ceil(depth / cols), cols


def _unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    """ATen's ``grid_sampler_unnormalize``: [-1, 1] -> pixel index space of an axis of ``size``."""
    if align_corners:
        return ((coord + 1) / 2) * (size - 1)
    return ((coord + 1) * size - 1) / 2


def tile_volume(volume: Tensor) -> Tensor:
    """B x C x D x H x W -> B x C x rows·(H+2) x cols·(W+2): zero-bordered depth slices as tiles."""
    batch, channels, depth, height, width = volume.shape
    rows, cols = tile_layout(depth)
    padded = F.pad(volume, (1, 1, 1, 1, 0, rows * cols - depth))  # B x C x rc x H+2 x W+2
    tiles = padded.reshape(batch, channels, rows, cols, height + 2, width + 2)
    tiles = tiles.permute(0, 1, 2, 4, 3, 5)  # B x C x rows x H+2 x cols x W+2
    return tiles.reshape(batch, channels, rows * (height + 2), cols * (width + 2))


def grid_sample_3d_as_2d(volume: Tensor, grid: Tensor, align_corners: bool = False) -> Tensor:
    """``F.grid_sample(volume, grid, align_corners=...)`` for 5D inputs, via 4D GridSample.

    volume B x C x D x H x W, grid B x Do x Ho x Wo x 3 holding (x, y, z) -> B x C x Do x Ho x Wo.
    """
    batch, channels, depth, height, width = volume.shape
    _, out_d, out_h, out_w, _ = grid.shape
    rows, cols = tile_layout(depth)
    tile_h, tile_w = height + 2, width + 2
    image = tile_volume(volume)  # B x C x rows·tile_h x cols·tile_w

    ix = _unnormalize(grid[..., 0], width, align_corners).clamp(
        -1.0, float(width)
    )  # B x Do x Ho x Wo
    iy = _unnormalize(grid[..., 1], height, align_corners).clamp(-1.0, float(height))
    iz = _unnormalize(grid[..., 2], depth, align_corners)  # B x Do x Ho x Wo
    z0 = torch.floor(iz)
    upper = iz - z0  # weight of z1 = z0 + 1
    slices = torch.stack([z0, z0 + 1], dim=1)  # B x 2 x Do x Ho x Wo
    weights = torch.stack([1 - upper, upper], dim=1)  # B x 2 x Do x Ho x Wo
    inside = slices.clamp(0.0, float(depth - 1))
    # 1 where the slice exists, 0 where it was clamped (indices are integers, so |Δ| >= 1).
    weights = weights * torch.relu(1 - (slices - inside).abs())  # B x 2 x Do x Ho x Wo
    row = torch.floor(inside / cols)
    col = inside - row * cols
    px = col * tile_w + 1 + ix.unsqueeze(1)  # B x 2 x Do x Ho x Wo, pixels of the tiled image
    py = row * tile_h + 1 + iy.unsqueeze(1)
    gx = px * (2.0 / (cols * tile_w - 1)) - 1  # align_corners=True normalization of the image
    gy = py * (2.0 / (rows * tile_h - 1)) - 1
    planar = torch.stack([gx, gy], dim=-1)  # B x 2 x Do x Ho x Wo x 2
    planar = planar.reshape(batch, 2 * out_d * out_h, out_w, 2)  # B x 2·Do·Ho x Wo x 2
    sampled = F.grid_sample(image, planar, align_corners=True)  # B x C x 2·Do·Ho x Wo
    sampled = sampled.reshape(batch, channels, 2, out_d, out_h, out_w)  # B x C x 2 x Do x Ho x Wo
    return (sampled * weights.unsqueeze(1)).sum(dim=2)  # B x C x Do x Ho x Wo


def _planar(
    input: Tensor,
    grid: Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> Tensor | None:
    """The 4D rewrite when it applies, else None (the caller runs the original)."""
    if input.dim() != 5 or mode != "bilinear" or padding_mode != "zeros":
        return None
    return grid_sample_3d_as_2d(input, grid, bool(align_corners))


class planar_grid_sample(TorchFunctionMode):  # noqa: N801 - used as a context manager
    """Within this context, 5D bilinear zero-padded ``F.grid_sample`` runs as 4D samples.

    A torch-function mode (not a monkeypatch) intercepts the networks' own ``F.grid_sample``
    calls, so ``codec/`` keeps one warp and the export of a TensorRT-bound graph just traces
    the decoder inside ``with planar_grid_sample():``.
    """

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func is F.grid_sample:
            result = _planar(*args, **kwargs)
            if result is not None:
                return result
        return func(*args, **kwargs)
