"""Pack a prepared dataset into a size budget by keeping every N-th frame of every clip.

The device machine that continues a run on a GPU receives at most 64 MiB with the working tree,
and the full corpus at 256 px is about 250 MB. Every clip (and so every person, held-out ones
included) stays; only frames are thinned, by one stride for all clips. The JPEG bytes and the
landmarks of the kept frames are copied, not recomputed, so the packed frames are identical.

    python -m vid2vid.training.lite.pack DATA OUT --max-mb 48
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from vid2vid.errors import Vid2VidError
from vid2vid.training.lite.data import landmarks_path, read_landmarks
from vid2vid.training.shards import DatasetIndex, atomic_write_bytes, read_index, write_index


def pack(source: Path, output: Path, max_bytes: int) -> tuple[int, int]:
    """Write the thinned dataset; returns (stride, bytes written)."""
    index = read_index(source)
    total = sum((source / c.file).stat().st_size for c in index.clips)
    stride = max(1, math.ceil(total / max_bytes))
    packed = DatasetIndex(size=index.size, settings={**index.settings, "packed_stride": stride})
    written = 0
    for clip in index.clips:
        data = (source / clip.file).read_bytes()
        keep = range(0, clip.frames, stride)
        pieces = [data[clip.offsets[i] : clip.offsets[i + 1]] for i in keep]
        offsets = tuple(np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).tolist())
        entry = replace(clip, offsets=offsets)
        atomic_write_bytes(output / entry.file, b"".join(pieces))
        buffer = io.BytesIO()
        np.save(buffer, read_landmarks(source, clip)[::stride], allow_pickle=False)
        atomic_write_bytes(landmarks_path(output, entry), buffer.getvalue())
        packed.clips.append(entry)
        written += offsets[-1]
    packed.videos = dict(index.videos)
    write_index(output, packed)
    return stride, written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.training.lite.pack", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("source", type=Path, help="a prepared dataset with landmarks")
    parser.add_argument("output", type=Path)
    parser.add_argument("--max-mb", type=float, default=48.0)
    args = parser.parse_args(argv)
    try:
        stride, written = pack(args.source, args.output, int(args.max_mb * 2**20))
    except Vid2VidError as exc:
        print(f"pack: error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.output}: every {stride}th frame, {written / 2**20:.1f} MiB of frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
