"""The prepared dataset on disk: one JPEG shard per clip and an ``index.json`` that lists them.

Layout of a dataset folder ``DATA``::

    DATA/index.json          format, crop size, settings, clips, and every source video seen
    DATA/clips/<id>.jpgs     the clip's frames as JPEG images back to back
    DATA/clips/<id>.poses.npy  optional (``--landmarks``): frames x 3 x 3 float32 head-pose
                             references, NaN where dlib found no face

A shard is plain concatenated JPEG files; the index holds each frame's byte offset, so one frame
is one ``seek`` + ``read`` + ``cv2.imdecode``: random pairs cost two small reads, not a video
decode from the last keyframe (an mp4 per clip would). JPEG at quality 95 keeps a 256 px crop
near 15-20 KB. Files are written to a temporary name and renamed, and the index is rewritten
(atomically) after every video, so an interrupted ``vid2vid-prep`` leaves a valid dataset and
the next run carries on where it stopped.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vid2vid.errors import InputError

INDEX_FILE = "index.json"
CLIPS_DIR = "clips"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ClipEntry:
    """One steady-face clip: ``frames`` crops of ``identity`` cut from ``source``."""

    id: str
    identity: str
    source: str
    fps: float
    file: str  # relative to the dataset folder
    offsets: tuple[int, ...]  # frames + 1 byte offsets: frame i is [offsets[i], offsets[i+1])
    first_frame: int = 0  # index of the first crop in the source video (after the stride)

    @property
    def frames(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClipEntry:
        return cls(
            id=str(data["id"]),
            identity=str(data["identity"]),
            source=str(data["source"]),
            fps=float(data["fps"]),
            file=str(data["file"]),
            offsets=tuple(int(v) for v in data["offsets"]),
            first_frame=int(data.get("first_frame", 0)),
        )


@dataclass
class DatasetIndex:
    """The contents of ``index.json``; ``videos`` maps a source key to what prep made of it."""

    size: int
    settings: dict[str, Any] = field(default_factory=dict)
    clips: list[ClipEntry] = field(default_factory=list)
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "size": self.size,
            "settings": self.settings,
            "clips": [asdict(c) for c in self.clips],
            "videos": self.videos,
        }

    @property
    def identities(self) -> list[str]:
        return sorted({c.identity for c in self.clips})


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_index(root: Path, index: DatasetIndex) -> None:
    atomic_write_bytes(root / INDEX_FILE, (json.dumps(index.to_dict(), indent=1) + "\n").encode())


def read_index(root: str | Path) -> DatasetIndex:
    """Read ``root/index.json``; InputError with the reason when it is missing or malformed."""
    path = Path(root) / INDEX_FILE
    if not path.is_file():
        raise InputError(
            f"{root}: not a vid2vid dataset (no {INDEX_FILE}; make one with vid2vid-prep)"
        )
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT_VERSION:
            raise InputError(
                f"{path}: dataset format {data.get('format')!r}, this vid2vid reads {FORMAT_VERSION}"
            )
        return DatasetIndex(
            size=int(data["size"]),
            settings=dict(data.get("settings", {})),
            clips=[ClipEntry.from_dict(c) for c in data.get("clips", [])],
            videos=dict(data.get("videos", {})),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: malformed dataset index ({exc})") from None


def encode_shard(frames_bgr: Sequence[np.ndarray], quality: int) -> tuple[bytes, tuple[int, ...]]:
    """JPEG-encode the frames back to back; returns the bytes and the frames + 1 offsets."""
    parts: list[bytes] = []
    offsets = [0]
    for frame in frames_bgr:
        ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise InputError(f"cannot JPEG-encode a {frame.shape} frame")
        parts.append(buffer.tobytes())
        offsets.append(offsets[-1] + len(parts[-1]))
    return b"".join(parts), tuple(offsets)


class FrameStore:
    """Random access to the frames of a dataset (BGR uint8); opens shard files lazily.

    Safe to use from DataLoader workers: each process opens its own file handles.
    """

    def __init__(self, root: str | Path, index: DatasetIndex | None = None) -> None:
        self.root = Path(root)
        self.index = index or read_index(self.root)
        self._handles: dict[str, Any] = {}
        self._pid = os.getpid()

    def frame(self, clip: ClipEntry, i: int) -> np.ndarray:
        """Frame ``i`` of ``clip`` as ``size x size x 3`` uint8 BGR."""
        if not 0 <= i < clip.frames:
            raise InputError(f"clip {clip.id} has {clip.frames} frames, asked for frame {i}")
        if self._pid != os.getpid():  # forked into a worker: never share file offsets
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.get(clip.file)
        if handle is None:
            path = self.root / clip.file
            try:
                handle = open(path, "rb")  # noqa: SIM115 - kept open for the store's lifetime
            except OSError as exc:
                raise InputError(f"cannot open shard {path}: {exc.strerror}") from None
            self._handles[clip.file] = handle
        start, end = clip.offsets[i], clip.offsets[i + 1]
        handle.seek(start)
        data = handle.read(end - start)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None or len(data) != end - start:
            raise InputError(f"frame {i} of {self.root / clip.file} is corrupt")
        return image

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state


def poses_path(root: Path, clip: ClipEntry) -> Path:
    """Where the clip's head-pose references live (beside its shard)."""
    return root / (clip.file.rsplit(".", 1)[0] + ".poses.npy")


def write_poses(root: Path, clip: ClipEntry, poses: np.ndarray) -> None:
    """Store frames x 3 x 3 rotations (NaN = no reference) atomically."""
    if poses.shape != (clip.frames, 3, 3):
        raise InputError(f"poses of clip {clip.id} must be {clip.frames}x3x3, got {poses.shape}")
    buffer = io.BytesIO()
    np.save(buffer, poses.astype(np.float32), allow_pickle=False)
    atomic_write_bytes(poses_path(root, clip), buffer.getvalue())


def read_poses(root: Path, clip: ClipEntry) -> np.ndarray | None:
    """The clip's stored references (frames x 3 x 3, NaN = none), or None when never computed."""
    path = poses_path(root, clip)
    if not path.is_file():
        return None
    try:
        poses = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable pose file ({exc})") from None
    if poses.shape != (clip.frames, 3, 3):
        raise InputError(f"{path}: holds {poses.shape}, clip {clip.id} has {clip.frames} frames")
    return poses
