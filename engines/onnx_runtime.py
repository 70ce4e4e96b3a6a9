"""ONNX Runtime behind the runtime protocol: CPU provider, or CUDA when onnxruntime-gpu has it.

Graphs come from an export folder (``vid2vid-engines export``) or are exported on first use
into a cache folder named by the model fingerprint, so a sender that only extracts motion
never pays for exporting the decoder. Sessions are opened lazily for the same reason.

On CUDA the decoder is the planar one (4D GridSample only): ONNX Runtime's CUDA provider has no
5D GridSample and would fall back to the CPU for the warp.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.config import ModelConfig
from vid2vid.codec.keypoints import Keypoints, Motion
from vid2vid.codec.model import python_stages
from vid2vid.codec.talking_head import KeyframeFeatures
from vid2vid.engines.export import FILES, export_graph, read_manifest, require_onnx
from vid2vid.engines.graph_version import EXPORT_TAG
from vid2vid.engines.graphs import DECODER_INPUTS, GraphName
from vid2vid.errors import EngineUnavailableError, ModelMismatchError

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """``$VID2VID_CACHE`` or ``~/.cache/vid2vid``: exports and TensorRT engines live under it."""
    return Path(os.environ.get("VID2VID_CACHE") or Path.home() / ".cache" / "vid2vid")


def providers_for(device: str) -> list[str]:
    """ONNX Runtime providers for ``device``; CUDA without onnxruntime-gpu is a clear error."""
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise EngineUnavailableError(
            "engine 'onnx' on cuda needs onnxruntime-gpu (this onnxruntime has "
            f"{', '.join(ort.get_available_providers())})"
        )
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def _numpy(tensor: Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).contiguous().numpy()


class OnnxRuntime:
    """The three graphs in ONNX Runtime sessions; tensors in, CPU tensors out."""

    def __init__(
        self,
        folder: str | Path,
        config: ModelConfig,
        *,
        device: str = "cpu",
        threads: int | None = None,
        loaded: LoadedModel | None = None,
    ) -> None:
        require_onnx()
        self.folder = Path(folder)
        self.config = config
        self.device = device
        self.providers = providers_for(device)
        self.threads = threads
        self.name = f"onnxruntime-{device}"
        self._loaded = loaded  # exports missing graphs on first use when given
        self._sessions: dict[str, Any] = {}
        self._python = python_stages(config)  # stages that are not graphs (lite: dlib)

    @classmethod
    def from_loaded(
        cls,
        loaded: LoadedModel,
        *,
        device: str = "cpu",
        cache_dir: str | Path | None = None,
        threads: int | None = None,
    ) -> OnnxRuntime:
        """Graphs cached under ``cache_dir/onnx/<fingerprint>/<export tag>``, exported there
        when missing (the tag keeps files of older export code from being reused)."""
        folder = Path(cache_dir or cache_root()) / "onnx" / loaded.fingerprint / EXPORT_TAG
        return cls(folder, loaded.config, device=device, threads=threads, loaded=loaded)

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        *,
        fingerprint: str | None = None,
        device: str = "cpu",
        threads: int | None = None,
    ) -> OnnxRuntime:
        """An export folder; refuses one made from another model when ``fingerprint`` is given."""
        from vid2vid.codec.config import config_from_dict

        manifest = read_manifest(folder)
        if fingerprint is not None and manifest.get("fingerprint") != fingerprint:
            raise ModelMismatchError(
                f"{folder}: exported from model {manifest.get('fingerprint')}, "
                f"this model is {fingerprint}"
            )
        return cls(folder, config_from_dict(manifest["model"]), device=device, threads=threads)

    # -- sessions ----------------------------------------------------------------------------
    def graph_key(self, name: GraphName) -> str:
        """The file key that runs ``name`` here (the planar decoder on CUDA)."""
        if name == "decoder" and self.device != "cpu":
            return "decoder_planar"
        return name

    def session(self, key: str):  # -> onnxruntime.InferenceSession
        if key not in self._sessions:
            import onnxruntime as ort

            path = self.folder / f"{FILES[key]}.onnx"
            if not path.is_file():
                self._export(key, path)
            options = ort.SessionOptions()
            if self.threads:
                options.intra_op_num_threads = self.threads
            self._sessions[key] = ort.InferenceSession(str(path), options, providers=self.providers)
        return self._sessions[key]

    def _export(self, key: str, path: Path) -> None:
        if self._loaded is None:
            raise EngineUnavailableError(f"{path}: graph {key!r} is missing from the export folder")
        name: GraphName = "decoder" if key == "decoder_planar" else key  # type: ignore[assignment]
        partial = path.with_suffix(f".{os.getpid()}.partial")
        log.info("exporting %s of %s to %s", key, self._loaded.source, path)
        export_graph(self._loaded.model, name, partial, planar=key == "decoder_planar")
        os.replace(partial, path)  # atomic: a concurrent reader sees the whole file or none

    def run(self, key: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run graph ``key`` on numpy inputs (by name; inputs the graph dropped are ignored)."""
        session = self.session(key)
        wanted = {meta.name for meta in session.get_inputs()}
        return session.run(None, {n: a for n, a in feeds.items() if n in wanted})

    # -- the runtime protocol ----------------------------------------------------------------
    def extract_motion(self, image: Tensor, reference: Tensor | None = None) -> Motion:
        """H + Δ; ``reference`` (the keyframe image) reaches only the Python stages (the lite
        family's): the exported motion graphs measure absolute motion."""
        if self._python is not None:
            if reference is not None:
                reference = reference.detach().to("cpu", torch.float32)
            return self._python.extract_motion(
                image.detach().to("cpu", torch.float32), reference=reference
            )
        outputs = self.run("motion", {"image": _numpy(image)})
        return Motion(*(torch.from_numpy(o) for o in outputs))

    def encode_keyframe(self, image: Tensor) -> KeyframeFeatures:
        if self._python is not None:
            with torch.inference_mode():
                return self._python.encode_keyframe(image.detach().to("cpu", torch.float32))
        volume, canonical, *motion = self.run("keyframe", {"image": _numpy(image)})
        return KeyframeFeatures(
            volume=torch.from_numpy(volume),
            canonical=torch.from_numpy(canonical),
            motion=Motion(*(torch.from_numpy(m) for m in motion)),
        )

    def place_volume(self, volume: Tensor) -> Tensor:
        """Host float32, contiguous: what every frame's feed reads without another copy."""
        return volume.detach().to("cpu", torch.float32).contiguous()

    def decode(self, volume: Tensor, source: Keypoints, driving: Keypoints) -> Tensor:
        values = (volume, source.points, source.rotation, driving.points, driving.rotation)
        feeds = {n: _numpy(v) for n, v in zip(DECODER_INPUTS, values, strict=True)}
        (frame,) = self.run(self.graph_key("decoder"), feeds)
        return torch.from_numpy(frame)
