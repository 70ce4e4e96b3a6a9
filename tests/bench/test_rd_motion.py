"""A short rate-distortion sweep: two qualities, eight frames; the benchmark runs the full one."""

from __future__ import annotations

import json
from pathlib import Path

from support.interop import DATA, require
from vid2vid.bench.rd_motion import main, sweep, synthetic_sources
from vid2vid.bench.synthetic_motion import talking_head

FINE, COARSE = 80, 5


def _assert_coarser_costs_less_and_errs_more(results: list[dict]) -> None:
    fine, coarse = sorted(results, key=lambda r: -r["quality"])
    assert (fine["quality"], coarse["quality"]) == (FINE, COARSE)
    assert coarse["motion_kbps"] < fine["motion_kbps"]
    assert coarse["total_kbps"] < fine["total_kbps"]
    for group, error in fine["rmse"].items():
        assert coarse["rmse"][group] > error, group


def test_synthetic_rate_falls_and_error_rises_with_quality() -> None:
    sources = synthetic_sources(talking_head, frames=8, key_image=None)
    results = sweep(sources, [COARSE, FINE], repeats=1)
    assert [r.name for r in results] == ["synthetic K=15", "synthetic K=21+s"]
    for source in results:
        assert source.frames == 8
        rows = [
            {"quality": r.quality, "motion_kbps": r.motion_kbps, "total_kbps": r.total_kbps,
             "rmse": r.rmse}
            for r in source.results
        ]  # fmt: skip
        _assert_coarser_costs_less_and_errs_more(rows)
        assert all(r.psnr_loss_db is None for r in source.results)  # rate only
    assert "scale" in results[1].results[0].rmse


def test_real_clip_writes_json_and_png(tmp_path: Path, capsys) -> None:
    clip = require(DATA / "clips" / "lp_d0.mp4")
    report, figure = tmp_path / "rd.json", tmp_path / "rd.png"
    code = main(
        [
            "--clips", str(clip), "--config", "tiny", "--frames", "8",
            "--qualities", f"{COARSE},{FINE}", "--repeats", "1",
            "--json", str(report), "--png", str(figure),
        ]
    )  # fmt: skip
    assert code == 0
    document = json.loads(report.read_text())
    for key in ("machine", "torch", "config", "weights_trained", "clips", "clip_mean",
                "synthetic", "operating_point", "qualities", "targets"):  # fmt: skip
        assert key in document, key
    assert document["config"] == "tiny" and document["weights_trained"] is False
    assert [c["name"] for c in document["clips"]] == ["lp_d0.mp4"]
    assert document["clips"][0]["keyframe_bytes"] > 0
    mean = document["clip_mean"]
    _assert_coarser_costs_less_and_errs_more(mean)
    fine, coarse = sorted(mean, key=lambda r: -r["quality"])
    assert coarse["psnr_vs_unquantized_db"] < fine["psnr_vs_unquantized_db"]
    assert all(r["psnr_loss_db"] is not None for r in mean)
    # The keyframe is amortized into the all-in rate.
    assert fine["total_kbps"] > fine["motion_kbps"]
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr()
    assert "operating point" in out.out and "UNTRAINED" in out.out
