"""Image grids for looking at training and evaluation: rows of equally sized RGB panels -> PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from torch import Tensor

from vid2vid.errors import InputError


def to_rgb_uint8(images: Tensor) -> list[np.ndarray]:
    """B x 3 x H x W in [0, 1] (clamped) -> B arrays H x W x 3 uint8 RGB."""
    scaled = images.detach().float().clamp(0.0, 1.0).mul(255.0).round().byte()
    return [np.ascontiguousarray(x) for x in scaled.permute(0, 2, 3, 1).cpu().numpy()]


def grid(rows: Sequence[Sequence[np.ndarray]], size: int, gap: int = 2) -> np.ndarray:
    """One RGB image of ``rows`` of panels, each resized to ``size`` x ``size``, white gaps."""
    if not rows or not rows[0]:
        raise InputError("no panels to put in a grid")
    columns = max(len(r) for r in rows)
    height = len(rows) * size + (len(rows) - 1) * gap
    width = columns * size + (columns - 1) * gap
    canvas = np.full((height, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            if panel.shape[:2] != (size, size):
                panel = cv2.resize(panel, (size, size), interpolation=cv2.INTER_AREA)
            y, x = r * (size + gap), c * (size + gap)
            canvas[y : y + size, x : x + size] = panel
    return canvas


def write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise InputError(f"cannot write image {path}")
