"""The paper's full objective for one batch: the generator side and the discriminator side.

Generator side (F, L, H+Δ, M, G together):

    λ_P L_P(ŷ, y) + λ_G L_GAN(ŷ) + λ_FM L_FM(ŷ, y) + λ_E L_E + λ_L L_L(x_d) + λ_H L_H(R_d, R̄_d) + λ_Δ L_Δ(δ_d)

with the paper's λ_P = 10, λ_G = 1, λ_E = 20, λ_L = 10, λ_H = 20, λ_Δ = 5 and pix2pixHD's
λ_FM = 10. Without VGG19 weights L_P is off and a pixel L1 (λ 10) stands beside the feature
matching, so the generator still gets a dense signal from the first step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from vid2vid.codec.facevid2vid.model import FaceVid2VidModel
from vid2vid.codec.facevid2vid.multiscale_discriminator import MultiScaleDiscriminator
from vid2vid.errors import ConfigError
from vid2vid.training import losses
from vid2vid.training.dataset import Pair
from vid2vid.training.perceptual import MultiScalePerceptualLoss
from vid2vid.training.warp import RandomWarp


@dataclass(frozen=True)
class LossWeights:
    """λ of each term; 0 switches a term off (and skips its computation)."""

    perceptual: float = 10.0
    gan: float = 1.0
    feature_matching: float = 10.0
    equivariance: float = 20.0
    jacobian: float = 20.0  # only with arch.estimate_jacobian
    keypoint_prior: float = 10.0
    head_pose: float = 20.0
    deformation: float = 5.0
    pixel_fallback: float = 10.0  # pixel L1, only when there is no perceptual loss

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not value >= 0.0:
                raise ConfigError(f"loss weight {name} must be >= 0, got {value!r}")


class Forward(NamedTuple):
    """What the generator side computed, for the discriminator step and the samples."""

    prediction: Tensor  # B x 3 x S x S
    driving_points: Tensor  # B x K x 3


def generator_step_losses(
    model: FaceVid2VidModel,
    discriminator: MultiScaleDiscriminator,
    batch: Pair,
    warp: RandomWarp,
    weights: LossWeights,
    perceptual: MultiScalePerceptualLoss | None,
    *,
    use_pose: bool,
) -> tuple[Tensor, dict[str, Tensor], Forward]:
    """The weighted total of the generator side, its unweighted terms, and the forward pass."""
    canonical = model.extract_canonical_with_jacobians(batch.source)  # B x K x 3 (+ J_c)
    volume = model.extract_appearance(batch.source)  # B x C x D x H x W
    source_motion = model.extract_motion(batch.source)
    driving_motion = model.extract_motion(batch.driving)
    jac = canonical.jacobians
    kp_source = model.pose(canonical.points, source_motion, jacobians=jac)
    kp_driving = model.pose(canonical.points, driving_motion, jacobians=jac)
    prediction = model.decode(volume, kp_source, kp_driving)  # B x 3 x S x S

    terms: dict[str, Tensor] = {}
    total = prediction.new_zeros(())
    terms["l1"] = losses.reconstruction_l1(prediction, batch.target)
    if perceptual is not None and weights.perceptual > 0:
        terms["perceptual"] = perceptual(prediction, batch.target)
        total = total + weights.perceptual * terms["perceptual"]
    elif weights.pixel_fallback > 0:
        total = total + weights.pixel_fallback * terms["l1"]

    if weights.gan > 0 or weights.feature_matching > 0:
        fake = discriminator(prediction, kp_driving.points)
        if weights.gan > 0:
            terms["gan"] = losses.hinge_generator_loss(fake.logits)
            total = total + weights.gan * terms["gan"]
        if weights.feature_matching > 0:
            with torch.no_grad():
                real = discriminator(batch.target, kp_driving.points)
            terms["feature_matching"] = losses.feature_matching_loss(real.features, fake.features)
            total = total + weights.feature_matching * terms["feature_matching"]

    if weights.equivariance > 0 or (jac is not None and weights.jacobian > 0):
        warped_motion = model.extract_motion(warp.warp_image(batch.driving))
        kp_warped = model.pose(canonical.points, warped_motion, jacobians=jac)
        driving_xy, warped_xy = kp_driving.points[..., :2], kp_warped.points[..., :2]  # B x K x 2
        if weights.equivariance > 0:
            terms["equivariance"] = losses.equivariance_loss(driving_xy, warped_xy, warp)
            total = total + weights.equivariance * terms["equivariance"]
        if (
            kp_driving.jacobians is not None
            and kp_warped.jacobians is not None
            and weights.jacobian > 0
        ):
            terms["jacobian"] = losses.jacobian_equivariance_loss(
                kp_driving.jacobians[..., :2, :2], kp_warped.jacobians[..., :2, :2], warped_xy, warp
            )
            total = total + weights.jacobian * terms["jacobian"]

    if weights.keypoint_prior > 0:
        terms["keypoint_prior"] = losses.keypoint_prior_loss(kp_driving.points)
        total = total + weights.keypoint_prior * terms["keypoint_prior"]
    if use_pose and weights.head_pose > 0:
        terms["head_pose"] = losses.head_pose_loss(
            kp_driving.rotation, batch.pose, batch.pose_valid
        )
        total = total + weights.head_pose * terms["head_pose"]
    if weights.deformation > 0:
        terms["deformation"] = losses.deformation_prior_loss(driving_motion.deformation)
        total = total + weights.deformation * terms["deformation"]
    return total, terms, Forward(prediction, kp_driving.points)


def discriminator_step_loss(
    discriminator: MultiScaleDiscriminator, batch: Pair, forward: Forward, weights: LossWeights
) -> Tensor:
    """λ_G times D's hinge loss on the real driving frame and the (detached) prediction."""
    points = forward.driving_points.detach()
    real = discriminator(batch.target, points)
    fake = discriminator(forward.prediction.detach(), points)
    return weights.gan * losses.hinge_discriminator_loss(real.logits, fake.logits)
