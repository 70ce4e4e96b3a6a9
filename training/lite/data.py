"""Training data of the lite family: dlib landmarks beside each prepared clip, and pairs.

``add_landmarks`` runs the sender's own :class:`~vid2vid.codec.lite.landmarks.LandmarkReader`
on every stored crop, so the motion the decoder trains on is computed exactly as a live sender
computes it. Landmarks are written per clip, atomically (``clips/<id>.lmk68.npy``): an
interrupted run keeps what it finished and a re-run computes only what is missing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from vid2vid.codec.lite.landmarks import LandmarkReader
from vid2vid.codec.lite.template import MIRROR
from vid2vid.errors import InputError
from vid2vid.training.shards import ClipEntry, DatasetIndex, FrameStore, atomic_write_bytes


def landmarks_path(root: Path, clip: ClipEntry) -> Path:
    return root / (clip.file.rsplit(".", 1)[0] + ".lmk68.npy")


def add_landmarks(root: Path, index: DatasetIndex, *, show_progress: bool = True) -> int:
    """Store 68 landmarks (frames x 68 x 2 pixels) for every clip without them; returns how many."""
    todo = [c for c in index.clips if not landmarks_path(root, c).is_file()]
    if not todo:
        return 0
    reader = LandmarkReader()
    store = FrameStore(root, index)
    bar = tqdm(
        total=sum(c.frames for c in todo), desc="landmarks", unit="frame", disable=not show_progress
    )
    try:
        for clip in todo:
            points = np.empty((clip.frames, 68, 2), np.float32)
            for i in range(clip.frames):
                grey = cv2.cvtColor(store.frame(clip, i), cv2.COLOR_BGR2GRAY)
                points[i] = reader(grey)
                bar.update(1)
            buffer = io.BytesIO()
            np.save(buffer, points, allow_pickle=False)
            atomic_write_bytes(landmarks_path(root, clip), buffer.getvalue())
    finally:
        bar.close()
        store.close()
    return len(todo)


def read_landmarks(root: Path, clip: ClipEntry) -> np.ndarray:
    path = landmarks_path(root, clip)
    if not path.is_file():
        raise InputError(f"{path} is missing: run the landmark step of the lite recipe first")
    points = np.load(path, allow_pickle=False)
    if points.shape != (clip.frames, 68, 2):
        raise InputError(f"{path}: holds {points.shape}, clip {clip.id} has {clip.frames} frames")
    return points


@dataclass
class Batch:
    """Keyframes, driving frames (B x 3 x S x S RGB in [0, 1]) and their landmarks (B x 68 x 2 px)."""

    source: Tensor
    driving: Tensor
    source_points: np.ndarray
    driving_points: np.ndarray


class ClipFrames:
    """Frames and landmarks of a set of clips, loaded on demand."""

    def __init__(self, root: Path, index: DatasetIndex, clips: Sequence[ClipEntry]) -> None:
        self.root = Path(root)
        self.clips = list(clips)
        if not self.clips:
            raise InputError(f"no clips to train on in {root}")
        self.store = FrameStore(self.root, index)
        self.points = [read_landmarks(self.root, c) for c in self.clips]

    def image(self, clip: int, frame: int, flip: bool = False) -> Tensor:
        bgr = self.store.frame(self.clips[clip], frame)
        rgb = np.ascontiguousarray(bgr[:, ::-1, ::-1] if flip else bgr[..., ::-1])
        return torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0

    def landmarks(self, clip: int, frame: int, flip: bool = False) -> np.ndarray:
        """68 x 2 pixels; mirrored (x flipped, left and right swapped) with ``flip``."""
        points = self.points[clip][frame]
        if not flip:
            return points
        side = self.store.index.size
        mirrored = points[list(MIRROR)].copy()
        mirrored[:, 0] = side - 1 - mirrored[:, 0]
        return mirrored

    def batch(self, refs: Sequence[tuple[int, ...]]) -> Batch:
        """(clip, source frame, driving frame[, mirror]) -> a :class:`Batch`.

        A mirrored pair is another plausible person for the decoder (the corpus has about 40):
        both frames and their landmarks are flipped, left and right landmarks swapped.
        """
        refs = [(r[0], r[1], r[2], bool(r[3]) if len(r) > 3 else False) for r in refs]
        return Batch(
            source=torch.stack([self.image(c, s, f) for c, s, _, f in refs]),
            driving=torch.stack([self.image(c, d, f) for c, _, d, f in refs]),
            source_points=np.stack([self.landmarks(c, s, f) for c, s, _, f in refs]),
            driving_points=np.stack([self.landmarks(c, d, f) for c, _, d, f in refs]),
        )

    def sample(
        self, rng: np.random.Generator, size: int, mirror: bool = True
    ) -> list[tuple[int, int, int, bool]]:
        """Random same-clip pairs, clips weighted by their length, half of them mirrored."""
        lengths = np.array([c.frames for c in self.clips], np.float64)
        chosen = rng.choice(len(self.clips), size=size, p=lengths / lengths.sum())
        refs = []
        for c in chosen:
            s, d = rng.integers(0, self.clips[c].frames, size=2)
            refs.append((int(c), int(s), int(d), bool(mirror and rng.random() < 0.5)))
        return refs
