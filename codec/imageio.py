"""Conversion between OpenCV images and model tensors, kept apart so ``face.py`` needs no torch.

OpenCV and PyAV hand us ``H x W x 3`` uint8 BGR arrays; the networks take ``B x 3 x H x W``
float RGB in [0, 1]. These two functions are the only place that channel order and scale flip.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vid2vid.errors import InputError


def _check_frame(frame: np.ndarray, index: int) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise InputError(f"frame {index} must be a uint8 numpy array, got {_describe(frame)}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"frame {index} must be H x W x 3 BGR, got shape {frame.shape}")


def _describe(value: object) -> str:
    dtype = getattr(value, "dtype", None)
    return f"{type(value).__name__} of {dtype}" if dtype is not None else type(value).__name__


def frames_to_tensor(frames: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack BGR uint8 frames of one size into a ``B x 3 x H x W`` float32 RGB tensor in [0, 1]."""
    if len(frames) == 0:
        raise InputError("no frames to convert")
    for index, frame in enumerate(frames):
        _check_frame(frame, index)
    shape = frames[0].shape
    for index, frame in enumerate(frames):
        if frame.shape != shape:
            raise InputError(f"frame {index} has shape {frame.shape}, frame 0 has {shape}")
    batch = np.stack(frames)[..., ::-1]  # B x H x W x 3, BGR -> RGB
    tensor = torch.from_numpy(np.ascontiguousarray(batch))
    return tensor.permute(0, 3, 1, 2).float().div_(255.0)  # B x 3 x H x W


def tensor_to_frames(tensor: torch.Tensor) -> list[np.ndarray]:
    """Turn a ``B x 3 x H x W`` RGB tensor (values clamped to [0, 1]) into BGR uint8 frames."""
    if tensor.ndim != 4 or tensor.shape[1] != 3:
        raise InputError(f"tensor must be B x 3 x H x W, got shape {tuple(tensor.shape)}")
    scaled = tensor.detach().float().clamp(0.0, 1.0).mul(255.0).round_()
    batch = scaled.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()  # B x H x W x 3, RGB
    return [np.ascontiguousarray(image[..., ::-1]) for image in batch]
