"""M: the motion field estimator, (f_s, x_s, x_d, R_s, R_d[, J_s, J_d]) -> deformation, occlusion."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.facevid2vid.blocks import DownBlock, UpBlock
from vid2vid.codec.facevid2vid.geometry import (
    coordinate_grid,
    gaussian_heatmaps,
    sparse_motions,
    warp_volume,
)


class MotionField(NamedTuple):
    """M's outputs: where each driving cell samples f_s, and how visible each output pixel is."""

    deformation: Tensor  # B x D x H x W x 3, (x, y, z) for grid_sample
    occlusion: Tensor  # B x 1 x H x W in (0, 1)
    mask: Tensor  # B x (K+1) x D x H x W, softmax over the K+1 motions (background first)


class MotionFieldEstimator(nn.Module):
    """Blends K+1 candidate motions (identity + one first-order motion per keypoint) per cell.

    The input per motion is its Gaussian heatmap difference (driving − source; zero for the
    background) and the compressed volume warped by it; a 3D encoder-decoder predicts the
    softmax mask that mixes the motions, and a 2D conv on the flattened features predicts the
    occlusion. zhengkw18's ``MFE`` (state-dict names kept).
    """

    def __init__(self, arch: FaceVid2VidArch, num_kp: int) -> None:
        super().__init__()
        in_channels = (num_kp + 1) * (arch.motion_compressed + 1)
        down = (in_channels, *arch.motion_down)
        up = (arch.motion_down[-1], *arch.motion_up)
        self.compress = nn.Conv3d(arch.volume_channels, arch.motion_compressed, 1, 1, 0)
        self.down = nn.Sequential(
            *[DownBlock(down[i], down[i + 1], dim=3) for i in range(len(down) - 1)]
        )
        self.up = nn.Sequential(*[UpBlock(up[i], up[i + 1], dim=3) for i in range(len(up) - 1)])
        features = in_channels + up[-1]
        self.mask_conv = nn.Conv3d(features, num_kp + 1, 7, 1, 3)
        self.occlusion_conv = nn.Conv2d(features * arch.volume_depth, 1, 7, 1, 3)
        self.variance = arch.heatmap_variance

    def forward(
        self,
        volume: Tensor,
        source: Tensor,
        driving: Tensor,
        source_rotation: Tensor,
        driving_rotation: Tensor,
        source_jacobians: Tensor | None = None,
        driving_jacobians: Tensor | None = None,
    ) -> MotionField:
        """f_s B x C x D x H x W; x_s, x_d B x K x 3; R_s, R_d B x 3 x 3; J_s, J_d B x K x 3 x 3.

        With both posed Jacobians the motion of keypoint k is J_s,k J_d,k⁻¹; otherwise (the
        default, and zhengkw18's model) it is R_s R_d⁻¹ for every keypoint.
        """
        compressed = self.compress(volume)  # B x c x D x H x W
        batch, _, depth, height, width = compressed.shape
        grid = coordinate_grid(depth, height, width, like=compressed)  # D x H x W x 3
        heat = gaussian_heatmaps(driving, grid, self.variance) - gaussian_heatmaps(
            source, grid, self.variance
        )  # B x K x D x H x W
        heat = torch.cat([torch.zeros_like(heat[:, :1]), heat], dim=1)  # B x (K+1) x D x H x W
        if source_jacobians is not None and driving_jacobians is not None:
            # J_k = J_s,k J_d,k⁻¹, solved as X · J_d = J_s. The standard ONNX opset has no solve
            # or inverse (onnxruntime only a contrib Inverse), so exporting M with Jacobians
            # would need a closed-form 3x3 inverse (adjugate / determinant) here.
            jacobian = torch.linalg.solve(
                driving_jacobians, source_jacobians, left=False
            )  # B x K x 3 x 3
        else:
            # J = R_s R_d⁻¹; a rotation's inverse is its transpose (and exports to ONNX, inverse does not).
            jacobian = source_rotation @ driving_rotation.transpose(1, 2)  # B x 3 x 3
        motions = sparse_motions(grid, source, driving, jacobian)  # B x (K+1) x D x H x W x 3
        warped = warp_volume(compressed, motions)  # B x (K+1) x c x D x H x W
        x = torch.cat([heat.unsqueeze(2), warped], dim=2)  # B x (K+1) x (c+1) x D x H x W
        x = x.view(batch, -1, depth, height, width)  # B x (K+1)(c+1) x D x H x W
        x = torch.cat([x, self.up(self.down(x))], dim=1)  # B x F x D x H x W
        mask = torch.softmax(self.mask_conv(x), dim=1)  # B x (K+1) x D x H x W
        deformation = (motions * mask.unsqueeze(-1)).sum(dim=1)  # B x D x H x W x 3
        occlusion = torch.sigmoid(
            self.occlusion_conv(x.view(batch, -1, height, width))
        )  # B x 1 x H x W
        return MotionField(deformation=deformation, occlusion=occlusion, mask=mask)
