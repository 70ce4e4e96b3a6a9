"""Which torch device a runtime runs on, checked without asking more of torch than needed."""

from __future__ import annotations

import torch

from vid2vid.errors import EngineUnavailableError


def parse_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch device of type cpu or cuda, without asking torch for a GPU.

    TensorRT and ONNX Runtime's CUDA provider do not need a CUDA build of torch (the receiver
    image has a CPU torch), so only the torch engines check availability (:func:`resolve_device`).
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise EngineUnavailableError(f"unknown device {device!r}; use cpu or cuda[:N]") from None
    if parsed.type not in ("cpu", "cuda"):
        raise EngineUnavailableError(f"unsupported device {device!r}; use cpu or cuda[:N]")
    return parsed


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device that exists here; asking for CUDA without a GPU is a clear error."""
    resolved = parse_device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise EngineUnavailableError(
            f"device {device!r} requested but torch sees no CUDA GPU (torch {torch.__version__})"
        )
    return resolved
