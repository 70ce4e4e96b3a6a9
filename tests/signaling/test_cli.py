"""`vid2vid-signal` as a real process, and the server's freedom from media dependencies."""

from __future__ import annotations

import json
import os
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
    modules = ["server", "cli", "client", "rooms", "config", "protocol", "limits", "credentials"]
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


def _start(*flags: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    exe = shutil.which("vid2vid-signal")
    command = [exe] if exe else [sys.executable, "-m", "vid2vid.signaling.cli"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.fullmatch(r"vid2vid-signal listening on (http://127\.0\.0\.1:\d+)\n", line)
    if match is None:
        process.kill()
        pytest.fail(f"vid2vid-signal did not start: {line!r} {process.communicate()[1]}")
    return process, match[1]


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=10)
    return err


def test_malformed_http_requests_are_one_line_each_and_rate_limited() -> None:
    """A traceback per garbage request let a client fill the disk; now one short line per kind
    of fault is written at most 5 times per 10 s (the rest are counted)."""
    process, url = _start("--log-level", "info")
    try:
        port = int(url.rsplit(":", 1)[1])
        requests = [
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\x01: y\r\n\r\n",
        ]
        for i in range(60):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(requests[i % 2])
                assert conn.recv(100).startswith(b"HTTP/1.")  # answered with 400, still alive
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            assert json.load(response)["status"] == "ok"
    finally:
        err = _stop(process)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "malformed HTTP request" in line]
    assert 1 <= len(lines) <= 5, err


def test_token_from_a_file_or_the_environment_never_only_argv(tmp_path) -> None:
    import asyncio

    from vid2vid.signaling.client import SignalingClient, SignalingClosedError

    async def admitted(url: str, token: str | None) -> bool:
        client = SignalingClient(url, room="r", role="viewer", token=token)
        try:
            await client.connect()
            return True
        except SignalingClosedError as exc:
            assert exc.close_code == 4001
            return False
        finally:
            await client.close()

    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    env = {k: v for k, v in os.environ.items() if k != "VID2VID_SIGNAL_TOKEN"}
    for flags, extra_env, token in (
        (["--token-file", str(secret)], {}, "from-a-file"),
        ([], {"VID2VID_SIGNAL_TOKEN": "from-env"}, "from-env"),
    ):
        process, url = _start(*flags, env={**env, **extra_env})
        try:
            assert not asyncio.run(admitted(url, None))
            assert not asyncio.run(admitted(url, "wrong"))
            assert asyncio.run(admitted(url, token))
        finally:
            _stop(process)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--token", "a", "--token-file", "x"], "give --token or --token-file, not both"),
        (["--token-file", "/nonexistent/token"], "--token-file: cannot read /nonexistent/token"),
        (["--allow-origin", "evil.example"], "an allowed origin must be http(s)://host[:port]"),
    ],
)
def test_cli_bad_secret_and_origin_flags_are_one_line_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vid2vid-signal: ") and message in err and err.count("\n") == 1
