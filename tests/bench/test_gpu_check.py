"""The GPU check's smoke mode: the whole command on the CPU in seconds (CI's cover of it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vid2vid.bench import gpu_check
from vid2vid.errors import Vid2VidError

FAST_TORCH_TESTS = Path(__file__).resolve().parents[1] / "engines" / "test_fast_torch.py"


def test_smoke_mode_times_both_paths_runs_the_gpu_tests_and_writes_json_and_png(tmp_path, capsys):
    out = tmp_path / "check"
    code = gpu_check.main(["-o", str(out), "--smoke", "--tests", str(FAST_TORCH_TESTS)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "smoke mode:" in printed
    assert "streams at 30 fps" in printed
    document = json.loads((out / "gpu_check.json").read_text())
    assert document["mode"] == "smoke"
    tests = document["gpu_tests"]
    assert tests["status"] == "ok"
    assert tests["counts"].get("failed", 0) == 0 and tests["counts"]["deselected"] > 0
    assert (out / "pytest_gpu.txt").stat().st_size > 0
    assert (out / "gpu_check.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = document["rows"]
    cells = {(r["model"], r["engine"], r["stage"], r["batch"]) for r in rows}
    for model in ("default", "paper-512"):
        for engine in ("fast", "eager-fp32"):
            assert (model, engine, "keyframe", 1) in cells
            assert {(model, engine, "decode", b) for b in (1, 2)} <= cells
    for row in rows:
        assert "error" not in row, row
        assert row["ms_per_call"] > 0 and row["repeats"] == 2
        assert row["ms_per_frame"] == pytest.approx(row["ms_per_call"] / row["batch"], abs=1e-3)
    by_model = {r["model"]: r["config"] for r in rows}
    assert by_model == {"default": "lite-tiny", "paper-512": "tiny"}  # the stand-ins
    assert {s["engine"] for s in document["summary"]} == {"fast", "eager-fp32"}


def test_cells_past_the_budget_are_skipped_and_said(tmp_path, capsys):
    code = gpu_check.main(
        ["-o", str(tmp_path), "--smoke", "--no-tests", "--models", "tiny", "--budget", "0"]
    )
    assert code == 1  # an incomplete check is not a pass
    rows = json.loads((tmp_path / "gpu_check.json").read_text())["rows"]
    assert rows and all(r["error"] == "time budget" for r in rows)
    assert "time budget" in capsys.readouterr().out


def test_streams_at_30fps_counts_whole_calls_per_tick():
    assert gpu_check.streams_at_30fps(4.0, 8) == 8 * 8  # 8 calls of 8 streams in 33.3 ms
    assert gpu_check.streams_at_30fps(40.0, 32) == 0  # one call misses the tick
    assert gpu_check.streams_at_30fps(33.0, 1) == 1


def test_a_bad_plan_is_one_clear_error():
    with pytest.raises(Vid2VidError, match="batches must be at least 1, got \\[0\\]"):
        gpu_check.Plan(
            device=gpu_check.torch.device("cpu"),
            smoke=True,
            models=("tiny",),
            batches=(0,),
            repeats=1,
            keyframe_repeats=1,
            budget_s=1.0,
        )
