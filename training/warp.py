"""The random warp T of the equivariance loss: an affine map plus a thin-plate spline.

As in first-order-model (and face-vid2vid after it): θ = I + N(0, σ_affine) as a 2 x 3 affine
matrix, and a TPS on a 5 x 5 grid of control points with N(0, σ_tps) weights, whose radial term
``r² log r`` (r the L1 distance to a control point) is added to both coordinates. Coordinates are
``grid_sample``'s (x, y) in [-1, 1] with ``align_corners=True``, as everywhere in the face-vid2vid
family. ``warp_image`` samples the image at T(p), so a point q of the image shows up at T⁻¹(q)
in the warped image: keypoints found in the warped image, mapped through T, must land on the
keypoints of the original.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vid2vid.codec.facevid2vid.geometry import coordinate_grid_2d


class RandomWarp:
    """One random warp per batch item, drawn from ``generator`` (CPU) and kept on ``device``."""

    def __init__(
        self,
        batch: int,
        *,
        generator: torch.Generator,
        sigma_affine: float = 0.05,
        sigma_tps: float = 0.005,
        points_tps: int = 5,
        device: torch.device | str = "cpu",
    ) -> None:
        noise = torch.normal(0.0, sigma_affine, (batch, 2, 3), generator=generator)
        self.theta = (noise + torch.eye(2, 3)).to(device)  # B x 2 x 3
        axis = torch.linspace(-1.0, 1.0, points_tps)
        ys, xs = torch.meshgrid(axis, axis, indexing="ij")
        self.control_points = (
            torch.stack([xs, ys], dim=-1).reshape(1, -1, 2).to(device)
        )  # 1 x P x 2
        self.control_params = torch.normal(
            0.0, sigma_tps, (batch, 1, points_tps**2), generator=generator
        ).to(device)  # B x 1 x P

    @classmethod
    def identity(cls, batch: int, device: torch.device | str = "cpu") -> RandomWarp:
        """T(p) = p: for tests and for switching the loss off without changing shapes."""
        return cls(batch, generator=torch.Generator().manual_seed(0), sigma_affine=0.0,
                   sigma_tps=0.0, device=device)  # fmt: skip

    def warp_coordinates(self, coords: Tensor) -> Tensor:
        """T(p): B x N x 2 -> B x N x 2."""
        theta = self.theta.to(coords.dtype)
        moved = (
            torch.einsum("bij,bnj->bni", theta[:, :, :2], coords) + theta[:, None, :, 2]
        )  # B x N x 2
        diff = coords.unsqueeze(2) - self.control_points.to(coords.dtype).unsqueeze(
            1
        )  # B x N x P x 2
        distance = diff.abs().sum(-1)  # B x N x P
        radial = distance**2 * torch.log(distance + 1e-6)  # B x N x P
        tps = (radial * self.control_params.to(coords.dtype)).sum(dim=2, keepdim=True)  # B x N x 1
        return moved + tps  # B x N x 2

    def jacobian(self, coords: Tensor) -> Tensor:
        """∂T/∂p at each point: B x N x 2 -> B x N x 2 x 2 (rows: output x, y)."""
        with torch.enable_grad():
            points = coords.detach().requires_grad_(True)
            moved = self.warp_coordinates(points)  # B x N x 2
            grad_x = torch.autograd.grad(moved[..., 0].sum(), points, create_graph=True)[0]
            grad_y = torch.autograd.grad(moved[..., 1].sum(), points, create_graph=True)[0]
        return torch.stack([grad_x, grad_y], dim=-2)  # B x N x 2 x 2

    def warp_image(self, image: Tensor) -> Tensor:
        """The image sampled at T(p): B x C x H x W -> B x C x H x W (reflection at borders)."""
        batch, _, height, width = image.shape
        grid = coordinate_grid_2d(height, width, like=image).reshape(1, -1, 2)  # 1 x HW x 2
        grid = self.warp_coordinates(grid.expand(batch, -1, -1))  # B x HW x 2
        grid = grid.view(batch, height, width, 2)  # B x H x W x 2
        return F.grid_sample(image, grid, padding_mode="reflection", align_corners=True)
