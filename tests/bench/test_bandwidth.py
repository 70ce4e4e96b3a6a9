"""vid2vid-bench: a real smoke run (one shared clip, tiny model, real ffmpeg) and its CLI errors."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from support.interop import DATA, require
from vid2vid.bench.bandwidth import main, rate_fields
from vid2vid.bench.ffmpeg_codecs import CODECS, run_codec
from vid2vid.bench.metrics import psnr
from vid2vid.bench.report import main as report_main

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="Debian's ffmpeg is not installed",
)


def test_rate_spreads_the_intra_frame_over_the_call() -> None:
    fields = rate_fields(intra_bytes=7500, per_frame_bytes=1000, frames=25, fps=25.0,
                         call_seconds=60.0)  # fmt: skip
    assert fields["intra_kbps"] == pytest.approx(1.0)  # 60 000 bits over 60 s
    assert fields["frame_kbps"] == pytest.approx(8.0)  # 8000 bits in one second
    assert fields["kbps"] == pytest.approx(9.0)
    assert fields["clip_kbps"] == pytest.approx(68.0)  # everything within the 1 s clip


@needs_ffmpeg
def test_x264_bytes_and_quality_follow_crf() -> None:
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (64, 64, 3)).astype(np.float32), (0, 0), 3)
    frames = np.stack([np.roll(base, i, axis=1) for i in range(6)]).astype(np.uint8)
    spec = CODECS["x264"]
    fine = run_codec(spec, frames, 25.0, "crf20", ("-crf", "20"))
    coarse = run_codec(spec, frames, 25.0, "crf51", ("-crf", "51"))
    assert len(fine.packet_sizes) == len(coarse.packet_sizes) == 6
    assert fine.stream_bytes > coarse.stream_bytes > 0
    assert fine.intra_bytes > fine.packet_sizes[1]  # the IDR frame carries SPS/PPS and intra data
    assert psnr(frames, fine.frames) > psnr(frames, coarse.frames) > 10


@pytest.mark.slow
@needs_ffmpeg
def test_smoke_run_writes_a_sane_report(tmp_path: Path, capsys) -> None:
    clip = require(DATA / "clips" / "lp_d0.mp4")
    out = tmp_path / "report"
    argv = ["--clips", str(clip), "-o", str(out), "--config", "tiny", "--res", "64",
            "--qualities", "10,60", "--keyframe", "image", "--codecs", "x264", "--crfs", "30,51", "--x264-kbps", "",
            "--max-frames", "6", "--face-stride", "3", "--identity-stride", "3"]  # fmt: skip
    assert main(argv) == 0
    assert "UNTRAINED" in capsys.readouterr().err

    document = json.loads((out / "results.json").read_text())
    rows = {(r["codec"], r["setting"]): r for r in document["rows"]}
    assert set(rows) == {
        ("vid2vid-image", "q10"), ("vid2vid-image", "q60"), ("x264", "crf30"), ("x264", "crf51"),
        ("frozen-keyframe", "first frame"),
    }  # fmt: skip
    # The frozen keyframe costs the keyframe alone and nothing per frame.
    frozen = rows[("frozen-keyframe", "first frame")]
    assert (
        frozen["frame_kbps"] == 0
        and frozen["intra_bytes"] == rows[("vid2vid-image", "q10")]["intra_bytes"]
    )
    for row in rows.values():
        assert row["frames"] == 6 and row["fps"] == 25.0 and row["res"] == 64
        assert 0 < row["kbps"] < 1000 and row["intra_bytes"] > 0
        assert 0 < row["psnr"] < 100 and -1 < row["ssim"] <= 1 and 0 <= row["ms_ssim"] <= 1
    fine, coarse = rows[("x264", "crf30")], rows[("x264", "crf51")]
    assert fine["kbps"] > coarse["kbps"] and fine["psnr"] > coarse["psnr"] > 15
    q10, q60 = rows[("vid2vid-image", "q10")], rows[("vid2vid-image", "q60")]
    assert q60["frame_kbps"] > q10["frame_kbps"]  # finer motion costs more
    assert q10["intra_bytes"] == q60["intra_bytes"]  # same keyframe
    # Keyframe over 60 s: its kbit/s is its bits / 60 000.
    image = rows[("vid2vid-image", "q10")]
    assert image["intra_kbps"] == pytest.approx(image["intra_bytes"] * 8 / 60_000)
    assert document["meta"]["model"]["trained"] is False
    assert "libx264" in document["meta"]["ffmpeg"]["codecs"]["x264"]["encoder"]
    for metrics in document["bd_rate"]["64"].values():
        for entry in metrics.values():
            value = entry["bd_rate_percent"]
            assert (value is not None and math.isfinite(value)) or entry["reason"]

    markdown = (out / "results.md").read_text()
    assert "UNTRAINED" in markdown and "| x264 | crf51 |" in markdown and "BD-rate" in markdown
    assert "| lp_d0 | frozen-keyframe | first frame |" in markdown  # the per-clip table
    # On the wire: vid2vid and x264 rows carry IP-layer rates both ways, above their payload.
    for key, row in rows.items():
        if key[0] in ("vid2vid-image", "x264"):
            assert row["wire_forward_kbps"] > row["frame_kbps"] > 0, key
            assert row["wire_return_kbps"] > 0
            assert row["wire_kbps"] == pytest.approx(
                row["wire_forward_kbps"] + row["wire_return_kbps"]
            )
        else:
            assert "wire_kbps" not in row
    assert rows[("vid2vid-image", "q60")]["wire_kbps"] > rows[("vid2vid-image", "q10")]["wire_kbps"]
    assert "pack 1, lazy SACKs (every 16 / 500 ms)" in document["meta"]["wire"]["vid2vid"]
    assert "## On the wire" in markdown and "of x264 floor's wire" in markdown
    assert document["plots"] == ["rate_quality_64px.png", "wire_quality_64px.png"]
    for name in [*document["plots"], *document["strips"]]:
        image_file = cv2.imread(str(out / name))
        assert image_file is not None and image_file.shape[0] > 100, name
    assert document["strips"] == ["strip_lp_d0_64px.png"]

    # The report re-renders from its JSON alone, to the same Markdown.
    assert report_main([str(out)]) == 0
    assert (out / "results.md").read_text() == markdown


def test_bad_input_is_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["--clips", str(tmp_path / "none.mp4"), "-o", str(tmp_path)]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"vid2vid-bench: error: clip not found: {tmp_path / 'none.mp4'}"
    )
    video = tmp_path / "a.mp4"
    video.write_bytes(b"")
    assert main(["--clips", str(video), "-o", str(tmp_path), "--codecs", "x263"]) == 1
    assert "unknown codec 'x263'; choose from x264, x265, av1" in capsys.readouterr().err


def test_missing_ffmpeg_is_one_line_error(tmp_path: Path, monkeypatch, capsys) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"")
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg on this PATH
    assert main(["--clips", str(video), "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vid2vid-bench: error: ffmpeg/ffprobe not found on PATH; install it "
                   "(Debian: apt-get install ffmpeg)"]  # fmt: skip
