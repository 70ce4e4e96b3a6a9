"""The talking-head model's factories: a family's model from a config, seeded or weightless.

The interface itself (:class:`TalkingHeadModel`, :class:`KeyframeFeatures`) is in
:mod:`vid2vid.codec.talking_head`, which the families import; it is re-exported here because
callers that build a model want both from one place.
"""

from __future__ import annotations

import torch

from vid2vid.codec.config import ModelConfig
from vid2vid.codec.facevid2vid.model import FaceVid2VidModel
from vid2vid.codec.lite.model import LiteModel
from vid2vid.codec.liveportrait.model import LivePortraitModel
from vid2vid.codec.talking_head import KeyframeFeatures, TalkingHeadModel

__all__ = [
    "KeyframeFeatures",
    "TalkingHeadModel",
    "build_model",
    "build_model_meta",
    "python_stages",
    "seeded_model",
]


def build_model(config: ModelConfig) -> TalkingHeadModel:
    """Instantiate the family's model with freshly initialized (untrained) weights."""
    if config.family == "lite":
        return LiteModel(config)
    if config.family == "liveportrait":
        return LivePortraitModel(config)
    return FaceVid2VidModel(config)


def python_stages(config: ModelConfig) -> TalkingHeadModel | None:
    """A weightless model for the stages that are not networks, or None when all of them are.

    The lite family's motion extractor (dlib + a pose fit) and keyframe side (the image itself,
    a fixed template) use no weights, so the ONNX Runtime and TensorRT engines call them here.
    """
    model_class = type(build_model_meta(config))
    if model_class.motion_is_graph:
        return None
    return build_model(config).eval()


def build_model_meta(config: ModelConfig) -> TalkingHeadModel:
    """The family's model on the meta device: its class and attributes, no memory."""
    with torch.device("meta"):
        return build_model(config)


def seeded_model(config: ModelConfig, seed: int = 0) -> TalkingHeadModel:
    """An untrained model whose random weights depend only on ``seed`` and the config.

    Sender and receiver built this way agree on the weights, and so on the fingerprint.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(config)
    return model.eval()
