"""Our checkpoint format: round trip, fingerprint, strict loading with named keys."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from vid2vid.codec.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    fingerprint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    untrained_model,
)
from vid2vid.codec.config import preset
from vid2vid.codec.model import seeded_model
from vid2vid.errors import CheckpointError, ModelMismatchError


@pytest.fixture
def tiny_checkpoint(tmp_path):
    config = preset("tiny")
    model = seeded_model(config, seed=3)
    folder = tmp_path / "ckpt"
    print_ = save_checkpoint(folder, config, model.state_dict(), trained=False)
    return folder, model, print_


def test_round_trip_gives_the_same_outputs_and_fingerprint(tiny_checkpoint):
    folder, model, print_ = tiny_checkpoint
    loaded = load_checkpoint(folder)
    assert loaded.fingerprint == print_ and len(print_) == 32
    assert loaded.config == preset("tiny") and loaded.trained is False
    image = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(loaded.model(image, image), model(image, image))


def test_fingerprint_changes_with_any_weight_or_config():
    config = preset("tiny")
    state = seeded_model(config).state_dict()
    base = fingerprint(config, state)
    assert fingerprint(config, state) == base
    key = next(k for k, v in state.items() if v.is_floating_point())
    bumped = dict(state)
    bumped[key] = state[key].clone()
    bumped[key].view(-1)[0] += 1e-3
    assert fingerprint(config, bumped) != base
    assert fingerprint(config.replace(name="tiny-2"), state) != base


def test_seeded_untrained_models_agree():
    assert untrained_model("tiny").fingerprint == untrained_model("tiny").fingerprint
    assert untrained_model("tiny", seed=1).fingerprint != untrained_model("tiny").fingerprint


def test_missing_key_is_named(tiny_checkpoint):
    folder, _, _ = tiny_checkpoint
    state = load_file(str(folder / WEIGHTS_FILE))
    dropped = sorted(state)[0]
    del state[dropped]
    save_file(state, str(folder / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match=f"missing key '{dropped}'"):
        load_checkpoint(folder)


def test_wrong_shape_and_extra_key_are_named(tiny_checkpoint):
    folder, _, _ = tiny_checkpoint
    state = load_file(str(folder / WEIGHTS_FILE))
    state["generator.extra.weight"] = torch.zeros(2)
    save_file(state, str(folder / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match="unexpected key 'generator.extra.weight'"):
        load_checkpoint(folder)
    del state["generator.extra.weight"]
    key = next(k for k, v in state.items() if v.ndim == 4)
    state[key] = torch.zeros(1, 1, 1, 1)
    save_file(state, str(folder / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match=f"key '{key}' has shape \\(1, 1, 1, 1\\)"):
        load_checkpoint(folder)


def test_weights_of_another_config_are_refused(tiny_checkpoint, tmp_path):
    folder, _, _ = tiny_checkpoint
    document = json.loads((folder / CONFIG_FILE).read_text())
    document["model"]["num_kp"] = 12
    (folder / CONFIG_FILE).write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="has shape"):
        load_checkpoint(folder)


def test_tampered_weights_fail_the_fingerprint(tiny_checkpoint):
    folder, _, print_ = tiny_checkpoint
    state = load_file(str(folder / WEIGHTS_FILE))
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key] + 1
    save_file(state, str(folder / WEIGHTS_FILE))
    with pytest.raises(ModelMismatchError, match=f"recorded {print_}"):
        load_checkpoint(folder)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda f: None, "no such directory"),
        (lambda f: f.mkdir(), "no config.json"),
        (lambda f: (f.mkdir(), (f / CONFIG_FILE).write_text("{not json")), "unreadable JSON"),
        (
            lambda f: (f.mkdir(), (f / CONFIG_FILE).write_text('{"format": 99}')),
            "unsupported checkpoint format 99",
        ),
    ],
)
def test_unreadable_folders_get_one_clear_error(tmp_path, setup, message):
    folder = tmp_path / "bad"
    setup(folder)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(folder)


def test_corrupt_safetensors_is_a_checkpoint_error(tiny_checkpoint):
    folder, _, _ = tiny_checkpoint
    (folder / WEIGHTS_FILE).write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="unreadable safetensors file"):
        load_checkpoint(folder)


def test_load_weights_without_a_path_is_untrained_and_says_so(caplog):
    loaded = load_weights(None, "tiny")
    assert loaded.trained is False
    assert "UNTRAINED" in caplog.text
