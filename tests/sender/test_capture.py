"""Capture from files: paced, looping, stamped; bad sources are one-line errors."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from vid2vid.codec.video import VideoWriter
from vid2vid.errors import InputError
from vid2vid.sender import cli
from vid2vid.sender.capture import CameraCapture, FileCapture, open_capture


@pytest.fixture()
def clip(tmp_path):
    path = tmp_path / "ramp.mp4"
    with VideoWriter(path, 50.0, (32, 32), crf=0) as writer:
        for i in range(10):
            writer.write(np.full((32, 32, 3), i * 20, np.uint8))
    return path


async def _take(capture, n):
    frames = []
    async for frame in capture.frames():
        frames.append(frame)
        if len(frames) == n:
            break
    return frames


def test_file_is_paced_at_its_frame_rate_and_stamped(clip):
    capture = FileCapture(clip)
    assert capture.fps == pytest.approx(50.0)
    start = time.monotonic()
    frames = asyncio.run(_take(capture, 100))
    elapsed = time.monotonic() - start
    capture.close()
    assert len(frames) == 10  # no --loop: the file ends
    assert elapsed >= 9 / 50 * 0.9  # paced, not as fast as it decodes
    steps = np.diff([f.timestamp_ms for f in frames])
    assert list(steps) == [20] * 9


def test_loop_plays_again_with_a_continuing_clock(clip):
    capture = FileCapture(clip, loop=True, pace=False)
    frames = asyncio.run(_take(capture, 25))
    capture.close()
    assert [f.index for f in frames] == list(range(25))
    assert np.all(np.diff([f.timestamp_ms for f in frames]) == 20)
    assert frames[10].image.mean() < frames[9].image.mean()  # back at the first frame


def test_missing_or_unreadable_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="video not found"):
        open_capture(None, tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    with pytest.raises(InputError, match="cannot read video"):
        FileCapture(junk)


def test_missing_camera_is_an_input_error():
    with pytest.raises(InputError, match="cannot open camera 97"):
        CameraCapture(97)


def test_cli_says_one_line_and_exits_non_zero(tmp_path, capsys):
    code = cli.main(["--video", str(tmp_path / "nope.mp4"), "--peer", "http://127.0.0.1:9"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == [f"vid2vid-send: error: video not found: {tmp_path / 'nope.mp4'}"]
    assert cli.main(["--camera", "97", "--peer", "http://127.0.0.1:9"]) == 1
    assert capsys.readouterr().err.strip() == "vid2vid-send: error: cannot open camera 97"
