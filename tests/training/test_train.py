"""vid2vid-train and vid2vid-eval end to end: the tiny model on crops of real shared clips (CPU)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from support.interop import DATA, require
from support.prepared import prepared_clips
from vid2vid.codec.checkpoint import load_checkpoint
from vid2vid.training import evaluate, prep, train

TINY = ["--config", "tiny", "--batch", "2", "--workers", "0", "--log-every", "1", "--quiet"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Crops of two real people at 64 px, 16 frames each."""
    return prepared_clips(tmp_path_factory, size=64, frames=16)


def _log(run) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tiny"
    code = train.main(
        ["--data", str(data), "-o", str(run), *TINY, "--steps", "40", "--save-every", "20",
         "--sample-every", "20"]
    )  # fmt: skip
    assert code == 0
    return run


def test_reconstruction_loss_goes_down(trained):
    l1 = [entry["loss/l1"] for entry in _log(trained)]
    assert len(l1) == 40
    first, last = np.mean(l1[:5]), np.mean(l1[-5:])
    assert last < 0.8 * first, (first, last)


def test_run_writes_a_usable_checkpoint_and_samples(trained):
    latest = json.loads((trained / "latest.json").read_text())
    assert latest["step"] == 40
    loaded = load_checkpoint(trained / latest["checkpoint"])
    assert loaded.trained and loaded.config.name == "tiny"
    sample = cv2.imread(str(trained / "samples" / "step-00000040.png"))
    assert sample is not None and sample.shape[1] == 3 * 64 + 2 * 2


def test_resume_continues_exactly(data, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    base = ["--data", str(data), *TINY, "--save-every", "3"]
    assert train.main([*base, "-o", str(straight), "--steps", "6"]) == 0
    assert train.main([*base, "-o", str(resumed), "--steps", "3"]) == 0
    with (resumed / "log.jsonl").open(
        "a"
    ) as log:  # a step logged after the checkpoint, then a crash
        log.write(json.dumps({"step": 4, "loss/generator_total": -1.0}) + "\n")
    resume = ["-o", str(resumed), "--resume", "--steps", "6", "--workers", "0", "--quiet"]
    assert train.main(resume) == 0
    expected, got = _log(straight), _log(resumed)
    assert [e["step"] for e in got] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(expected, got, strict=True):
        assert a["loss/generator_total"] == pytest.approx(b["loss/generator_total"], rel=1e-5)
    final = "checkpoints/step-00000006"
    assert (
        load_checkpoint(straight / final).fingerprint
        == load_checkpoint(resumed / final).fingerprint
    )


def test_fine_tuning_starts_from_the_given_weights(data, trained, tmp_path):
    init = trained / "checkpoints" / "step-00000040"
    run = tmp_path / "finetune"
    base = ["--data", str(data), "--batch", "2", "--workers", "0", "--log-every", "1", "--quiet"]
    assert train.main([*base, "-o", str(run), "--init-weights", str(init), "--steps", "2"]) == 0
    fresh_first = _log(trained)[0]["loss/l1"]
    tuned_first = _log(run)[0]["loss/l1"]  # same seed, so the same first pairs
    assert tuned_first < 0.8 * fresh_first
    assert json.loads((run / "run.json").read_text())["model"]["name"] == "tiny"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--resume"], "nothing to resume"),
        (["--config", "liveportrait"], "trains the face-vid2vid family"),
    ],
)
def test_bad_runs_are_one_line_errors(data, tmp_path, capsys, extra, message):
    args = ["--data", str(data), "-o", str(tmp_path / "run"), *extra]
    assert train.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vid2vid-train: error:") and message in err and "\n" not in err


def test_a_run_folder_is_not_overwritten_and_its_settings_are_fixed(data, trained, capsys):
    assert train.main(["--data", str(data), "-o", str(trained), "--config", "tiny"]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert train.main(["-o", str(trained), "--resume", "--batch", "8"]) == 1
    assert "--batch is fixed by the run" in capsys.readouterr().err


def test_eval_reports_the_papers_metrics_and_writes_samples(data, trained, tmp_path, capsys):
    out = tmp_path / "eval"
    weights = trained / "checkpoints" / "step-00000040"
    args = ["--data", str(data), "--weights", str(weights), "--pairs", "4", "-o", str(out)]
    assert evaluate.main([*args, "--landmarks", "none"]) == 0
    table = capsys.readouterr().out
    assert "| PSNR (dB) |" in table and "24.37" in table
    summary = json.loads((out / "eval.json").read_text())
    metrics = summary["metrics"]
    assert summary["pairs"] == 4 and summary["clips"] == 2
    assert 0.0 < metrics["l1"] < 1.0 and 5.0 < metrics["psnr"] < 60.0
    assert 0.0 < metrics["ssim"] <= 1.0 and 0.0 <= metrics["ms_ssim"] <= 1.0
    assert metrics["akd"] is None
    transfer = cv2.imread(str(out / "cross_identity.png"))
    assert transfer is not None and transfer.shape[0] == 4 * 64 + 3 * 2  # 2 people: 2 row pairs


def test_jacobians_are_trained_with_their_equivariance_term(data, tmp_path):
    run = tmp_path / "jacobians"
    args = ["--data", str(data), "-o", str(run), *TINY, "--steps", "2", "--jacobians"]
    assert train.main(args) == 0
    assert all(entry["loss/jacobian"] >= 0.0 for entry in _log(run))
    loaded = load_checkpoint(run / "checkpoints" / "step-00000002")
    assert loaded.config.arch.estimate_jacobian


def test_head_pose_loss_uses_landmark_references(tmp_path):
    """256 px crops (dlib needs a face of some size) feed the tiny model's pose loss, from
    references computed while training and from references stored by vid2vid-prep."""
    from vid2vid.bench.metrics import dlib_unavailable_reason

    reason = dlib_unavailable_reason()
    if reason:
        pytest.skip(reason)
    clip = require(DATA / "clips" / "lp_d0.mp4")
    data = tmp_path / "data256"
    args = [str(clip), "-o", str(data), "--size", "256", "--min-frames", "4", "--max-frames", "4"]
    assert prep.main([*args, "--quiet"]) == 0
    live = tmp_path / "live"
    base = ["--data", str(data), *TINY, "--steps", "2"]
    assert train.main([*base, "-o", str(live), "--landmarks", "auto"]) == 0
    assert all(entry["loss/head_pose"] > 0.0 for entry in _log(live))

    assert prep.main([*args, "--quiet", "--landmarks", "auto"]) == 0  # adds poses to the clip
    poses = np.load(data / "clips" / "lp_d0-000.poses.npy")
    assert poses.shape == (4, 3, 3) and not np.isnan(poses).any()
    assert np.allclose(poses @ poses.transpose(0, 2, 1), np.eye(3), atol=1e-4)  # rotations
    stored = tmp_path / "stored"
    assert train.main([*base, "-o", str(stored)]) == 0
    assert _log(stored) == [
        {**entry, "time/step_s": b["time/step_s"], "time/it_s": b["time/it_s"]}
        for entry, b in zip(_log(live), _log(stored), strict=True)
    ]  # the same references, so the same losses
