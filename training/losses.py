"""The paper's loss terms (face-vid2vid §3.3), each a small function of tensors.

The weights λ live in :class:`vid2vid.training.trainer.LossWeights`; the functions here are
unweighted. The multi-scale perceptual loss, which needs a VGG19, is in
:mod:`vid2vid.training.perceptual`.

- GAN: hinge loss of the multi-scale patch discriminator (D: relu(1 − D(real)) + relu(1 + D(fake));
  G: −D(fake)), summed over scales, as pix2pixHD / SPADE.
- feature matching: L1 between D's hidden features of the real and the generated frame.
- equivariance: keypoints of a randomly warped driving frame, mapped back through the warp,
  must equal the driving keypoints (x, y only: the warp is 2D); with Jacobians, J_d⁻¹ · ∂T · J_T
  must be the identity (first-order-model's form, on the x-y blocks).
- keypoint prior: Σ_{i≠j} max(0, D_t − ‖x_i − x_j‖²) spreads the keypoints, and
  |mean_k z_k − z_t| keeps their mean depth at z_t (D_t = 0.1, z_t = 0.33 in the paper).
- head pose: L1 between the predicted rotation R_d and the reference R̄_d, for frames that have one.
- deformation prior: L1 of the expression deformations δ_d.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from vid2vid.training.warp import RandomWarp


def hinge_discriminator_loss(
    real_logits: Sequence[Tensor], fake_logits: Sequence[Tensor]
) -> Tensor:
    """D's hinge loss summed over scales; zero once D(real) ≥ 1 and D(fake) ≤ −1 everywhere."""
    total = real_logits[0].new_zeros(())
    for real, fake in zip(real_logits, fake_logits, strict=True):
        total = total + torch.relu(1.0 - real).mean() + torch.relu(1.0 + fake).mean()
    return total


def hinge_generator_loss(fake_logits: Sequence[Tensor]) -> Tensor:
    """G's side of the hinge GAN, summed over scales: −mean D(fake) (lower when D is fooled)."""
    total = fake_logits[0].new_zeros(())
    for fake in fake_logits:
        total = total - fake.mean()
    return total


def feature_matching_loss(
    real_features: Sequence[Sequence[Tensor]], fake_features: Sequence[Sequence[Tensor]]
) -> Tensor:
    """Σ over scales and layers of mean |F_D(real) − F_D(fake)|; the real side is a constant."""
    total = fake_features[0][0].new_zeros(())
    for real_scale, fake_scale in zip(real_features, fake_features, strict=True):
        for real, fake in zip(real_scale, fake_scale, strict=True):
            total = total + (real.detach() - fake).abs().mean()
    return total


def equivariance_loss(driving_xy: Tensor, warped_xy: Tensor, warp: RandomWarp) -> Tensor:
    """mean |x_d − T(x_T)|: B x K x 2 keypoints of the frame and of the warped frame."""
    return (driving_xy - warp.warp_coordinates(warped_xy)).abs().mean()


def jacobian_equivariance_loss(
    driving_jacobians: Tensor, warped_jacobians: Tensor, warped_xy: Tensor, warp: RandomWarp
) -> Tensor:
    """mean |I − J_d⁻¹ · ∂T(x_T) · J_T| on the x-y blocks: B x K x 2 x 2 Jacobians, x_T B x K x 2."""
    # float32: linalg.solve has no half-precision kernels (autocast leaves it alone).
    mapped = warp.jacobian(warped_xy.float()) @ warped_jacobians.float()  # B x K x 2 x 2
    value = torch.linalg.solve(driving_jacobians.float(), mapped)  # B x K x 2 x 2
    eye = torch.eye(2, dtype=value.dtype, device=value.device)
    return (eye - value).abs().mean()


def keypoint_prior_loss(keypoints: Tensor, distance: float = 0.1, depth: float = 0.33) -> Tensor:
    """Σ_{i≠j} max(0, D_t − ‖x_i − x_j‖²) + |mean z − z_t|, averaged over the batch (B x K x 3)."""
    squared = ((keypoints.unsqueeze(2) - keypoints.unsqueeze(1)) ** 2).sum(-1)  # B x K x K
    num_kp = keypoints.shape[1]
    off_diagonal = 1.0 - torch.eye(num_kp, dtype=keypoints.dtype, device=keypoints.device)
    spread = (torch.relu(distance - squared) * off_diagonal).sum(dim=(1, 2))  # B
    mean_depth = (keypoints[..., 2].mean(dim=1) - depth).abs()  # B
    return (spread + mean_depth).mean()


def head_pose_loss(rotation: Tensor, reference: Tensor, valid: Tensor) -> Tensor:
    """mean |R_d − R̄_d| over the 3 x 3 entries of the frames with a reference (B x 3 x 3, B)."""
    mask = valid.to(rotation.dtype)  # B
    per_item = (rotation - reference.to(rotation.dtype)).abs().mean(dim=(1, 2))  # B
    return (per_item * mask).sum() / mask.sum().clamp(min=1.0)


def deformation_prior_loss(deformation: Tensor) -> Tensor:
    """mean |δ_d|: B x K x 3 expression deformations stay small, so the pose does the head's work."""
    return deformation.abs().mean()


def reconstruction_l1(prediction: Tensor, target: Tensor) -> Tensor:
    """mean |ŷ − y| of images in [0, 1]: the fallback pixel term, and the logged reconstruction error."""
    return (prediction - target).abs().mean()
