"""LivePortrait as a :class:`TalkingHeadModel`: F, the motion extractor, W, G and the MLPs.

Submodule names make conversion a plain prefix rename of LivePortrait's files:
``appearance.`` ↔ appearance_feature_extractor.pth, ``motion_extractor.`` ↔ motion_extractor.pth,
``warping.`` ↔ warping_module.pth, ``generator.`` ↔ spade_generator.pth, and ``stitching.``,
``lip.``, ``eye.`` ↔ the three dicts of stitching_retargeting_module.pth (present only when
``arch.stitching``: the base modules alone make a complete codec).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from vid2vid.codec.config import ModelConfig
from vid2vid.codec.keypoints import Keypoints, Motion, angles_from_bins
from vid2vid.codec.liveportrait.appearance import AppearanceFeatureExtractor
from vid2vid.codec.liveportrait.arch import LivePortraitArch
from vid2vid.codec.liveportrait.motion_extractor import MotionExtractor, MotionHeads
from vid2vid.codec.liveportrait.spade_generator import SpadeGenerator
from vid2vid.codec.liveportrait.stitching import StitchingMLP
from vid2vid.codec.liveportrait.warping import WarpingNetwork
from vid2vid.codec.talking_head import KeyframeFeatures, TalkingHeadModel
from vid2vid.errors import ConfigError

#: LivePortrait's 66 angle bins: 3° each, centred so that bin 32.5 is 0°.
BIN_DEGREES = 3.0
BIN_OFFSET_DEGREES = 97.5


class DecodeOutput(NamedTuple):
    """:meth:`LivePortraitModel.decode_with_intermediates`: the image and what led to it."""

    image: Tensor  # B x 3 x S x S, sigmoid of the logits
    logits: Tensor  # B x 3 x S x S
    warped: Tensor  # B x 256 x H x W, W's output (occlusion applied)
    occlusion: Tensor  # B x 1 x H x W
    deformation: Tensor  # B x D x H x W x 3


def _check_sizes(config: ModelConfig, arch: LivePortraitArch) -> None:
    """The sizes the networks impose on the config, checked before building anything."""
    cells = config.input_size // arch.volume_scale
    if config.input_size % arch.volume_scale or cells % 2**arch.motion_blocks:
        raise ConfigError(
            f"input_size must be divisible by {arch.volume_scale * 2**arch.motion_blocks} for this "
            f"LivePortrait arch (volume scale × hourglass), got {config.input_size}"
        )
    if config.output_size != cells * arch.output_scale:
        raise ConfigError(
            f"output_size must be {cells * arch.output_scale} for input_size {config.input_size} "
            f"with this LivePortrait arch, got {config.output_size}"
        )


class LivePortraitModel(TalkingHeadModel):
    """LivePortrait's networks behind the family-neutral interface.

    The motion extractor yields x_c and the motion in one pass; :meth:`encode_keyframe` runs it
    once. ``decode`` is exactly LivePortrait's warp + decode of (x_s, x_d); :meth:`animate`
    also applies the stitching MLP to x_d when the model has it, as LivePortrait's pipeline does.
    """

    convention = "zyx"
    uses_translation_z = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        arch = config.arch
        if not isinstance(arch, LivePortraitArch):
            raise ConfigError(f"arch must be LivePortraitArch, got {type(arch).__name__}")
        _check_sizes(config, arch)
        k = config.num_kp
        self.arch = arch
        self.appearance = AppearanceFeatureExtractor(arch)
        self.motion_extractor = MotionExtractor(arch, k)
        self.warping = WarpingNetwork(arch, k)
        self.generator = SpadeGenerator(arch)
        self.stitching: StitchingMLP | None = None
        self.lip: StitchingMLP | None = None
        self.eye: StitchingMLP | None = None
        if arch.stitching:
            self.stitching = StitchingMLP(6 * k, arch.stitching_hidden, 3 * k + 2)
            self.lip = StitchingMLP(3 * k + 2, arch.lip_hidden, 3 * k)
            self.eye = StitchingMLP(3 * k + 3, arch.eye_hidden, 3 * k)

    # -- motion extractor -------------------------------------------------------------------
    def heads(self, image: Tensor) -> MotionHeads:
        """The motion extractor's raw outputs (bin logits, flat keypoints)."""
        return self.motion_extractor(image)

    def canonical_from_heads(self, heads: MotionHeads) -> Tensor:
        return heads.kp.reshape(heads.kp.shape[0], -1, 3)  # B x K x 3

    def motion_from_heads(self, heads: MotionHeads) -> Motion:
        """Angles in degrees from the bins; δ as B x K x 3; scale as B."""
        batch = heads.exp.shape[0]
        return Motion(
            yaw=angles_from_bins(heads.yaw, BIN_DEGREES, BIN_OFFSET_DEGREES),
            pitch=angles_from_bins(heads.pitch, BIN_DEGREES, BIN_OFFSET_DEGREES),
            roll=angles_from_bins(heads.roll, BIN_DEGREES, BIN_OFFSET_DEGREES),
            translation=heads.t,
            deformation=heads.exp.reshape(batch, -1, 3),  # B x K x 3
            scale=heads.scale[:, 0],  # B
        )

    # -- the four stages --------------------------------------------------------------------
    def extract_appearance(self, image: Tensor) -> Tensor:
        return self.appearance(image)

    def extract_canonical(self, image: Tensor) -> Tensor:
        return self.canonical_from_heads(self.heads(image))

    def extract_motion(self, image: Tensor, reference: Tensor | None = None) -> Motion:
        del reference  # absolute motion: no keyframe needed
        return self.motion_from_heads(self.heads(image))

    def encode_keyframe(self, image: Tensor) -> KeyframeFeatures:
        heads = self.heads(image)
        return KeyframeFeatures(
            volume=self.extract_appearance(image),
            canonical=self.canonical_from_heads(heads),
            motion=self.motion_from_heads(heads),
        )

    def decode_with_intermediates(
        self, volume: Tensor, source: Keypoints, driving: Keypoints
    ) -> DecodeOutput:
        warp = self.warping(volume, source.points, driving.points)
        logits = self.generator(warp.out)
        return DecodeOutput(
            image=torch.sigmoid(logits),
            logits=logits,
            warped=warp.out,
            occlusion=warp.occlusion,
            deformation=warp.deformation,
        )

    def decode(self, volume: Tensor, source: Keypoints, driving: Keypoints) -> Tensor:
        return self.decode_with_intermediates(volume, source, driving).image

    # -- stitching and retargeting ----------------------------------------------------------
    @property
    def has_stitching(self) -> bool:
        return self.stitching is not None

    def stitch(self, source: Keypoints, driving: Keypoints) -> Keypoints:
        """x_d + the stitching MLP's offsets, so the shoulders and the crop edge stay put."""
        if self.stitching is None:
            raise ConfigError(
                "this LivePortrait model has no stitching MLP (arch.stitching is false)"
            )
        b, k, _ = driving.points.shape
        flat_source = source.points.reshape(b, -1)  # B x 3K
        flat_driving = driving.points.reshape(b, -1)  # B x 3K
        feat = torch.cat([flat_source, flat_driving], dim=1)  # B x 6K
        delta = self.stitching(feat)  # B x (3K + 2)
        offsets = delta[:, : 3 * k].reshape(b, k, 3)  # B x K x 3
        shift = torch.cat([delta[:, 3 * k : 3 * k + 2], delta.new_zeros(b, 1)], dim=1)  # B x 3
        return Keypoints(
            points=driving.points + offsets + shift[:, None], rotation=driving.rotation
        )

    def retarget_lip(self, source: Tensor, lip_ratio: Tensor) -> Tensor:
        """Keypoint offsets that open/close the lips: x_s (B x K x 3), ratios (B x 2) -> B x K x 3."""
        return self._retarget(self.lip, "lip", source, lip_ratio)

    def retarget_eye(self, source: Tensor, eye_ratio: Tensor) -> Tensor:
        """Keypoint offsets that open/close the eyes: x_s (B x K x 3), ratios (B x 3) -> B x K x 3."""
        return self._retarget(self.eye, "eye", source, eye_ratio)

    def _retarget(
        self, mlp: StitchingMLP | None, what: str, source: Tensor, ratio: Tensor
    ) -> Tensor:
        if mlp is None:
            raise ConfigError(
                f"this LivePortrait model has no {what} MLP (arch.stitching is false)"
            )
        b, k, _ = source.shape
        delta = mlp(torch.cat([source.reshape(b, -1), ratio], dim=1))  # B x 3K
        return delta.reshape(b, k, 3)  # B x K x 3

    # -- composition ------------------------------------------------------------------------
    def adjust_driving(self, source: Keypoints, driving: Keypoints) -> Keypoints:
        """x_d stitched to x_s when the model has the stitching MLP (its weights' device)."""
        if self.stitching is None:
            return driving
        device = next(self.stitching.parameters()).device
        stitched = self.stitch(
            Keypoints(source.points.to(device), source.rotation.to(device)),
            Keypoints(driving.points.to(device), driving.rotation.to(device)),
        )
        return Keypoints(stitched.points.to(driving.points.device), driving.rotation)
