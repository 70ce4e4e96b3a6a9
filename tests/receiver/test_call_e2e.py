"""A whole call with real processes on loopback: vid2vid-signal, vid2vid-send, vid2vid-recv."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vid2vid.codec.video import VideoReader

CLIP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips" / "lp_d0.mp4"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert path is not None, f"{name} is not on PATH: is vid2vid installed (pip install -e .)?"
    return path


@pytest.fixture()
def signaling():
    proc = subprocess.Popen(
        [_tool("vid2vid-signal"), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://[\d.]+:(\d+)", line)
        if match is None:
            pytest.fail(f"vid2vid-signal did not start: {line!r}")
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_send_a_clip_and_record_it(signaling, tmp_path):
    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    with VideoReader(CLIP) as reader:
        expected = reader.frame_count
    out = tmp_path / "call.mp4"
    common = ["--peer", signaling, "--room", "e2e", "--config", "tiny", "--ice-host", "127.0.0.1"]
    recv = subprocess.Popen(
        [_tool("vid2vid-recv"), *common, "--out", str(out), "--once"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)
        send = subprocess.run(
            [_tool("vid2vid-send"), *common, "--video", str(CLIP)],
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert send.returncode == 0, send.stderr
        log, _ = recv.communicate(timeout=30)
    finally:
        if recv.poll() is None:
            recv.kill()
    assert recv.returncode == 0, log
    assert "UNTRAINED" in log and "UNTRAINED" in send.stderr
    with VideoReader(out) as reader:
        frames = np.stack([f.image for f in reader]).astype(np.int16)
    assert abs(len(frames) - expected) <= 2, f"{len(frames)} frames, the clip has {expected}"
    assert frames.shape[1:] == (64, 64, 3)
    assert np.abs(np.diff(frames, axis=0)).max() > 10, "the recorded call does not move"
