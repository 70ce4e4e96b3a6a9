"""vid2vid-train-lite end to end on real crops: landmarks, steps, held-out scores, resume."""

from __future__ import annotations

import json

import pytest

from support.prepared import prepared_clips
from vid2vid.codec.checkpoint import load_checkpoint
from vid2vid.training.lite import train
from vid2vid.training.lite.data import landmarks_path
from vid2vid.training.shards import read_index


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Crops of two real people at 64 px, 24 frames each; lp_d18 is the held-out one."""
    return prepared_clips(tmp_path_factory, size=64, frames=24)


def _run(data, run, *extra: str) -> int:
    return train.main(
        ["--data", str(data), "-o", str(run), "--config", "lite-tiny", "--holdout", "lp_d18",
         "--batch", "2", "--save-minutes", "0", "--eval-minutes", "1000", *extra]
    )  # fmt: skip


def test_trains_scores_held_out_people_and_resumes(data, tmp_path) -> None:
    run = tmp_path / "run"
    assert _run(data, run, "--steps", "6") == 0
    index = read_index(data)
    assert all(landmarks_path(data, c).is_file() for c in index.clips)
    curve = json.loads((run / "curve.json").read_text())
    assert [row["step"] for row in curve] == [6]
    (score,) = curve[0]["scores"]
    assert score["identity"] == "lp_d18"  # only the held-out person is scored
    assert 0 < score["psnr"] < 60 and 0 < score["frozen_psnr"] < 60
    assert (run / "curve.png").stat().st_size > 1000
    best = load_checkpoint(run / "best")
    assert best.trained and best.config.name == "lite-tiny"
    losses = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert all(row["loss"] > 0 for row in losses)

    assert _run(data, run, "--steps", "9") == 0  # resumes at step 6, not from scratch
    assert [row["step"] for row in json.loads((run / "curve.json").read_text())] == [6, 9]


def test_loss_weights_are_run_settings_and_their_changes_are_recorded(data, tmp_path) -> None:
    run = tmp_path / "run"
    assert _run(data, run, "--steps", "2", "--squared-weight", "10") == 0
    settings = json.loads((run / "run.json").read_text())
    assert settings["squared_weight"] == 10.0 and settings["expression_weight"] == 2.0
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert all(row["squared"] > 0 for row in logged)  # the squared term is in the loss
    assert _run(data, run, "--steps", "3", "--expression-weight", "0.5") == 0
    settings = json.loads((run / "run.json").read_text())
    assert settings["expression_weight"] == 0.5
    (change,) = settings["changes"]
    assert change == {"key": "expression_weight", "value": "0.5", "was": "2.0", "from_step": 2}


def test_unknown_held_out_person_is_a_clear_error(data, tmp_path, capsys) -> None:
    code = train.main(
        ["--data", str(data), "-o", str(tmp_path / "r"), "--config", "lite-tiny",
         "--holdout", "nobody", "--steps", "1"]
    )  # fmt: skip
    assert code == 1
    assert "held-out identities not in" in capsys.readouterr().err


def test_only_lite_configs_train_here(data, tmp_path, capsys) -> None:
    code = train.main(
        ["--data", str(data), "-o", str(tmp_path / "r"), "--config", "tiny", "--steps", "1"]
    )
    assert code == 1
    assert "lite family" in capsys.readouterr().err


def test_gpu_recipe_continues_a_run_from_a_packed_copy_of_its_data(data, tmp_path) -> None:
    """The prepared GPU continuation, run here on the CPU: a packed (thinned) copy of the data,
    a copy of the run, a time budget; the continued run resumes where the first one stopped."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from vid2vid.training.lite import pack

    run = tmp_path / "run"
    assert _run(data, run, "--steps", "4") == 0
    packed = tmp_path / "packed"
    assert pack.main([str(data), str(packed), "--max-mb", "0.05"]) == 0
    assert read_index(packed).settings["packed_stride"] > 1
    out = tmp_path / "continued"
    script = Path(__file__).parents[3] / "training" / "recipes" / "lite-gpu.sh"
    env = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "BATCH": "2"}
    subprocess.run(
        ["bash", str(script), str(run), str(packed), str(out), "0.02"], env=env, check=True
    )
    steps = [row["step"] for row in json.loads((out / "curve.json").read_text())]
    assert steps[0] == 4 and steps[-1] > 4
    assert load_checkpoint(out / "latest").trained
    assert json.loads((out / "run.json").read_text())["changes"]  # data and batch changed


def test_a_hires_dataset_trains_the_same_decoder_on_larger_targets(data, tmp_path_factory) -> None:
    """Every --hires-every-th step is a half batch of larger crops (the same people, held-out
    ones still out): the networks run at fixed sizes, only the warp and the loss see 2x."""
    hires = prepared_clips(tmp_path_factory, size=128, frames=16)
    run = tmp_path_factory.mktemp("runs") / "hi"
    assert _run(data, run, "--steps", "4", "--hires-data", str(hires), "--hires-every", "2") == 0
    settings = json.loads((run / "run.json").read_text())
    assert settings["hires_data"] == str(hires)
    assert load_checkpoint(run / "latest").trained
