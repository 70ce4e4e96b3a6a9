"""Held-out evaluation during training: whole people the run never sees, scored as a call.

For every held-out clip the keyframe is its first frame and the driving frames are spread over
the clip, so the figure is the one a call would show: PSNR of the rebuilt frame against the real
one, the same for a frozen keyframe (what a receiver shows with no motion at all), and the mean
landmark distance (dlib's 68 points, pixels at 256 px) of each against the real frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

from vid2vid.codec.lite.landmarks import LandmarkReader
from vid2vid.codec.lite.model import LiteModel
from vid2vid.training.lite.data import ClipFrames
from vid2vid.training.lite.objective import pair_keypoints, psnr


@dataclass(frozen=True)
class HeldOutScore:
    identity: str
    frames: int
    psnr: float
    frozen_psnr: float
    landmark_px: float
    frozen_landmark_px: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _landmark_error(reader: LandmarkReader, images: torch.Tensor, targets: np.ndarray) -> float:
    errors = []
    for image, target in zip(images, targets, strict=True):
        rgb = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        errors.append(np.linalg.norm(reader(grey) - target, axis=1).mean())
    return float(np.mean(errors))


def sample_strip(model: LiteModel, frames: ClipFrames, clip: int, count: int = 4) -> np.ndarray:
    """Rows original | frozen keyframe | vid2vid of ``count`` frames of one clip (RGB uint8)."""
    total = frames.clips[clip].frames
    indices = np.linspace(total // (count + 1), total - 1, num=count).round().astype(int)
    batch = frames.batch([(clip, 0, int(i)) for i in indices])
    with torch.inference_mode():
        output, _ = model.render(
            batch.source,
            *pair_keypoints(
                model, batch.source, batch.driving, batch.source_points, batch.driving_points
            ),
        )
    rows = [batch.driving, batch.source, output.clamp(0, 1)]
    grid = torch.cat([torch.cat(list(row), dim=2) for row in rows], dim=1)  # 3 x 3S x count*S
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def write_samples(model: LiteModel, evaluation: list[ClipFrames], path) -> None:
    """One strip per held-out person (first clip of each): original, frozen keyframe, vid2vid."""
    was_training = model.training
    model.eval()
    strips, seen = [], set()
    for frames in evaluation:
        for c, clip in enumerate(frames.clips):
            if clip.identity not in seen:
                seen.add(clip.identity)
                strips.append(sample_strip(model, frames, c))
    model.train(was_training)
    width = max(s.shape[1] for s in strips)
    padded = [
        np.pad(s, ((0, 8), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips
    ]
    cv2.imwrite(str(path), np.concatenate(padded, axis=0)[..., ::-1])


@torch.inference_mode()
def evaluate(
    model: LiteModel, frames: ClipFrames, per_clip: int = 12, reader: LandmarkReader | None = None
) -> list[HeldOutScore]:
    """One :class:`HeldOutScore` per identity (clips of one person pooled)."""
    reader = reader or LandmarkReader()
    was_training = model.training
    model.eval()
    by_identity: dict[str, list[tuple[float, float, float, float, int]]] = {}
    for c, clip in enumerate(frames.clips):
        indices = (
            np.linspace(1, clip.frames - 1, num=min(per_clip, clip.frames - 1)).round().astype(int)
        )
        batch = frames.batch([(c, 0, int(i)) for i in indices])
        output, _ = model.render(
            batch.source,
            *pair_keypoints(
                model, batch.source, batch.driving, batch.source_points, batch.driving_points
            ),
        )
        output = output.clamp(0, 1)
        row = (
            float(psnr(output, batch.driving).mean()),
            float(psnr(batch.source, batch.driving).mean()),
            _landmark_error(reader, output, batch.driving_points),
            _landmark_error(reader, batch.source, batch.driving_points),
            len(indices),
        )
        by_identity.setdefault(clip.identity, []).append(row)
    model.train(was_training)
    scores = []
    for identity, rows in sorted(by_identity.items()):
        table = np.array(rows, np.float64)  # clips x 5
        weights = table[:, 4] / table[:, 4].sum()
        means = (table[:, :4] * weights[:, None]).sum(0)
        scores.append(HeldOutScore(identity, int(table[:, 4].sum()), *map(float, means)))
    return scores
