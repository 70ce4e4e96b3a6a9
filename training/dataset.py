"""(source, driving) frame pairs of one clip: the same-identity reconstruction task of the paper.

Which pairs a step sees depends only on the run's seed and the step number
(:class:`PairSampler`), and the dataset itself draws nothing at random, so a resumed run sees
exactly the batches the uninterrupted run would have seen. Clips are drawn uniformly (a long
clip does not dominate; FOMM repeats short videos for the same reason), then two distinct frames
of the clip.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from vid2vid.errors import InputError
from vid2vid.training.shards import ClipEntry, FrameStore, read_index, read_poses

log = logging.getLogger(__name__)


class PairRef(NamedTuple):
    """Which pair to load: clip number (in the dataset's clip list), source and driving frames."""

    clip: int
    source: int
    driving: int


class Pair(NamedTuple):
    """One training example; images RGB float in [0, 1]."""

    source: Tensor  # 3 x S_in x S_in
    driving: Tensor  # 3 x S_in x S_in: what H and Δ see
    target: Tensor  # 3 x S_out x S_out: what G must rebuild (the driving frame)
    pose: Tensor  # 3 x 3 reference rotation of the driving head (identity when unknown)
    pose_valid: Tensor  # bool scalar: the reference exists


def _to_tensor(bgr: np.ndarray, size: int) -> Tensor:
    if bgr.shape[0] != size:
        interpolation = cv2.INTER_AREA if bgr.shape[0] > size else cv2.INTER_CUBIC
        bgr = cv2.resize(bgr, (size, size), interpolation=interpolation)
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)  # 3 x S x S


class PairDataset(Dataset[Pair]):
    """Frame pairs of the prepared dataset at ``root``, resized to the model's sizes.

    ``identities`` keeps only those people; ``exclude`` holds people out (for a held-out split).
    Head-pose references come from the clips' stored pose files (``vid2vid-prep --landmarks``)
    where they exist; otherwise ``pose_reference``, when given, maps an RGB crop to its 3 x 3
    head rotation or None (:mod:`vid2vid.training.pose_reference`), cached per frame and per
    DataLoader worker.
    """

    def __init__(
        self,
        root: str | Path,
        input_size: int,
        output_size: int,
        *,
        identities: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        pose_reference: object | None = None,
    ) -> None:
        self.root = Path(root)
        index = read_index(self.root)
        clips = [c for c in index.clips if c.frames >= 2]
        if identities is not None:
            unknown = sorted(set(identities) - set(index.identities))
            if unknown:
                raise InputError(f"{root}: no identity {unknown[0]!r} in the dataset")
            clips = [c for c in clips if c.identity in set(identities)]
        clips = [c for c in clips if c.identity not in set(exclude)]
        if not clips:
            raise InputError(f"{root}: no clip with at least 2 frames to train on")
        if index.size < output_size:
            log.warning(
                "dataset crops are %d px but the model renders %d px: targets are upscaled",
                index.size,
                output_size,
            )
        self.clips: list[ClipEntry] = clips
        self.size = index.size
        self.input_size, self.output_size = input_size, output_size
        self.store = FrameStore(self.root, index)
        self.pose_reference = pose_reference
        self.stored_poses = [read_poses(self.root, c) for c in clips]
        self._poses: dict[tuple[int, int], np.ndarray | None] = {}

    def __len__(self) -> int:
        return sum(c.frames for c in self.clips)

    @property
    def identities(self) -> list[str]:
        return sorted({c.identity for c in self.clips})

    def frame(self, clip: int, index: int) -> np.ndarray:
        """Frame ``index`` of clip number ``clip`` as stored (BGR uint8)."""
        return self.store.frame(self.clips[clip], index)

    @property
    def has_stored_poses(self) -> bool:
        return any(p is not None for p in self.stored_poses)

    def _pose(self, clip: int, index: int, bgr: np.ndarray) -> np.ndarray | None:
        stored = self.stored_poses[clip]
        if stored is not None:
            rotation = stored[index]
            return None if np.isnan(rotation).any() else rotation.astype(np.float32)
        if self.pose_reference is None:
            return None
        key = (clip, index)
        if key not in self._poses:
            rgb = np.ascontiguousarray(bgr[..., ::-1])
            self._poses[key] = self.pose_reference(rgb)  # type: ignore[operator]
        return self._poses[key]

    def __getitem__(self, ref: PairRef) -> Pair:  # type: ignore[override]
        clip, i, j = ref
        source = self.frame(clip, i)
        driving = self.frame(clip, j)
        rotation = self._pose(clip, j, driving)
        pose = torch.eye(3) if rotation is None else torch.from_numpy(rotation).float()
        return Pair(
            source=_to_tensor(source, self.input_size),
            driving=_to_tensor(driving, self.input_size),
            target=_to_tensor(driving, self.output_size),
            pose=pose,
            pose_valid=torch.tensor(rotation is not None),
        )


def step_rng(seed: int, step: int, stream: int = 0) -> np.random.Generator:
    """The random generator of one training step: a function of the seed and step only."""
    return np.random.default_rng([seed, step, stream])


def sample_pairs(clips: Sequence[ClipEntry], batch: int, rng: np.random.Generator) -> list[PairRef]:
    """``batch`` pairs: a uniform clip, then two distinct uniform frames of it."""
    refs = []
    for _ in range(batch):
        clip = int(rng.integers(len(clips)))
        count = clips[clip].frames
        i, j = (int(v) for v in rng.choice(count, size=2, replace=False))
        refs.append(PairRef(clip, i, j))
    return refs


class PairSampler(torch.utils.data.Sampler[list[PairRef]]):
    """Batches of pair references for steps ``start, start+1, …, stop-1`` (a batch sampler)."""

    def __init__(
        self, clips: Sequence[ClipEntry], batch: int, seed: int, start: int, stop: int
    ) -> None:
        self.clips, self.batch, self.seed = list(clips), batch, seed
        self.start, self.stop = start, stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[PairRef]]:
        for step in range(self.start, self.stop):
            yield sample_pairs(self.clips, self.batch, step_rng(self.seed, step))
