"""vid2vid-prep on real shared clips: steady crops, the index, resumability, faceless videos."""

from __future__ import annotations

import json

import numpy as np
import pytest

from support.interop import DATA, require
from vid2vid.codec.video import VideoWriter
from vid2vid.training.prep import main
from vid2vid.training.shards import FrameStore, read_index

ARGS = ["--size", "64", "--min-frames", "6", "--max-frames", "10", "--quiet"]


@pytest.fixture
def videos(tmp_path):
    """A folder with one real clip; the tests add more."""
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "lp_d0.mp4").symlink_to(require(DATA / "clips" / "lp_d0.mp4"))
    return folder


def test_writes_crops_and_an_index(tmp_path, videos, capsys):
    out = tmp_path / "data"
    assert main([str(videos), "-o", str(out), *ARGS]) == 0
    index = read_index(out)
    assert index.size == 64
    assert [c.identity for c in index.clips] == ["lp_d0"]
    clip = index.clips[0]
    assert clip.frames == 10
    store = FrameStore(out)
    frames = [store.frame(clip, i) for i in range(clip.frames)]
    assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    # A talking face: the frames differ, but a steady crop keeps them close.
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in zip(frames, frames[1:], strict=False)]
    assert 0.1 < np.mean(diffs) < 40
    assert "1 clips, 10 frames" in capsys.readouterr().out


def test_a_second_run_skips_done_videos_and_adds_new_ones(tmp_path, videos, capsys):
    out = tmp_path / "data"
    assert main([str(videos), "-o", str(out), *ARGS]) == 0
    shard = out / read_index(out).clips[0].file
    stamp = shard.stat().st_mtime_ns
    (videos / "lp_d18.mp4").symlink_to(require(DATA / "clips" / "lp_d18.mp4"))
    capsys.readouterr()
    assert main([str(videos), "-o", str(out), *ARGS]) == 0
    assert "1 videos processed, 1 already done" in capsys.readouterr().out
    assert shard.stat().st_mtime_ns == stamp  # the finished clip was not redone
    assert sorted(read_index(out).identities) == ["lp_d0", "lp_d18"]
    assert not list(out.rglob("*.tmp-*"))


def test_other_crop_settings_are_refused_in_the_same_folder(tmp_path, videos, capsys):
    out = tmp_path / "data"
    assert main([str(videos), "-o", str(out), *ARGS]) == 0
    other = ["--size", "128", "--min-frames", "6", "--max-frames", "10", "--quiet"]
    assert main([str(videos), "-o", str(out), *other]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vid2vid-prep: error:") and "use another folder" in err
    assert "\n" not in err


def test_framing_is_recorded_and_a_padded_set_is_another_folder(tmp_path, videos, capsys):
    out = tmp_path / "data"
    assert main([str(videos), "-o", str(out), *ARGS]) == 0
    assert read_index(out).settings["border"] == "inside"  # the sender's default framing
    assert main([str(videos), "-o", str(out), *ARGS, "--border", "replicate"]) == 1
    assert "use another folder" in capsys.readouterr().err
    padded = tmp_path / "padded"
    assert main([str(videos), "-o", str(padded), *ARGS, "--border", "replicate"]) == 0
    assert read_index(padded).settings["border"] == "replicate"


def test_a_video_without_a_face_is_dropped_with_the_reason(tmp_path, capsys):
    folder = tmp_path / "videos"
    rng = np.random.default_rng(0)
    with VideoWriter(folder / "noise.mp4", 25, (96, 96)) as writer:
        for _ in range(8):
            writer.write(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8))
    out = tmp_path / "data"
    assert main([str(folder), "-o", str(out), *ARGS]) == 0
    index = json.loads((out / "index.json").read_text())
    assert index["clips"] == []
    assert index["videos"]["noise.mp4"]["status"] == "dropped"
    assert "no steady face" in index["videos"]["noise.mp4"]["reason"]


def test_missing_source_is_one_line_error(tmp_path, capsys):
    assert main([str(tmp_path / "nope"), "-o", str(tmp_path / "data")]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"vid2vid-prep: error: source not found: {tmp_path / 'nope'}"
    )
