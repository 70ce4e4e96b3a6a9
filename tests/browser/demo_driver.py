"""Drive the demo page end to end: signal + peers + chromium; print one JSON line of findings.

Run by tests/browser/test_demo_page.py as a separate process so that it can first move itself
into a network namespace of its own (root: unshare(CLONE_NEWNET), bring `lo` up): then chromium,
the signaling server, sender and receiver see only the loopback interface and no packet can use
the machine's other addresses. Where namespaces are not allowed it runs in the host namespace
and the page offers only 127.0.0.1 candidates (`?ice=127.0.0.1`).

    python demo_driver.py --out out --room demo \
        --peer '["vid2vid-recv", "--peer", "{url}", "--room", "{room}", "--serve"]' --peer '[...]'
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import itertools
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Chrome leaves loopback out of ICE unless told, and then only with media permission granted
    # (granted to the page's origin below); raw addresses instead of mDNS names for aiortc.
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
CLONE_NEWNET = 0x40000000

# Grey levels of a downscaled frame of the rebuilt video (drawImage of a WebRTC video is not
# tainted), so that Python can compare frames.
SAMPLE_JS = """(size) => {
  const video = document.getElementById('rebuilt');
  if (!video.videoWidth) return null;
  const canvas = document.createElement('canvas');
  canvas.width = size; canvas.height = size;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(video, 0, 0, size, size);
  const data = ctx.getImageData(0, 0, size, size).data;
  const out = [];
  for (let i = 0; i < data.length; i += 4) out.push((data[i] + data[i + 1] + data[i + 2]) / 3);
  return out;
}"""


# Pixels of the plot drawn in the motion line's colour (#4ea1ff): the kbit/s curve is there.
PLOT_PIXELS_JS = """() => {
  const c = document.getElementById('plot');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.abs(d[i] - 0x4e) < 24 && Math.abs(d[i + 1] - 0xa1) < 24 && Math.abs(d[i + 2] - 0xff) < 24) n++;
  }
  return n;
}"""


def enter_network_namespace() -> bool:
    """Move this (still single-threaded) process into a new network namespace with lo up."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return False
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, siocgifflags, request))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b""))
    return True


def interfaces() -> list[str]:
    return sorted(name for _, name in socket.if_nameindex())


class Processes:
    """Children with their logs; stopped in reverse order (SIGINT, then SIGKILL)."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.children: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.killed: list[str] = []  # did not stop within 5 s of SIGINT

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = self.logdir / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
        self.children.append((name, process, log))
        return process

    def check_alive(self) -> None:
        for name, process, log in self.children:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: {tail(log)}")

    def logs(self) -> dict[str, str]:
        return {name: tail(log) for name, _, log in self.children}

    def stop(self) -> None:
        for _, process, _ in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 5
        for name, process, _ in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.killed.append(name)
                process.kill()
                process.wait()


def tail(path: Path, chars: int = 1500) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-chars:]


def start_signal(procs: Processes, signal_cmd: list[str]) -> str:
    process = procs.start("signal", [*signal_cmd, "--host", "127.0.0.1", "--port", "0"])
    deadline = time.monotonic() + 15
    log = procs.logdir / "signal.log"
    while time.monotonic() < deadline:
        match = re.search(r"listening on (http://\S+)", log.read_text(errors="replace"))
        if match:
            return match[1]
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"vid2vid-signal did not start: {tail(log)}")


def mean_abs_diff(a: list[float], b: list[float]) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def std(a: list[float]) -> float:
    m = sum(a) / len(a)
    return (sum((x - m) ** 2 for x in a) / len(a)) ** 0.5


def samples(page: Any, count: int, gap_s: float, size: int = 48) -> list[list[float]]:
    out = []
    for _ in range(count):
        frame = page.evaluate(SAMPLE_JS, size)
        if frame is not None:
            out.append(frame)
        page.wait_for_timeout(gap_s * 1000)
    return out


def figures(page: Any) -> dict[str, str]:
    ids = [
        "kbps", "keyframe", "fps", "browser-fps", "latency", "browser-leg", "h264", "frames",
        "wire", "page-wire",
    ]  # fmt: skip
    return {i: page.inner_text(f"#fig-{i}") for i in ids} | {
        "h264-source": page.inner_text("#fig-h264-source")
    }


def drive(args: argparse.Namespace, procs: Processes, result: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    t0 = time.monotonic()
    url = start_signal(procs, json.loads(args.signal))
    for i, template in enumerate(args.peer):
        argv = [part.format(url=url, room=args.room) for part in json.loads(template)]
        procs.start(f"peer{i}-{Path(argv[0]).name}", argv)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1180, "height": 1100})
        context.grant_permissions(["camera", "microphone"], origin=url)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        result["console"] = console
        query = "" if result["netns"] else "?ice=127.0.0.1"
        page.goto(f"{url}/room/{args.room}{query}")

        # Wait for the first frames and stats: model loading can take a while on shared cores.
        deadline = time.monotonic() + args.timeout
        while True:
            # Steady state: the receiver has rebuilt a second's worth of frames from motion
            # (its first frames show the keyframe pose) and the browser shows them.
            ready = page.evaluate(
                "() => vid2vidDemo.framesPresented > 5 && vid2vidDemo.lastStats !== null"
                f" && vid2vidDemo.lastStats.frames >= {args.min_frames}"
            )
            if ready:
                break
            procs.check_alive()
            if time.monotonic() > deadline:
                state = page.evaluate("() => JSON.stringify(vid2vidDemo)")
                raise RuntimeError(f"no video/stats within {args.timeout} s: {state}")
            page.wait_for_timeout(250)
        result["first_frame_s"] = round(time.monotonic() - t0, 2)

        # Frames per second shown in the browser, over 3 s; figures before and after.
        fig_before = figures(page)
        n0, s0, w0 = page.evaluate(
            "() => [vid2vidDemo.framesPresented, vid2vidDemo.statsReceived, performance.now()]"
        )
        page.wait_for_timeout(2500)
        n1, s1, w1 = page.evaluate(
            "() => [vid2vidDemo.framesPresented, vid2vidDemo.statsReceived, performance.now()]"
        )
        fig_after = figures(page)
        result["plot_motion_pixels"] = page.evaluate(PLOT_PIXELS_JS)
        result["browser_fps"] = round((n1 - n0) / ((w1 - w0) / 1000), 2)
        result["stats_messages_in_2_5s"] = s1 - s0
        result["figures_before"] = fig_before
        result["figures_after"] = fig_after
        result["last_stats"] = page.evaluate("() => vid2vidDemo.lastStats")
        # What the page says about the receiver: its call state and its model (trained or not).
        result["call_state"] = page.inner_text("#st-call")
        result["model_badge_visible"] = page.is_visible("#model-badge")
        result["model_badge_text"] = page.inner_text("#model-badge")
        result["model_figure"] = page.inner_text("#fig-model")
        result["page_model"] = page.evaluate("() => vid2vidDemo.model")
        result["last_sender_stats"] = page.evaluate("() => vid2vidDemo.lastSenderStats")
        result["video_size"] = page.evaluate(
            "() => [document.getElementById('rebuilt').videoWidth,"
            " document.getElementById('rebuilt').videoHeight]"
        )

        # Moving yaw must change the rebuilt frames by more than the clip's own motion does.
        straight = samples(page, 5, 0.2)
        result["frame_std"] = round(min(std(f) for f in straight), 2)
        page.locator("#yaw").fill(str(args.yaw))
        page.wait_for_timeout(1000)
        turned = samples(page, 5, 0.2)
        within = [mean_abs_diff(a, b) for s in (straight, turned) for a, b in itertools.pairwise(s)]
        across = [mean_abs_diff(a, b) for a in straight for b in turned]
        result["yaw_diff_within"] = round(max(within), 2)
        result["yaw_diff_within_median"] = round(sorted(within)[len(within) // 2], 2)
        result["yaw_diff_across_min"] = round(min(across), 2)
        result["yaw_diff_across_mean"] = round(sum(across) / len(across), 2)
        result["view_messages_sent"] = page.evaluate("() => vid2vidDemo.viewMessagesSent")
        page.locator("#reset").click()
        page.wait_for_timeout(1000)
        back = samples(page, 2, 0.2)
        result["reset_diff_to_straight_mean"] = round(
            sum(mean_abs_diff(a, b) for a in straight for b in back) / (len(straight) * len(back)),
            2,
        )

        args.out.mkdir(parents=True, exist_ok=True)
        shot = args.out / "demo_screenshot.png"
        page.screenshot(path=str(shot), full_page=True)
        result["screenshot"] = str(shot)
        result["errors"] = page.evaluate("() => vid2vidDemo.errors")
        browser.close()
    result["total_s"] = round(time.monotonic() - t0, 2)


def main() -> int:
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for the screenshot")
    parser.add_argument("--room", default="browser-e2e")
    parser.add_argument(
        "--signal", default=json.dumps([sys.executable, "-m", "vid2vid.signaling.cli"])
    )
    parser.add_argument("--peer", action="append", default=[], help="JSON argv; {url} {room}")
    parser.add_argument("--timeout", type=float, default=40.0, help="seconds to first frames")
    parser.add_argument("--yaw", type=int, default=40)
    parser.add_argument(
        "--min-frames", type=int, default=15, help="frames the receiver rebuilds before measuring"
    )
    parser.add_argument("--no-netns", action="store_true", help="stay in the host namespace")
    args = parser.parse_args()

    result: dict[str, Any] = {"ok": False}
    result["netns"] = False if args.no_netns else enter_network_namespace()
    result["interfaces"] = interfaces()
    with tempfile.TemporaryDirectory(prefix="vid2vid-demo-") as tmp:
        procs = Processes(Path(tmp))
        try:
            drive(args, procs, result)
            result["ok"] = True
        except Exception as exc:  # report everything to the test, which asserts
            result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            stopping = time.monotonic()
            procs.stop()
            result["stop_s"] = round(time.monotonic() - stopping, 2)
            result["killed"] = procs.killed
            result["logs"] = procs.logs()
    result["driver_s"] = round(time.monotonic() - started, 2)
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
