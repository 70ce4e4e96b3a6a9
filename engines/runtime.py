"""The PyTorch reference runtime, and the factory that picks a runtime for an engine name.

Callers (the stream layer, and through it the sender, receiver and benchmarks) hold a
:class:`Runtime` (the protocol, defined in :mod:`vid2vid.codec.stream.runtime` and re-exported
here) and never care which library runs the networks: PyTorch (the reference, CPU or CUDA), its
fast CUDA path, ONNX Runtime, or TensorRT. The keypoint math (``model.pose``) stays in torch with
the caller, because it is a handful of 3x3 products per frame.

This module imports no other engine at import time; :func:`open_runtime` imports the one it
opens, and the engines import only :mod:`vid2vid.engines.devices` and the protocol, so there is
no import circle.
"""

from __future__ import annotations

import importlib.util
import logging

import torch
from torch import Tensor

from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.keypoints import Keypoints, Motion
from vid2vid.codec.stream.runtime import Runtime
from vid2vid.codec.talking_head import KeyframeFeatures, TalkingHeadModel
from vid2vid.engines.devices import parse_device, resolve_device
from vid2vid.engines.threads import set_cpu_threads
from vid2vid.errors import EngineUnavailableError

__all__ = [
    "ENGINES",
    "Runtime",
    "TorchRuntime",
    "onnx_available",
    "open_runtime",
    "parse_device",
    "pick_engine",
    "resolve_device",
    "tensorrt_available",
]

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnx", "trt")


class TorchRuntime:
    """PyTorch eager, the reference every other engine is checked against.

    Runs under ``torch.inference_mode()``; the model is moved to ``device`` once. Inputs on
    another device are moved for the call; outputs stay on ``device``.
    """

    def __init__(self, loaded: LoadedModel, device: str | torch.device = "cpu") -> None:
        self.device = resolve_device(device)
        self.config = loaded.config
        self.fingerprint = loaded.fingerprint
        self.model: TalkingHeadModel = loaded.model.to(self.device).eval()
        self.name = f"torch-{self.device.type}"

    def _to(self, tensor: Tensor) -> Tensor:
        return tensor.to(self.device, torch.float32)

    def encode_keyframe(self, image: Tensor) -> KeyframeFeatures:
        with torch.inference_mode():
            return self.model.encode_keyframe(self._to(image))

    def extract_motion(self, image: Tensor, reference: Tensor | None = None) -> Motion:
        with torch.inference_mode():
            reference = None if reference is None else self._to(reference)
            return self.model.extract_motion(self._to(image), reference=reference)

    def place_volume(self, volume: Tensor) -> Tensor:
        return self._to(volume)

    def decode(self, volume: Tensor, source: Keypoints, driving: Keypoints) -> Tensor:
        with torch.inference_mode():
            source = Keypoints(*(None if t is None else self._to(t) for t in source))
            driving = Keypoints(*(None if t is None else self._to(t) for t in driving))
            # face-vid2vid's G has no final activation: clamp into the protocol's [0, 1]
            # (a no-op after LivePortrait's sigmoid); the exported decoders clamp the same way.
            return self.model.decode(self._to(volume), source, driving).clamp(0.0, 1.0)


def have_module(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it (TensorRT's import is slow)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def onnx_available() -> bool:
    return have_module("onnx") and have_module("onnxruntime")


def tensorrt_available() -> bool:
    return have_module("tensorrt") and have_module("pycuda")


def _require(engine: str) -> None:
    if engine == "onnx" and not onnx_available():
        raise EngineUnavailableError(
            "engine 'onnx' needs onnx and onnxruntime: pip install 'vid2vid[onnx]'"
        )
    if engine == "trt" and not tensorrt_available():
        raise EngineUnavailableError(
            "engine 'trt' needs tensorrt and pycuda: pip install 'vid2vid[trt]' "
            "(tensorrt from NVIDIA's index, pycuda built against an installed CUDA driver)"
        )


def pick_engine(device: torch.device) -> str:
    """The best engine here: TensorRT on a GPU when installed, else PyTorch.

    On a GPU without TensorRT, "auto" runs PyTorch's fast path (FP16, channels-last, CUDA
    graphs). ONNX Runtime is never picked automatically: it needs an export per model
    (seconds to minutes, cached by fingerprint), and on this project's 2-core CPU it wins for
    the motion extractor (paper-256 H+Δ: 76 vs 129 ms) but loses for the paper decoder
    (5.7 vs 2.4 s at 256 px; vid2vid-engines-bench), so callers ask for ``engine="onnx"``
    where it pays (the compose file runs the sender with --engine onnx).
    """
    if device.type == "cuda" and tensorrt_available():
        return "trt"
    return "torch"


def open_runtime(loaded: LoadedModel, engine: str = "auto", device: str = "cpu") -> Runtime:
    """The runtime for ``engine`` on ``device``; ``"auto"`` picks and logs which.

    A named engine whose libraries are missing raises :class:`EngineUnavailableError` naming
    the extra to install.
    """
    if engine not in ENGINES:
        raise EngineUnavailableError(
            f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}"
        )
    parsed = parse_device(device)
    chosen = pick_engine(parsed) if engine == "auto" else engine
    _require(chosen)
    resolved = parsed if chosen in ("trt", "onnx") else resolve_device(parsed)
    if chosen == "torch" and engine == "auto" and resolved.type == "cuda":
        from vid2vid.engines.fast_torch import FastTorchRuntime

        runtime: Runtime = FastTorchRuntime(loaded, resolved)
    elif chosen == "torch":
        if resolved.type == "cpu":
            set_cpu_threads(loaded.model)
        runtime = TorchRuntime(loaded, resolved)
    elif chosen == "onnx":
        from vid2vid.engines.onnx_runtime import OnnxRuntime

        runtime = OnnxRuntime.from_loaded(loaded, device=resolved.type)
    else:
        from vid2vid.engines.tensorrt_runtime import TensorRTRuntime

        if resolved.type != "cuda":
            raise EngineUnavailableError("engine 'trt' runs on a CUDA device only, got cpu")
        runtime = TensorRTRuntime.from_loaded(loaded)
    if engine == "auto":
        log.info("engine auto picked %s (%s)", runtime.name, loaded.source)
    return runtime
