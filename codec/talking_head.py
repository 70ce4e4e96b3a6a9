"""The talking-head model's interface: what every network family fills in.

Every family splits the same way, which is what the bitstream and the engines rely on:

    keyframe side (once):   F: image -> appearance volume f_s        (B x C x D x H x W)
                            L: image -> canonical keypoints x_c       (B x K x 3)
                               (+ optional Jacobians J_c, B x K x 3 x 3, face-vid2vid only)
    both sides (per frame): H, Δ: image -> Motion (yaw/pitch/roll, t, δ, scale)
    receiver (per frame):   M + warp + G: (f_s, x_s, x_d) -> image    (B x 3 x S x S)

Images are RGB float tensors in [0, 1], B x 3 x H x W at ``config.input_size``.
Families subclass :class:`TalkingHeadModel` and fill the four abstract stages. This module
imports no family, so the families can import it (the factories that pick a family are in
:mod:`vid2vid.codec.model`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

from torch import Tensor, nn

from vid2vid.codec.config import ModelConfig
from vid2vid.codec.keypoints import (
    CanonicalKeypoints,
    FreeView,
    Keypoints,
    Motion,
    RotationConvention,
    posed_keypoints,
)


class KeyframeFeatures(NamedTuple):
    """What the receiver keeps from a keyframe: f_s, x_c, the source motion (and J_c).

    ``jacobians`` are L's canonical Jacobians when the family estimates them (face-vid2vid with
    ``arch.estimate_jacobian``), else None; pass them to :meth:`TalkingHeadModel.pose`.
    """

    volume: Tensor  # B x C x D x H x W
    canonical: Tensor  # B x K x 3
    motion: Motion
    jacobians: Tensor | None = None  # B x K x 3 x 3


class TalkingHeadModel(nn.Module, ABC):
    """Base of every family; subclasses set :attr:`convention` and fill the stages."""

    convention: RotationConvention = "xyz"
    #: LivePortrait ignores the z of the translation; the paper's family uses it.
    uses_translation_z: bool = True
    #: False where H + Δ (and so the keyframe side) is not a network (the lite family reads
    #: dlib landmarks): the engines then run those stages in Python and export only the decoder.
    motion_is_graph: bool = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    # -- the four stages ------------------------------------------------------------------
    @abstractmethod
    def extract_appearance(self, image: Tensor) -> Tensor:
        """F: B x 3 x H x W -> B x C x D x H' x W' appearance volume f_s."""

    @abstractmethod
    def extract_canonical(self, image: Tensor) -> Tensor:
        """L: B x 3 x H x W -> B x K x 3 canonical keypoints x_c in [-1, 1]."""

    @abstractmethod
    def extract_motion(self, image: Tensor, reference: Tensor | None = None) -> Motion:
        """H + Δ of B x 3 x H x W images. ``reference`` is the keyframe image the motion is
        measured against (1 x 3 x H x W or B x 3 x H x W, RGB [0,1], as the receiver decodes
        it); families whose motion is absolute ignore it, and without it reference-relative
        parts are zero (which is exactly the keyframe's own source motion)."""

    @abstractmethod
    def decode(self, volume: Tensor, source: Keypoints, driving: Keypoints) -> Tensor:
        """M, warp and G: rebuild the driving frame, B x 3 x S x S (S = config.output_size)."""

    def extract_canonical_with_jacobians(self, image: Tensor) -> CanonicalKeypoints:
        """L with its optional Jacobians J_c (B x K x 3 x 3); None unless the family has them."""
        return CanonicalKeypoints(points=self.extract_canonical(image))

    # -- compositions -----------------------------------------------------------------------
    def pose(
        self,
        canonical: Tensor,
        motion: Motion,
        view: FreeView | None = None,
        *,
        jacobians: Tensor | None = None,
    ) -> Keypoints:
        """x = s · (R · x_c + δ) + t in this family's convention, with the free view on top.

        Canonical ``jacobians`` (a keyframe's :attr:`KeyframeFeatures.jacobians`) are posed as
        J = R · J_c; without them the keypoints carry none.
        """
        return posed_keypoints(
            canonical,
            motion,
            self.convention,
            view=view,
            use_translation_z=self.uses_translation_z,
            jacobians=jacobians,
        )

    def encode_keyframe(self, image: Tensor) -> KeyframeFeatures:
        """Everything the receiver derives from the keyframe image (its source motion has no
        reference: the keyframe is its own)."""
        canonical = self.extract_canonical_with_jacobians(image)
        return KeyframeFeatures(
            volume=self.extract_appearance(image),
            canonical=canonical.points,
            motion=self.extract_motion(image),
            jacobians=canonical.jacobians,
        )

    def adjust_driving(self, source: Keypoints, driving: Keypoints) -> Keypoints:
        """x_d as the decoder should see it: unchanged here; LivePortrait stitches it to x_s.

        The stream decoder calls this between posing and decoding, so every road to a frame
        (offline decode, the live receiver, the benchmarks) treats x_d the same way.
        """
        return driving

    def animate(
        self, keyframe: KeyframeFeatures, driving: Motion, view: FreeView | None = None
    ) -> Tensor:
        """Rebuild one frame from the keyframe and a driving motion (the receiver's job)."""
        jacobians = keyframe.jacobians
        source_kp = self.pose(keyframe.canonical, keyframe.motion, jacobians=jacobians)
        driving_kp = self.pose(keyframe.canonical, driving, view, jacobians=jacobians)
        return self.decode(keyframe.volume, source_kp, self.adjust_driving(source_kp, driving_kp))

    def forward(self, source: Tensor, driving: Tensor) -> Tensor:
        """Same-identity reconstruction: animate ``source`` with the motion of ``driving``
        (measured against ``source``, the keyframe image)."""
        driving_motion = self.extract_motion(driving, reference=source)
        return self.animate(self.encode_keyframe(source), driving_motion)
