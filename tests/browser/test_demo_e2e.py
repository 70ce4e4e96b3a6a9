"""The demo page showing a real call: vid2vid-signal + vid2vid-send (clip) + vid2vid-recv --serve.

Everything runs in tests/browser/demo_driver.py, a separate process that first enters a network
namespace of its own (only `lo`), so chromium, aiortc and the server can talk over loopback only.
The driver measures; this test asserts: the video plays and is not blank, the figures update,
the page shows the receiver's call state and an UNTRAINED badge (the call runs the untrained
tiny preset), and moving the yaw slider changes the rebuilt frames more than the clip's own motion does.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vid2vid.receiver import cli as receiver_cli
from vid2vid.sender import cli as sender_cli

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("demo_driver.py")
CLIPS = ROOT.parent / "shared" / "data" / "clips"
CLIP = "lp_d0.mp4"


def _exe(command: str) -> str:
    """The console script beside this interpreter (the venv's), else on PATH, else ''."""
    return (
        shutil.which(command, path=str(Path(sys.executable).parent)) or shutil.which(command) or ""
    )


def _peer_commands(clip: Path) -> list[list[str]]:
    """argv templates ({url}, {room}) for receiver and sender.

    The CLIs are imported directly: a broken import or a missing flag fails the test, it is
    not a reason to skip it.
    """
    recv_help = receiver_cli.build_parser().format_help()
    send_help = sender_cli.build_parser().format_help()
    for flag in ("--serve", "--ice-host", "--config", "--peer", "--room"):
        assert flag in recv_help, f"vid2vid-recv has no {flag}"
    for flag in ("--video", "--loop", "--preview", "--ice-host", "--config", "--peer", "--room"):
        assert flag in send_help, f"vid2vid-send has no {flag}"
    # aioice leaves loopback out unless told (--ice-host); the tiny model keeps it fast
    common = ["--peer", "{url}", "--room", "{room}", "--ice-host", "127.0.0.1", "--config", "tiny"]
    send = [_exe("vid2vid-send"), *common, "--video", str(clip), "--loop", "--preview"]
    recv = [_exe("vid2vid-recv"), *common, "--serve"]
    for command in (send, recv):
        assert command[0], "the vid2vid-send/vid2vid-recv console scripts are not installed"
    return [recv, send]


def test_demo_page_shows_the_call_and_turns_the_head(chromium_path: str) -> None:
    clip = CLIPS / CLIP
    if not clip.exists():
        pytest.skip(f"shared clip {clip} is absent")
    started = time.monotonic()
    commands = _peer_commands(clip)
    flags_s = time.monotonic() - started
    out = ROOT / "out"
    argv = [sys.executable, str(DRIVER), "--out", str(out), "--timeout", "60"]
    argv += [
        "--signal",
        json.dumps([sys.executable, "-m", "vid2vid.signaling.cli", "--log-level", "info"]),
    ]
    for command in commands:
        argv += ["--peer", json.dumps(command)]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=150)
    lines = completed.stdout.strip().splitlines()
    assert lines, completed.stderr[-3000:]
    result = json.loads(lines[-1])
    result["reading_cli_flags_s"] = round(flags_s, 2)
    print(json.dumps({k: v for k, v in result.items() if k != "logs"}, indent=1))
    assert result["ok"], json.dumps(result, indent=1)[-6000:]

    # The video plays in the browser and is not blank.
    assert result["browser_fps"] > 1.0
    assert result["video_size"][0] > 0
    assert result["frame_std"] > 2.0
    # Figures arrive once a second and change.
    assert result["stats_messages_in_2_5s"] >= 2
    assert result["figures_after"]["frames"] != result["figures_before"]["frames"]
    assert re.fullmatch(r"\d+ / \d+ ms", result["figures_after"]["latency"])
    assert re.fullmatch(r"[\d.]+", result["figures_after"]["kbps"])
    # Wire kbit/s beside the payload: the call's (sender's count) and this page's (getStats).
    assert re.fullmatch(r"[\d.]+ / [\d.]+ kbit/s", result["figures_after"]["wire"])
    assert re.fullmatch(r"[\d.]+ / [\d.]+ kbit/s", result["figures_after"]["page-wire"])
    # The sender's live x264 reference (on with --preview) fills the H.264 comparison.
    assert re.fullmatch(r"[\d.]+ kbit/s \(\d+× the motion\)", result["figures_after"]["h264"])
    assert "live x264 CRF 51" in result["figures_after"]["h264-source"]
    assert result["plot_motion_pixels"] > 5  # the kbit/s curve is drawn
    # The receiver runs the untrained tiny preset: the page says so over the video, and shows
    # the receiver's call state.
    assert result["call_state"] == "live"
    assert result["model_badge_visible"]
    assert result["model_badge_text"].startswith("UNTRAINED weights")
    assert result["page_model"]["trained"] is False
    assert result["page_model"]["fingerprint"] in result["model_figure"]
    assert result["model_figure"].startswith("tiny, UNTRAINED (untrained tiny")
    # Turning the head changes the picture more than the clip's own motion between frames.
    assert result["view_messages_sent"] >= 1
    # (median: one pair of samples may straddle a new keyframe, e.g. when the clip loops)
    assert result["yaw_diff_across_mean"] > 1.5 * result["yaw_diff_within_median"] + 1.0
    assert Path(result["screenshot"]).stat().st_size > 10_000
    assert result["errors"] == []
