"""A small training dataset of real crops, made by vid2vid-prep from the shared clips."""

from __future__ import annotations

from pathlib import Path

from support.interop import DATA, require
from vid2vid.training import prep


def prepared_clips(
    tmp_path_factory,
    *,
    size: int,
    frames: int,
    names: tuple[str, ...] = ("lp_d0.mp4", "lp_d18.mp4"),
) -> Path:
    """Crops of the named shared clips (two real people by default), ``frames`` per clip."""
    folder = tmp_path_factory.mktemp("videos")
    for name in names:
        (folder / name).symlink_to(require(DATA / "clips" / name))
    out = tmp_path_factory.mktemp("data")
    args = [str(folder), "-o", str(out), "--size", str(size), "--min-frames", "8"]
    assert prep.main([*args, "--max-frames", str(frames), "--quiet"]) == 0
    return out
