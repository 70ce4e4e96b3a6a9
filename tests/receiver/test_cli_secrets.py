"""Secrets for vid2vid-send and vid2vid-recv come from a file or the environment, not only argv."""

from __future__ import annotations

import pytest

from vid2vid.call.cli import ice_config
from vid2vid.receiver.cli import build_parser as recv_parser
from vid2vid.receiver.cli import main as recv_main
from vid2vid.sender.cli import build_parser as send_parser
from vid2vid.signaling.credentials import resolve_secret_arguments

BASE = ["--peer", "http://127.0.0.1:9", "--config", "tiny"]


@pytest.mark.parametrize("parser", [recv_parser, send_parser])
def test_token_and_turn_password_from_files_or_variables(parser, tmp_path) -> None:
    extra = ["--out", "x.mp4"] if parser is recv_parser else ["--video", "x.mp4"]
    token, password = tmp_path / "token", tmp_path / "turn"
    token.write_text("room-secret\n")
    password.write_text("turn-secret\n")
    args = parser().parse_args(
        [*BASE, *extra, "--token-file", str(token), "--turn-password-file", str(password)]
    )
    resolve_secret_arguments(args, environ={"VID2VID_TURN_USERNAME": "alice"})
    assert (args.token, args.turn_password, args.turn_username) == (
        "room-secret", "turn-secret", "alice",
    )  # fmt: skip
    assert ice_config(args).turn_password == "turn-secret"
    args = parser().parse_args([*BASE, *extra])
    resolve_secret_arguments(
        args, environ={"VID2VID_TOKEN": "from-env", "VID2VID_TURN_PASSWORD": "pw"}
    )
    assert (args.token, args.turn_password) == ("from-env", "pw")
    args = parser().parse_args([*BASE, *extra, "--token", "argv"])  # still works, with a warning
    resolve_secret_arguments(args, environ={"VID2VID_TOKEN": "from-env"})
    assert args.token == "argv"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--token", "a", "--token-file", "f"], "give --token or --token-file, not both"),
        (["--token-file", "/nonexistent/t"], "--token-file: cannot read /nonexistent/t"),
        (["--peer-timeout", "0"], "timeout_s must be positive, got 0.0"),
    ],
)
def test_bad_secret_or_timeout_is_one_line(flags, message, capsys) -> None:
    assert recv_main([*BASE, "--out", "x.mp4", *flags]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vid2vid-recv: error: ") and message in err and err.count("\n") == 1


def test_a_secret_file_must_be_one_short_line(tmp_path, capsys) -> None:
    for content in ("", "two\nlines\n", "x" * 5000):
        path = tmp_path / "bad"
        path.write_text(content)
        assert recv_main([*BASE, "--out", "x.mp4", "--token-file", str(path)]) == 1
        assert "--token-file: " in capsys.readouterr().err
