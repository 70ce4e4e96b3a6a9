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
    # The untrained tiny model moves its output little; at a fixed, fine enough motion quality
    # the clip's motion reaches the picture whatever the default quality is.
    send_options = ["--name", "alice", "--quality", "34"]
    recv = subprocess.Popen(
        [_tool("vid2vid-recv"), *common, "--out", str(out), "--once"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)
        send = subprocess.run(
            [_tool("vid2vid-send"), *common, "--video", str(CLIP), *send_options],
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert send.returncode == 0, send.stderr
        log, _ = recv.communicate(timeout=30)
    finally:
        if recv.poll() is None:
            recv.kill()
    assert recv.returncode == 0, log
    assert "UNTRAINED" in log and "UNTRAINED" in send.stderr
    # one file per sender: OUT with the sender's name before the suffix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["call-alice.mp4"]
    with VideoReader(tmp_path / "call-alice.mp4") as reader:
        frames = np.stack([f.image for f in reader]).astype(np.int16)
    assert abs(len(frames) - expected) <= 2, f"{len(frames)} frames, the clip has {expected}"
    assert frames.shape[1:] == (64, 64, 3)
    assert np.abs(np.diff(frames, axis=0)).max() > 10, "the recorded call does not move"


class _Lines:
    """Collects a process's output lines with the time each arrived (a reader thread)."""

    def __init__(self, stream) -> None:
        import threading

        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, needle: str, after: float, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for stamp, line in list(self.lines):
                if stamp >= after and needle in line:
                    return stamp
            time.sleep(0.1)
        tail = "\n".join(line for _, line in self.lines[-30:])
        raise AssertionError(f"no {needle!r} within {timeout} s; last lines:\n{tail}")


@pytest.mark.slow
def test_a_hung_sender_is_dropped_and_the_call_comes_back(tmp_path):
    """SIGSTOP the sender: the receiver says "reconnecting" within --peer-timeout (its ICE
    still thinks the call is up); SIGCONT: the sender finds the receiver silent too, offers
    again, and the receiver is live on the new keyframe. Tokens travel by file and variable."""
    import os
    import signal

    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    secret = tmp_path / "token"
    secret.write_text("t0ken\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VID2VID_")}
    server = subprocess.Popen(
        [_tool("vid2vid-signal"), "--port", "0", "--token-file", str(secret)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    procs = [server]
    try:
        match = re.search(r"http://[\d.]+:(\d+)", server.stdout.readline())
        assert match, "vid2vid-signal did not start"
        common = ["--peer", f"http://127.0.0.1:{match[1]}", "--room", "hang", "--config", "tiny"]
        common += ["--ice-host", "127.0.0.1", "--peer-timeout", "3"]
        recv = subprocess.Popen(
            [_tool("vid2vid-recv"), *common, "--out", str(tmp_path / "call.mp4"), "--stats"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**env, "VID2VID_TOKEN": "t0ken"},
        )  # fmt: skip
        procs.append(recv)
        recv_lines = _Lines(recv.stdout)
        send = subprocess.Popen(
            [_tool("vid2vid-send"), *common, "--video", str(CLIP), "--loop"]
            + ["--token-file", str(secret), "--name", "bob"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        procs.append(send)
        live = recv_lines.wait_for("recv live", 0.0, 90)
        recv_lines.wait_for("recv live", live + 2.0, 10)  # stays live
        send.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        reconnecting = recv_lines.wait_for("recv reconnecting", stopped, 15)
        time.sleep(2.0)
        send.send_signal(signal.SIGCONT)
        resumed = time.monotonic()
        back = recv_lines.wait_for("recv live", resumed, 30)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(
        f"reconnecting {reconnecting - stopped:.1f} s after SIGSTOP, live {back - resumed:.1f} s after SIGCONT"
    )
    # --stats prints once a second: the drop itself came within --peer-timeout of the last word
    assert reconnecting - stopped <= 3.0 + 1.5
    with VideoReader(tmp_path / "call-bob.mp4") as reader:  # the same slot, the same file
        assert sum(1 for _ in reader) > 25
