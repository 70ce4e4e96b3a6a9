"""The fast PyTorch path for GPUs without TensorRT: FP16, channels-last, CUDA graphs, batching.

- FP16: the model runs in half precision on CUDA (inputs are cast in, outputs back to float32).
- channels-last: the 2D convolutions (G, or LivePortrait's SPADE decoder) get NHWC weights, the
  layout tensor cores want. The 3D parts stay NCDHW: their ``.view`` reshapes need contiguous
  NCDHW tensors (LivePortrait's warping fails on channels-last-3d, and so would ours).
- CUDA graphs: the per-frame decoder is captured once per batch size and replayed, which
  removes the launch overhead that dominates at batch 1 (static input buffers are refilled
  in place before each replay).
- batching: :meth:`decode_many` stacks several streams' frames into one call
  (:mod:`vid2vid.engines.batching`).

On the CPU every option but channels-last is refused, and channels-last alone runs in FP32: that
is what the CPU tests check (equal to :class:`TorchRuntime`). The CUDA tests are marked ``gpu``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.keypoints import Keypoints, Motion
from vid2vid.codec.talking_head import KeyframeFeatures
from vid2vid.engines.batching import DecodeRequest, decode_batch
from vid2vid.engines.devices import resolve_device
from vid2vid.errors import EngineUnavailableError

log = logging.getLogger(__name__)


def to_channels_last_2d(model: nn.Module) -> nn.Module:
    """NHWC weights for every 2D convolution; 3D convolutions are left as they are."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.to(memory_format=torch.channels_last)
    return model


class _GraphedDecoder:
    """One captured CUDA graph of ``decode`` for a fixed batch size and input shapes."""

    def __init__(self, decode, inputs: tuple[Tensor, ...], warmup: int = 3) -> None:
        self.static = tuple(t.clone() for t in inputs)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(warmup):  # let cuDNN pick its algorithms before capture
                decode(*self.static)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = decode(*self.static)

    def __call__(self, inputs: tuple[Tensor, ...]) -> Tensor:
        for static, value in zip(self.static, inputs, strict=True):
            static.copy_(value)
        self.graph.replay()
        return self.output.clone()


class FastTorchRuntime:
    """PyTorch with the GPU options above; the same protocol as :class:`TorchRuntime`."""

    def __init__(
        self,
        loaded: LoadedModel,
        device: str | torch.device = "cuda",
        *,
        half: bool = True,
        channels_last: bool = True,
        cuda_graphs: bool = True,
    ) -> None:
        self.device = resolve_device(device)
        if self.device.type != "cuda" and (half or cuda_graphs):
            raise EngineUnavailableError(
                "FP16 and CUDA graphs need a CUDA device; on the CPU use half=False, cuda_graphs=False"
            )
        if getattr(loaded.config.arch, "estimate_jacobian", False) and cuda_graphs:
            raise EngineUnavailableError(
                "CUDA graphs of the decoder do not take Jacobians; use cuda_graphs=False"
            )
        self.config = loaded.config
        self.fingerprint = loaded.fingerprint
        self.dtype = torch.float16 if half else torch.float32
        model = copy.deepcopy(loaded.model).eval()  # the caller's model stays FP32 and NCHW
        model = model.to(self.device, self.dtype)
        if channels_last:
            to_channels_last_2d(model)
        self.model = model
        self.cuda_graphs = cuda_graphs
        self._graphs: dict[tuple, _GraphedDecoder] = {}
        parts = ["torch", self.device.type, "fp16" if half else "fp32"]
        parts += ["channels-last"] if channels_last else []
        parts += ["graphs"] if cuda_graphs else []
        self.name = "-".join(parts)

    def _in(self, tensor: Tensor) -> Tensor:
        return tensor.to(self.device, self.dtype)

    def encode_keyframe(self, image: Tensor) -> KeyframeFeatures:
        with torch.inference_mode():
            keyframe = self.model.encode_keyframe(self._in(image))
        return KeyframeFeatures(
            volume=keyframe.volume,  # kept in the runtime's dtype: it feeds decode
            canonical=keyframe.canonical.float(),
            motion=Motion(*(m.float() for m in keyframe.motion)),
            jacobians=None if keyframe.jacobians is None else keyframe.jacobians.float(),
        )

    def extract_motion(self, image: Tensor, reference: Tensor | None = None) -> Motion:
        with torch.inference_mode():
            reference = None if reference is None else self._in(reference)
            motion = self.model.extract_motion(self._in(image), reference=reference)
        return Motion(*(m.float() for m in motion))

    def place_volume(self, volume: Tensor) -> Tensor:
        """On the GPU in FP16 once per keyframe: each frame's ``_in`` is then a no-op."""
        return self._in(volume)

    def _decode_tensors(
        self, volume: Tensor, sp: Tensor, sr: Tensor, dp: Tensor, dr: Tensor
    ) -> Tensor:
        image = self.model.decode(volume, Keypoints(sp, sr), Keypoints(dp, dr))
        return image.clamp(0.0, 1.0)

    def decode(self, volume: Tensor, source: Keypoints, driving: Keypoints) -> Tensor:
        if source.jacobians is not None and driving.jacobians is not None:
            with torch.inference_mode():
                frame = self.model.decode(
                    self._in(volume),
                    Keypoints(*(None if t is None else self._in(t) for t in source)),
                    Keypoints(*(None if t is None else self._in(t) for t in driving)),
                )
            return frame.clamp(0.0, 1.0).float()
        inputs = tuple(
            self._in(t)
            for t in (volume, source.points, source.rotation, driving.points, driving.rotation)
        )
        if not self.cuda_graphs:
            with torch.inference_mode():
                return self._decode_tensors(*inputs).float()
        key = tuple(tuple(t.shape) for t in inputs)
        with torch.no_grad():
            if key not in self._graphs:
                log.info("capturing a CUDA graph of the decoder for shapes %s", key)
                self._graphs[key] = _GraphedDecoder(self._decode_tensors, inputs)
            return self._graphs[key](inputs).float()

    def decode_many(
        self, requests: Sequence[DecodeRequest], max_batch: int | None = None
    ) -> list[Tensor]:
        """One frame per stream, decoded in batches of up to ``max_batch`` (default: all at once)."""
        return decode_batch(self, requests, max_batch)
