"""Import TensorRT and pycuda, or say which extra is missing; no torch anywhere on this path."""

from __future__ import annotations

from typing import Any

from vid2vid.errors import EngineUnavailableError


def import_tensorrt() -> tuple[Any, Any]:
    """``(tensorrt, pycuda.driver)`` with the CUDA driver initialized, or the extra to install."""
    try:
        import pycuda.driver as cuda
        import tensorrt as trt
    except ImportError as exc:
        raise EngineUnavailableError(
            f"TensorRT engines need tensorrt and pycuda ({exc.name} is missing): "
            "pip install 'vid2vid[trt]' on a machine with an NVIDIA driver"
        ) from None
    cuda.init()
    return trt, cuda


def gpu_name(index: int = 0) -> str:
    """The CUDA device's name, e.g. "NVIDIA H100 80GB HBM3" (part of the engine cache key)."""
    _, cuda = import_tensorrt()
    return cuda.Device(index).name()
