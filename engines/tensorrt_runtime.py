"""TensorRT engines run with pycuda-managed buffers (the ``trt`` extra).

:class:`TensorRTEngine` is numpy in, numpy out, and imports neither torch nor torchvision: a
receiver image can run the decoder with tensorrt, pycuda and numpy alone. Per engine it
allocates, once, a page-locked host buffer and a device buffer per I/O tensor sized for the
profile's largest batch (:class:`~vid2vid.engines.buffers.BufferPlan`), binds the device
addresses with ``set_tensor_address``, and per call copies the inputs host→device on its own
CUDA stream, runs ``execute_async_v3``, copies the outputs back and synchronizes that stream.

:class:`TensorRTRuntime` adapts the three engines to the torch-typed runtime protocol.

Written against the documented TensorRT 10 and pycuda APIs; NOT run where this project is
developed (no GPU there). Its tests skip with "TensorRT/pycuda not installed".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from vid2vid.engines.buffers import BufferPlan, ResidentInput, TensorSpec, split_batch
from vid2vid.engines.tensorrt_env import import_tensorrt

log = logging.getLogger(__name__)


class TensorRTEngine:
    """One deserialized engine with its execution context, stream and buffers."""

    def __init__(self, path: str | Path, *, device: int = 0) -> None:
        trt, cuda = import_tensorrt()
        self.path = Path(path)
        self._cuda = cuda
        self._context_cuda = cuda.Device(device).retain_primary_context()
        self._context_cuda.push()  # share the device's primary context (as torch does)
        try:
            logger = trt.Logger(trt.Logger.WARNING)
            self._runtime = trt.Runtime(logger)
            self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self.engine is None:
                raise RuntimeError(f"{self.path}: TensorRT could not deserialize the engine")
            self.context = self.engine.create_execution_context()
            self.plan = self._plan(trt)
            self.stream = cuda.Stream()
            self.host: dict[str, np.ndarray] = {}
            self.device: dict[str, Any] = {}
            for spec in self.plan.tensors:
                count = int(np.prod(spec.shape_at(self.plan.max_batch)))
                self.host[spec.name] = cuda.pagelocked_empty(count, np.dtype(spec.dtype))
                self.device[spec.name] = cuda.mem_alloc(self.host[spec.name].nbytes)
                self.context.set_tensor_address(spec.name, int(self.device[spec.name]))
        finally:
            self._context_cuda.pop()

    def _plan(self, trt: Any) -> BufferPlan:
        specs = []
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            specs.append(
                TensorSpec(
                    name=name,
                    shape=tuple(self.engine.get_tensor_shape(name)),
                    dtype=np.dtype(trt.nptype(self.engine.get_tensor_dtype(name))).name,
                    is_input=self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                )
            )
        first_input = next(s.name for s in specs if s.is_input)
        # Profile 0's (min, opt, max) shapes of an input; the max batch bounds every call.
        _, _, largest = self.engine.get_tensor_profile_shape(first_input, 0)
        return BufferPlan(tuple(specs), int(largest[0]))

    def __call__(
        self, feeds: dict[str, np.ndarray], resident: frozenset[str] = frozenset()
    ) -> dict[str, np.ndarray]:
        """Run on numpy inputs (batch first); batches above the profile run in chunks.

        Inputs named in ``resident`` are not copied to the GPU: the caller knows their device
        buffers already hold them (:class:`~vid2vid.engines.buffers.ResidentInput`). That only
        holds for a call of one chunk, so a chunked call copies everything.
        """
        first = self.plan.inputs[0].name
        total = int(feeds[first].shape[0])
        spans = split_batch(total, self.plan.max_batch)
        keep = resident if len(spans) == 1 else frozenset()
        chunks = [
            self._run({n: a[start:stop] for n, a in feeds.items()}, keep) for start, stop in spans
        ]
        return {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}

    def _run(
        self, feeds: dict[str, np.ndarray], resident: frozenset[str] = frozenset()
    ) -> dict[str, np.ndarray]:
        cuda = self._cuda
        batch = self.plan.batch_of(feeds)
        arrays = self.plan.host_inputs(feeds)
        self._context_cuda.push()
        try:
            for spec in self.plan.inputs:
                self.context.set_input_shape(spec.name, spec.shape_at(batch))
                if spec.name in resident:
                    continue  # its device buffer holds this value already
                count = int(np.prod(spec.shape_at(batch)))
                staged = self.host[spec.name][:count]
                np.copyto(staged, arrays[spec.name].reshape(-1))
                cuda.memcpy_htod_async(self.device[spec.name], staged, self.stream)
            if not self.context.execute_async_v3(stream_handle=self.stream.handle):
                raise RuntimeError(f"{self.path.name}: execute_async_v3 failed")
            results = {}
            for spec in self.plan.outputs:
                count = int(np.prod(spec.shape_at(batch)))
                cuda.memcpy_dtoh_async(
                    self.host[spec.name][:count], self.device[spec.name], self.stream
                )
                results[spec.name] = (spec, count)
            self.stream.synchronize()
        finally:
            self._context_cuda.pop()
        return {
            name: self.host[name][:count].reshape(spec.shape_at(batch)).copy()
            for name, (spec, count) in results.items()
        }


class TensorRTRuntime:
    """The runtime protocol over the motion, keyframe and (planar) decoder engines."""

    def __init__(self, engines: dict[str, Path], config: Any, *, fp16: bool) -> None:
        self.config = config
        self.name = "tensorrt-fp16" if fp16 else "tensorrt-fp32"
        self._paths = engines
        self._engines: dict[str, TensorRTEngine] = {}
        self._volume = ResidentInput()  # the f_s the decoder's device buffer holds
        from vid2vid.codec.model import python_stages

        self._python = python_stages(config)  # stages that are not graphs (lite: dlib)

    @classmethod
    def from_loaded(
        cls,
        loaded: Any,
        *,
        fp16: bool = True,
        max_batch: int = 1,
        cache: str | Path | None = None,
    ) -> TensorRTRuntime:
        """Engines from the cache, built first when missing (minutes, logged)."""
        from vid2vid.engines.graphs import graphs_of
        from vid2vid.engines.onnx_runtime import cache_root
        from vid2vid.engines.tensorrt_build import build_engines

        paths = build_engines(
            loaded,
            cache or cache_root(),
            fp16=fp16,
            max_batch=max_batch,
            graphs=graphs_of(loaded.config),
        )
        return cls(paths, loaded.config, fp16=fp16)

    def engine(self, graph: str) -> TensorRTEngine:
        if graph not in self._engines:
            self._engines[graph] = TensorRTEngine(self._paths[graph])
        return self._engines[graph]

    # The protocol speaks torch; these adapters are the only torch users of this module.
    def extract_motion(self, image, reference=None):  # -> Motion
        """H + Δ; ``reference`` (the keyframe image) reaches only the Python stages (the lite
        family's): the motion engine measures absolute motion."""
        import torch

        from vid2vid.codec.keypoints import Motion
        from vid2vid.engines.graphs import MOTION_OUTPUTS

        if self._python is not None:
            if reference is not None:
                reference = torch.as_tensor(reference).float().cpu()
            return self._python.extract_motion(
                torch.as_tensor(image).float().cpu(), reference=reference
            )
        out = self.engine("motion")({"image": _host(image)})
        return Motion(*(torch.from_numpy(out[n]) for n in MOTION_OUTPUTS))

    def encode_keyframe(self, image):  # -> KeyframeFeatures
        import torch

        from vid2vid.codec.keypoints import Motion
        from vid2vid.codec.model import KeyframeFeatures
        from vid2vid.engines.graphs import KEYFRAME_OUTPUTS

        if self._python is not None:
            with torch.inference_mode():
                return self._python.encode_keyframe(torch.as_tensor(image).float().cpu())
        out = self.engine("keyframe")({"image": _host(image)})
        values = [torch.from_numpy(out[n]) for n in KEYFRAME_OUTPUTS]
        return KeyframeFeatures(volume=values[0], canonical=values[1], motion=Motion(*values[2:]))

    def place_volume(self, volume):  # -> Tensor
        """Host float32, contiguous; :meth:`decode` copies it to the GPU on its first frame
        only, then finds it there while the same tensor comes back."""
        return volume.detach().to("cpu").float().contiguous()

    def decode(self, volume, source, driving):  # -> Tensor
        import torch

        from vid2vid.engines.graphs import DECODER_INPUTS

        values = (volume, source.points, source.rotation, driving.points, driving.rotation)
        decoder = self.engine("decoder")
        wanted = {spec.name for spec in decoder.plan.inputs}
        feeds = {n: _host(v) for n, v in zip(DECODER_INPUTS, values, strict=True) if n in wanted}
        resident = frozenset({"volume"}) if self._volume.holds(volume) else frozenset()
        self._volume.forget()  # until this call has succeeded
        frame = decoder(feeds, resident)["frame"]
        if int(feeds["volume"].shape[0]) <= decoder.plan.max_batch:
            self._volume.remember(volume)
        return torch.from_numpy(frame)


def _host(tensor: Any) -> np.ndarray:
    """A float32 numpy array from a torch tensor (any device) or an array."""
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().float().cpu().numpy()
    return np.ascontiguousarray(tensor, dtype=np.float32)
