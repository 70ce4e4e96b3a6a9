"""convert_liveportrait: a broken or incomplete LivePortrait folder gives one clear error."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from vid2vid.codec.liveportrait.convert import convert_liveportrait
from vid2vid.errors import CheckpointError

APPEARANCE = "base_models/appearance_feature_extractor.pth"
STITCHING = "retargeting_models/stitching_retargeting_module.pth"


def _copy(folder: Path, tmp_path: Path, *, replace: str | None = None) -> Path:
    """A copy of ``folder`` made of symlinks, except ``replace``, which is copied for editing."""
    target = tmp_path / "liveportrait"
    for file in folder.rglob("*.pth"):
        relative = file.relative_to(folder)
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        if str(relative) == replace:
            shutil.copyfile(file, target / relative)
        else:
            os.symlink(file, target / relative)
    return target


def _edit(path: Path, change) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    change(state)
    torch.save(state, path)


def test_missing_base_file(liveportrait_folder: Path, tmp_path: Path) -> None:
    folder = _copy(liveportrait_folder, tmp_path)
    (folder / "base_models/warping_module.pth").unlink()
    with pytest.raises(
        CheckpointError, match=r"warping_module\.pth: no such LivePortrait weights file"
    ):
        convert_liveportrait(folder)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such folder"):
        convert_liveportrait(tmp_path / "nowhere")


def test_missing_key(liveportrait_folder: Path, tmp_path: Path) -> None:
    folder = _copy(liveportrait_folder, tmp_path, replace=APPEARANCE)
    _edit(folder / APPEARANCE, lambda s: s.pop("resblocks_3d.3dr5.norm2.running_var"))
    with pytest.raises(CheckpointError) as info:
        convert_liveportrait(folder)
    assert str(info.value) == (
        f"{folder / APPEARANCE}: missing key 'resblocks_3d.3dr5.norm2.running_var'"
    )


def test_wrong_shape(liveportrait_folder: Path, tmp_path: Path) -> None:
    folder = _copy(liveportrait_folder, tmp_path, replace=APPEARANCE)
    _edit(folder / APPEARANCE, lambda s: s.update({"second.bias": torch.zeros(256)}))
    with pytest.raises(CheckpointError) as info:
        convert_liveportrait(folder)
    assert str(info.value) == (
        f"{folder / APPEARANCE}: key 'second.bias' has shape (256,), the model expects (512,)"
    )


def test_extra_key(liveportrait_folder: Path, tmp_path: Path) -> None:
    folder = _copy(liveportrait_folder, tmp_path, replace=APPEARANCE)
    _edit(folder / APPEARANCE, lambda s: s.update({"third.weight": torch.zeros(3)}))
    with pytest.raises(CheckpointError) as info:
        convert_liveportrait(folder)
    assert (
        str(info.value) == f"{folder / APPEARANCE}: unexpected key 'third.weight' (1 unused in all)"
    )


def test_not_a_state_dict(liveportrait_folder: Path, tmp_path: Path) -> None:
    folder = _copy(liveportrait_folder, tmp_path, replace=APPEARANCE)
    torch.save([torch.zeros(1)], folder / APPEARANCE)
    with pytest.raises(CheckpointError) as info:
        convert_liveportrait(folder)
    assert str(info.value) == f"{folder / APPEARANCE}: not a state dict (holds a list)"


def test_not_a_torch_file(liveportrait_folder: Path, tmp_path: Path) -> None:
    folder = _copy(liveportrait_folder, tmp_path, replace=APPEARANCE)
    (folder / APPEARANCE).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"appearance_feature_extractor\.pth: unreadable"):
        convert_liveportrait(folder)


def test_stitching_key_names_the_entry(liveportrait_folder: Path, tmp_path: Path) -> None:
    folder = _copy(liveportrait_folder, tmp_path, replace=STITCHING)
    _edit(folder / STITCHING, lambda s: s["retarget_eye"].pop("module.mlp.10.bias"))
    with pytest.raises(CheckpointError) as info:
        convert_liveportrait(folder)
    assert str(info.value) == f"{folder / STITCHING} [retarget_eye]: missing key 'mlp.10.bias'"


def test_stitching_entry_missing(liveportrait_folder: Path, tmp_path: Path) -> None:
    folder = _copy(liveportrait_folder, tmp_path, replace=STITCHING)
    _edit(folder / STITCHING, lambda s: s.pop("retarget_mouth"))
    with pytest.raises(CheckpointError) as info:
        convert_liveportrait(folder)
    assert str(info.value) == f"{folder / STITCHING}: missing entry 'retarget_mouth'"


def test_base_models_alone_convert_without_stitching(
    liveportrait_folder: Path, tmp_path: Path
) -> None:
    folder = _copy(liveportrait_folder, tmp_path)
    (folder / STITCHING).unlink()
    config, state = convert_liveportrait(folder)
    assert config.arch.stitching is False
    assert not any(k.startswith(("stitching.", "lip.", "eye.")) for k in state)
    assert {k.split(".", 1)[0] for k in state} == {
        "appearance",
        "motion_extractor",
        "warping",
        "generator",
    }


def test_full_folder_keys(liveportrait_folder: Path) -> None:
    config, state = convert_liveportrait(liveportrait_folder.parent)  # pretrained_weights works too
    assert config.arch.stitching is True
    assert state["stitching.mlp.6.bias"].shape == (65,)
    assert state["motion_extractor.detector.downsample_layers.0.0.weight"].shape == (96, 3, 4, 4)
    assert state["generator.G_middle_0.conv_0.weight_orig"].shape == (512, 512, 3, 3)
    assert state["warping.dense_motion_network.norm.num_batches_tracked"].dtype == torch.int64
