"""What a new user reads: one UNTRAINED warning, a cut .v2v said on stderr, a portrait named."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from support.interop import DATA, require
from vid2vid.codec.checkpoint import load_weights
from vid2vid.codec.commands import decode as decode_cli
from vid2vid.codec.commands import encode as encode_cli
from vid2vid.codec.commands import reenact as reenact_cli
from vid2vid.codec.config import preset
from vid2vid.codec.model import build_model_meta, seeded_model
from vid2vid.engines.threads import threads_for


def test_the_untrained_warning_is_said_once(tmp_path: Path, capsys, caplog) -> None:
    clip = require(DATA / "clips" / "lp_d0.mp4")
    caplog.set_level(logging.INFO)
    argv = [str(clip), "-o", str(tmp_path / "a.v2v"), "--config", "tiny", "--frames", "3"]
    assert encode_cli.main(argv) == 0
    said = capsys.readouterr().err.count("UNTRAINED") + caplog.text.count("UNTRAINED")
    assert said == 1
    caplog.clear()
    load_weights(None, "tiny", announce=False)
    assert "UNTRAINED" not in caplog.text


def test_a_cut_stream_is_reported_on_stderr_and_its_frames_kept(tmp_path: Path, capsys) -> None:
    clip = require(DATA / "clips" / "lp_d0.mp4")
    stream = tmp_path / "whole.v2v"
    argv = [str(clip), "-o", str(stream), "--config", "tiny", "--frames", "10"]
    assert encode_cli.main(argv) == 0
    data = stream.read_bytes()
    cut = tmp_path / "cut.v2v"
    cut.write_bytes(data[: len(data) - 20])  # into the last records
    capsys.readouterr()
    out = tmp_path / "cut.mp4"
    assert decode_cli.main([str(cut), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "truncated record" in captured.err and str(cut) in captured.err
    assert out.is_file() and out.stat().st_size > 0


def test_reenact_names_the_portrait_without_a_face(tmp_path: Path, capsys) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((128, 128, 3), 200, np.uint8))
    clip = require(DATA / "clips" / "lp_d0.mp4")
    argv = ["--source", str(blank), "--driving", str(clip), "-o", str(tmp_path / "r.mp4")]
    assert reenact_cli.main([*argv, "--config", "tiny", "--frames", "2"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"no face found in {blank}" in last


def test_small_models_run_on_one_thread_large_ones_keep_the_default() -> None:
    assert threads_for(seeded_model(preset("tiny"))) == 1
    assert threads_for(build_model_meta(preset("paper-256"))) is None


def test_the_sender_ends_with_words_not_a_dict() -> None:
    from vid2vid.sender.cli import done_line

    line = done_line({"frames": 74, "frames_without_face": 2})
    assert line.startswith("send done: 74 frames sent") and "{" not in line
    assert "2 captured without a face" in line and "newest frame wins" in line


def test_the_page_turns_the_head_as_far_as_the_receiver_accepts() -> None:
    import re

    from vid2vid.call.control import MAX_VIEW_DEGREES

    page = Path(__file__).resolve().parents[2] / "signaling" / "static" / "index.html"
    yaw = re.search(r'<input id="yaw"[^>]*>', page.read_text()).group(0)
    assert f'min="-{MAX_VIEW_DEGREES:.0f}"' in yaw and f'max="{MAX_VIEW_DEGREES:.0f}"' in yaw
