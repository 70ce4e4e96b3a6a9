"""The three exported graphs: the model's stages as tensor-in, tuple-out modules.

ONNX loses dicts and NamedTuples, so each graph flattens its outputs in a fixed order, and the
names here are the ONNX input/output names every engine (ONNX Runtime, TensorRT) feeds by:

``motion``    H + Δ (the sender, per frame): image -> yaw, pitch, roll, t, δ, scale
``keyframe``  F + L + the source pose (the receiver, once): image -> f_s, x_c, source motion
``decoder``   M + warp + G (the receiver, per frame): f_s, x_s, R_s, x_d, R_d -> image in [0, 1]

The keypoint math (x = s·(R·x_c + δ) + t) stays outside the graphs with the caller: it is
cheap, and the free view changes it per frame.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from vid2vid.codec.config import ModelConfig
from vid2vid.codec.keypoints import Keypoints
from vid2vid.codec.model import TalkingHeadModel
from vid2vid.errors import ConfigError

GraphName = Literal["motion", "keyframe", "decoder"]
GRAPHS: tuple[GraphName, ...] = ("motion", "keyframe", "decoder")

IMAGE_INPUTS = ("image",)
MOTION_OUTPUTS = ("yaw", "pitch", "roll", "translation", "deformation", "scale")
KEYFRAME_OUTPUTS = ("volume", "canonical", *(f"source_{name}" for name in MOTION_OUTPUTS))
DECODER_INPUTS = (
    "volume",
    "source_points",
    "source_rotation",
    "driving_points",
    "driving_rotation",
)
DECODER_OUTPUTS = ("frame",)


def graphs_of(config: ModelConfig) -> tuple[GraphName, ...]:
    """The graphs a family has: all three, or only the decoder where H + Δ is not a network."""
    from vid2vid.codec.model import python_stages

    return GRAPHS if python_stages(config) is None else ("decoder",)


def check_exportable(config: ModelConfig) -> None:
    """Refuse what the graphs cannot express, with the reason."""
    if not config.is_liveportrait and getattr(config.arch, "estimate_jacobian", False):
        raise ConfigError(
            "cannot export a model with arch.estimate_jacobian: M solves J_s J_d⁻¹ with "
            "torch.linalg.solve, which has no ONNX operator"
        )


class MotionGraph(nn.Module):
    """H + Δ: B x 3 x H x W -> the six :class:`Motion` fields."""

    def __init__(self, model: TalkingHeadModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.model.extract_motion(image))


class KeyframeGraph(nn.Module):
    """F + L + source pose: B x 3 x H x W -> f_s, x_c and the six source-motion fields."""

    def __init__(self, model: TalkingHeadModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        keyframe = self.model.encode_keyframe(image)
        return (keyframe.volume, keyframe.canonical, *keyframe.motion)


class DecoderGraph(nn.Module):
    """M + warp + G, clamped to [0, 1] as the runtime protocol promises.

    LivePortrait's decoder ignores the rotations (zeroth-order motion); they stay inputs so
    every family's decoder has one signature.
    """

    def __init__(self, model: TalkingHeadModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        volume: Tensor,
        source_points: Tensor,
        source_rotation: Tensor,
        driving_points: Tensor,
        driving_rotation: Tensor,
    ) -> Tensor:
        source = Keypoints(source_points, source_rotation)
        driving = Keypoints(driving_points, driving_rotation)
        return self.model.decode(volume, source, driving).clamp(0.0, 1.0)  # B x 3 x S x S


def graph_module(model: TalkingHeadModel, name: GraphName) -> nn.Module:
    """The wrapper for ``name``, in eval mode (export must never flip the model to training)."""
    check_exportable(model.config)
    if name not in graphs_of(model.config):
        raise ConfigError(
            f"{model.config.name} has no {name} graph: its {name} stage is not a network "
            "(the engines run it in Python)"
        )
    cls = {"motion": MotionGraph, "keyframe": KeyframeGraph, "decoder": DecoderGraph}[name]
    return cls(model).eval()


def input_names(name: GraphName) -> tuple[str, ...]:
    return DECODER_INPUTS if name == "decoder" else IMAGE_INPUTS


def output_names(name: GraphName) -> tuple[str, ...]:
    return {"motion": MOTION_OUTPUTS, "keyframe": KEYFRAME_OUTPUTS, "decoder": DECODER_OUTPUTS}[
        name
    ]


def example_inputs(
    model: TalkingHeadModel, name: GraphName, batch: int = 1, *, image: Tensor | None = None
) -> tuple[Tensor, ...]:
    """Inputs of the right shapes for tracing and checks: from ``image`` when given, else random.

    The decoder's inputs are a real pass through the model (keyframe of the image, driven by the
    motion of its mirror image), so the traced warp sees plausible flows.
    """
    config = model.config
    if image is None:
        generator = torch.Generator().manual_seed(batch)
        size = config.input_size
        image = torch.rand(batch, 3, size, size, generator=generator)  # B x 3 x H x W
    if name != "decoder":
        return (image,)
    with torch.no_grad():
        keyframe = model.encode_keyframe(image)
        driving = model.extract_motion(image.flip(-1), reference=image)
        source_kp = model.pose(keyframe.canonical, keyframe.motion)
        driving_kp = model.pose(keyframe.canonical, driving)
    return (
        keyframe.volume,
        source_kp.points,
        source_kp.rotation,
        driving_kp.points,
        driving_kp.rotation,
    )
