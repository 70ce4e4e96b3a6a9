"""The face-vid2vid family behind :class:`TalkingHeadModel`: F, L, H+Δ, M and G wired together."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from vid2vid.codec.config import ModelConfig
from vid2vid.codec.facevid2vid.appearance import AppearanceFeatureExtractor
from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.facevid2vid.generator import Generator
from vid2vid.codec.facevid2vid.head_pose import HeadPoseEstimator
from vid2vid.codec.facevid2vid.keypoint_detector import CanonicalKeypointDetector
from vid2vid.codec.facevid2vid.motion_field import MotionFieldEstimator
from vid2vid.codec.keypoints import CanonicalKeypoints, Keypoints, Motion
from vid2vid.codec.talking_head import TalkingHeadModel
from vid2vid.errors import ConfigError

#: Our submodule name -> the key of zhengkw18's checkpoint dict holding its state dict.
ORIGINAL_NAMES: dict[str, str] = {
    "appearance": "afe",
    "keypoint_detector": "ckd",
    "head_pose": "hpe_ede",
    "motion_field": "mfe",
    "generator": "generator",
}


class Decoded(NamedTuple):
    """The decoded frame with M's intermediates, for parity checks and visualization."""

    image: Tensor  # B x 3 x S x S
    deformation: Tensor  # B x D x H x W x 3
    occlusion: Tensor  # B x 1 x H x W
    mask: Tensor  # B x (K+1) x D x H x W


def check_sizes(config: ModelConfig) -> None:
    """Every size divides where the networks halve it, and G lands on ``output_size``."""
    arch = config.arch
    assert isinstance(arch, FaceVid2VidArch)
    if config.input_size % arch.appearance_stride:
        raise ConfigError(
            f"input_size {config.input_size} is not divisible by the appearance stride "
            f"{arch.appearance_stride} (arch.appearance_channels)"
        )
    volume = config.input_size // arch.appearance_stride
    if volume % 2 ** len(arch.motion_down):
        raise ConfigError(
            f"volume size {volume} is not divisible by 2^{len(arch.motion_down)} (arch.motion_down)"
        )
    scaled = config.input_size * arch.keypoint_scale
    if scaled != int(scaled) or int(scaled) % 2 ** len(arch.keypoint_down):
        raise ConfigError(
            f"input_size {config.input_size} x arch.keypoint_scale {arch.keypoint_scale} = {scaled} "
            f"is not divisible by 2^{len(arch.keypoint_down)} (arch.keypoint_down)"
        )
    if volume * arch.generator_upscale != config.output_size:
        raise ConfigError(
            f"output_size {config.output_size} does not match the generator: volume {volume} x "
            f"{arch.generator_upscale} = {volume * arch.generator_upscale} (arch.generator_extra_up)"
        )


class FaceVid2VidModel(TalkingHeadModel):
    """zhengkw18/face-vid2vid's networks; rotation ``"xyz"``: R = Rx(pitch) · Ry(yaw) · Rz(roll).

    Submodules map one-to-one to the original's checkpoint entries (:data:`ORIGINAL_NAMES`),
    with identical key paths inside, so converting a checkpoint is a prefix rename.
    """

    convention = "xyz"
    uses_translation_z = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        arch = config.arch
        if not isinstance(arch, FaceVid2VidArch):
            raise ConfigError(f"arch must be FaceVid2VidArch, got {type(arch).__name__}")
        check_sizes(config)
        self.appearance = AppearanceFeatureExtractor(arch)
        self.keypoint_detector = CanonicalKeypointDetector(arch, config.num_kp)
        self.head_pose = HeadPoseEstimator(arch, config.num_kp)
        self.motion_field = MotionFieldEstimator(arch, config.num_kp)
        self.generator = Generator(arch)

    def extract_appearance(self, image: Tensor) -> Tensor:
        return self.appearance(image)  # B x C x D x H x W

    def extract_canonical(self, image: Tensor) -> Tensor:
        return self.keypoint_detector(image)  # B x K x 3

    def extract_canonical_with_jacobians(self, image: Tensor) -> CanonicalKeypoints:
        return self.keypoint_detector.forward_with_jacobians(image)  # B x K x 3, B x K x 3 x 3

    def extract_motion(self, image: Tensor, reference: Tensor | None = None) -> Motion:
        del reference  # absolute motion: no keyframe needed
        pose = self.head_pose(image)
        return Motion(
            yaw=pose.yaw,
            pitch=pose.pitch,
            roll=pose.roll,
            translation=pose.translation,
            deformation=pose.deformation,
            scale=pose.yaw.new_ones(pose.yaw.shape),  # B: this family has no scale
        )

    def decode_with_intermediates(
        self, volume: Tensor, source: Keypoints, driving: Keypoints
    ) -> Decoded:
        """M then G, keeping M's deformation, occlusion and mask.

        M uses the per-keypoint J_s,k J_d,k⁻¹ when both keypoint sets carry Jacobians, else the
        rotations' R_s R_d⁻¹.
        """
        field = self.motion_field(
            volume,
            source.points,
            driving.points,
            source.rotation,
            driving.rotation,
            source.jacobians,
            driving.jacobians,
        )
        image = self.generator(volume, field.deformation, field.occlusion)  # B x 3 x S x S
        return Decoded(
            image=image, deformation=field.deformation, occlusion=field.occlusion, mask=field.mask
        )

    def decode(self, volume: Tensor, source: Keypoints, driving: Keypoints) -> Tensor:
        return self.decode_with_intermediates(volume, source, driving).image
