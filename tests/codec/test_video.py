"""Video and image I/O: round trips through real H.264 files and one-line errors for bad input."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from support.interop import DATA, require
from vid2vid.codec.video import VideoReader, VideoWriter, read_image
from vid2vid.errors import ConfigError, InputError


def gradient_frame(index: int, width: int = 96, height: int = 64) -> np.ndarray:
    """A smooth colour gradient that moves with ``index``: easy for H.264, so errors stay small."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    blue = 40 + 150 * x / width + 2 * index
    green = 60 + 120 * y / height
    red = 200 - 100 * (x + y) / (width + height)
    return np.stack([blue, green, red], axis=-1).round().astype(np.uint8)


def test_written_frames_read_back_close(tmp_path: Path) -> None:
    path = tmp_path / "gradient.mp4"
    frames = [gradient_frame(i) for i in range(10)]
    with VideoWriter(path, 30, (96, 64)) as writer:
        for frame in frames:
            writer.write(frame)
    with VideoReader(path) as reader:
        assert (reader.width, reader.height) == (96, 64)
        assert reader.fps == pytest.approx(30)
        assert reader.frame_count == 10
        decoded = list(reader)
    assert len(decoded) == 10
    times = [item.time for item in decoded]
    assert times == pytest.approx([i / 30 for i in range(10)], abs=1e-3)
    for original, item in zip(frames, decoded, strict=True):
        assert item.image.shape == (64, 96, 3) and item.image.dtype == np.uint8
        error = np.abs(item.image.astype(np.int16) - original.astype(np.int16)).mean()
        assert error < 3, f"mean abs error {error:.2f}"


def test_fractional_rate_and_crf_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "ntsc.mp4"
    with VideoWriter(path, 30000 / 1001, (32, 32), crf=30) as writer:
        for i in range(3):
            writer.write(gradient_frame(i, 32, 32))
    with VideoReader(path) as reader:
        assert reader.fps == pytest.approx(29.97, abs=0.01)
        assert len(list(reader)) == 3


def test_second_iteration_starts_again(tmp_path: Path) -> None:
    path = tmp_path / "twice.mp4"
    with VideoWriter(path, 25, (32, 32)) as writer:
        for i in range(5):
            writer.write(gradient_frame(i, 32, 32))
    with VideoReader(path) as reader:
        first = [item.time for item in reader]
        second = [item.time for item in reader]
    assert first == second and len(first) == 5


def test_real_clip_header_and_first_frames() -> None:
    path = require(DATA / "clips" / "lp_d0.mp4")
    with VideoReader(path) as reader:
        assert (reader.width, reader.height, reader.fps) == (512, 512, 25)
        assert reader.frame_count == 78
        head = list(itertools.islice(reader, 60))
    assert len(head) == 60
    assert all(item.image.shape == (512, 512, 3) for item in head)
    assert head[1].time - head[0].time == pytest.approx(0.04)


def test_missing_video_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"
    with pytest.raises(InputError, match="not found: .*nowhere.mp4"):
        VideoReader(missing)


@pytest.mark.parametrize(
    "content",
    [b"just some notes\nnot a video\n", bytes(range(256)) * 40, b""],
    ids=["text", "noise", "empty"],
)
def test_unreadable_video_is_an_input_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError, match="bad.mp4") as caught:
        VideoReader(path)
    assert "\n" not in str(caught.value)


def test_directory_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a file"):
        VideoReader(tmp_path)


def test_writer_rejects_odd_size_and_wrong_frames(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="size"):
        VideoWriter(tmp_path / "odd.mp4", 25, (31, 32))
    with pytest.raises(ConfigError, match="crf"):
        VideoWriter(tmp_path / "crf.mp4", 25, (32, 32), crf=60)
    with VideoWriter(tmp_path / "ok.mp4", 25, (32, 32)) as writer:
        with pytest.raises(InputError, match="32x32x3"):
            writer.write(np.zeros((32, 30, 3), np.uint8))
        writer.write(np.zeros((32, 32, 3), np.uint8))


def test_writer_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "new" / "nested" / "clip.mp4"
    with VideoWriter(path, 25, (32, 32)) as writer:
        writer.write(gradient_frame(0, 32, 32))
    with VideoReader(path) as reader:
        assert reader.frame_count == 1


def test_writer_under_a_file_is_an_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="cannot write video"):
        VideoWriter(blocker / "clip.mp4", 25, (32, 32))


def test_read_image_gives_bgr() -> None:
    path = require(DATA / "portraits" / "lp_s0.jpg")
    image = read_image(path)
    assert image.shape == (704, 600, 3) and image.dtype == np.uint8


def test_read_image_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_image(tmp_path / "missing.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(InputError, match="cannot read image .*notes.jpg"):
        read_image(text)
