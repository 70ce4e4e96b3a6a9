"""The demo page's grid: one tile per participant a receiver rebuilds, with its own figures.

Real parts: `vid2vid-signal`, a `vid2vid-recv --serve` and two named `vid2vid-send` processes
(the tiny model, the shared clips) on loopback, and Debian's chromium through Playwright. The
page offers one video transceiver per participant; when a sender leaves its tile goes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CLIPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips"
LOOPBACK_ARGS = [
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
TILES_JS = """() => [...document.querySelectorAll('#grid .tile')].map((el) => ({
  name: el.dataset.name,
  state: el.querySelector('.tile-state').textContent,
  figures: el.querySelector('.tile-figures').textContent,
  width: el.querySelector('video').videoWidth,
}))"""


def _command(tool: str, *args: str) -> list[str]:
    return [str(Path(sys.executable).parent / tool), *args]


def test_the_page_shows_one_tile_per_sender_and_removes_a_leaver(
    chromium_path: str, chromium_args: list[str], signal_server: str, tmp_path: Path
) -> None:
    clips = [CLIPS / "lp_d0.mp4", CLIPS / "lp_d10.mp4"]
    if not all(c.is_file() for c in clips):
        pytest.skip(f"shared data absent: {CLIPS}")
    from playwright.sync_api import sync_playwright

    common = ["--peer", signal_server, "--room", "grid", "--config", "tiny"]
    common += ["--ice-host", "127.0.0.1"]
    procs: dict[str, subprocess.Popen] = {}

    def start(name: str, argv: list[str]) -> None:
        log = (tmp_path / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    try:
        start("recv", _command("vid2vid-recv", *common, "--serve", "--serve-size", "64"))
        for name, clip in zip(("alice", "bob"), clips, strict=True):
            start(name, _command("vid2vid-send", *common, "--video", str(clip), "--loop",
                                 "--name", name))  # fmt: skip
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium_path, headless=True, args=chromium_args + LOOPBACK_ARGS
            )
            context = browser.new_context()
            context.grant_permissions(["camera", "microphone"], origin=signal_server)
            page = context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{signal_server}/room/grid?ice=127.0.0.1")
            deadline = time.monotonic() + 90
            while True:
                tiles = page.evaluate(TILES_JS)
                playing = [t for t in tiles if t["width"] > 0 and t["state"] == "live"]
                if len(playing) == 2:
                    break
                for name, proc in procs.items():
                    assert proc.poll() is None, (tmp_path / f"{name}.log").read_text()[-2000:]
                assert time.monotonic() < deadline, f"no grid of two: {tiles}"
                page.wait_for_timeout(250)
            assert sorted(t["name"] for t in tiles) == ["alice", "bob"]
            assert all(t["figures"].endswith("kbit/s") and "fps" in t["figures"] for t in tiles)
            assert page.evaluate("vid2vidDemo.tilesOffered") == 2
            assert page.inner_text("#grid-count") == "(2)"

            procs["bob"].send_signal(signal.SIGINT)  # bob leaves: bye, his tile goes
            procs["bob"].wait(20)
            page.wait_for_function(
                "() => document.querySelectorAll('#grid .tile').length === 1", timeout=20000
            )
            assert [t["name"] for t in page.evaluate(TILES_JS)] == ["alice"]
            assert problems == []
            browser.close()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
