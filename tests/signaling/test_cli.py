"""`vid2vid-signal` as a real process, and the server's freedom from media dependencies."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from vid2vid.signaling.cli import main

MEDIA = ["torch", "aiortc", "av", "cv2", "numpy", "aioice"]


def test_server_client_and_cli_import_no_media_part() -> None:
    modules = ["server", "cli", "client", "rooms", "config", "protocol"]
    imports = "; ".join(f"import vid2vid.signaling.{m}" for m in modules)
    script = f"import sys; {imports}; print(' '.join(m for m in {MEDIA!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == []


def test_cli_serves_and_stops_on_sigterm() -> None:
    exe = shutil.which("vid2vid-signal")
    command = [exe] if exe else [sys.executable, "-m", "vid2vid.signaling.cli"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"vid2vid-signal listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        with urllib.request.urlopen(f"{match[1]}/healthz", timeout=5) as response:
            assert json.load(response) == {"status": "ok", "rooms": 0, "peers": 0}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--room-token", "vip"], "vid2vid-signal: --room-token must be ROOM=TOKEN, got 'vip'\n"),
        (["--max-peers", "0"], "vid2vid-signal: max_peers_per_room must be at least 1, got 0\n"),
    ],
)
def test_cli_bad_values_are_one_line_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err == message


def test_cli_port_in_use_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port), "--log-level", "error"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vid2vid-signal: cannot listen on 127.0.0.1:{port}: ")
    assert err.count("\n") == 1
