"""vid2vid.engines: the compute backends behind one runtime protocol.

PyTorch (CPU/CUDA, the reference), ONNX Runtime and TensorRT; ONNX export, TensorRT engine
builds and an engine cache. Start with :func:`open_runtime`.

The names below load lazily (PEP 562) so that the TensorRT path
(``vid2vid.engines.tensorrt_runtime``, ``buffers``, ``engine_cache``) imports without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vid2vid.engines.runtime import ENGINES, Runtime, TorchRuntime, open_runtime

__all__ = ["ENGINES", "Runtime", "TorchRuntime", "open_runtime"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from vid2vid.engines import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'vid2vid.engines' has no attribute {name!r}")
