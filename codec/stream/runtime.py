"""The runtime protocol: the one road from the stream layer (and everything else) to the networks.

It lives with the stream layer, its first user, so that ``codec`` never imports ``engines``
(dependencies point one way: codec <- engines <- sender, receiver). The implementations are in
:mod:`vid2vid.engines` (PyTorch, its fast CUDA path, ONNX Runtime, TensorRT), whose
:func:`~vid2vid.engines.runtime.open_runtime` picks one.

Images are 1 x 3 x H x W (or B x 3 x H x W) RGB float tensors in [0, 1] at
``config.input_size``. Outputs are torch tensors: on the runtime's device for the torch engines,
on the CPU for ONNX Runtime and TensorRT (they hand back host buffers).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

from vid2vid.codec.config import ModelConfig
from vid2vid.codec.keypoints import Keypoints, Motion
from vid2vid.codec.talking_head import KeyframeFeatures


@runtime_checkable
class Runtime(Protocol):
    """What every backend offers: the keyframe side, the motion extractor and the decoder."""

    name: str  # e.g. "torch-cpu", "onnxruntime-cpu", "tensorrt-fp16"
    config: ModelConfig

    def encode_keyframe(self, image: Tensor) -> KeyframeFeatures:
        """F + L + the source pose of a B x 3 x H x W image (f_s stays where decode wants it)."""
        ...

    def extract_motion(self, image: Tensor, reference: Tensor | None = None) -> Motion:
        """H + Δ: yaw/pitch/roll (degrees), t, δ and scale of a B x 3 x H x W image, measured
        against ``reference``, the keyframe image (1 or B x 3 x H x W, as the receiver decodes
        it): families whose motion is absolute ignore it; without it the reference-relative
        parts are zero (the keyframe's own source motion)."""
        ...

    def place_volume(self, volume: Tensor) -> Tensor:
        """A keyframe's f_s (received as a volume keyframe) put where :meth:`decode` wants it:
        on the runtime's device, in its dtype. Called once per keyframe, so no frame pays for
        moving the volume again."""
        ...

    def decode(self, volume: Tensor, source: Keypoints, driving: Keypoints) -> Tensor:
        """M + warp + G: B x 3 x S x S in [0, 1] (S = ``config.output_size``)."""
        ...
