"""The converter refuses files that do not fit, naming the first offending key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from vid2vid.codec.config import preset
from vid2vid.codec.facevid2vid.convert import convert_facevid2vid
from vid2vid.codec.facevid2vid.model import ORIGINAL_NAMES
from vid2vid.codec.model import build_model
from vid2vid.errors import CheckpointError

Container = dict[str, dict[str, torch.Tensor]]


def _container(num_kp: int) -> Container:
    """An original-layout container built from our own (untrained) model of that K."""
    model = build_model(preset("face-vid2vid").replace(num_kp=num_kp))
    return {
        theirs: {k: v.clone() for k, v in getattr(model, ours).state_dict().items()}
        for ours, theirs in ORIGINAL_NAMES.items()
    }


@pytest.fixture(scope="module")
def container() -> Container:
    return _container(15)


def _save(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "00000001-checkpoint.pth.tar"
    torch.save(data, path)
    return path


def _edited(container: Container, edit: Callable[[Container], None]) -> Container:
    copy = {name: dict(state) for name, state in container.items()}
    edit(copy)
    return copy


def test_valid_file_with_training_extras_converts(tmp_path: Path, container: Container) -> None:
    data = dict(container)
    data["discriminator"] = {"layers.0.layers.0.bias": torch.zeros(64)}
    data["optimizer_g"] = {"state": {}, "param_groups": []}
    data["epoch"] = 99  # type: ignore[assignment]
    config, state = convert_facevid2vid(_save(tmp_path, data))
    assert config.num_kp == 15 and config.family == "face-vid2vid"
    assert state["generator.out_conv.weight"].shape == (3, 64, 7, 7)
    assert not any(key.startswith("discriminator") for key in state)


def test_num_kp_is_read_from_the_file(tmp_path: Path) -> None:
    config, state = convert_facevid2vid(_save(tmp_path, _container(20)))
    assert config.num_kp == 20
    assert state["head_pose.fc_delta.weight"].shape == (60, 2048)


def test_missing_key(tmp_path: Path, container: Container) -> None:
    data = _edited(container, lambda c: c["generator"].pop("res.3.layers.1.layers.2.weight_u"))
    with pytest.raises(
        CheckpointError, match="missing key 'generator.res.3.layers.1.layers.2.weight_u'"
    ):
        convert_facevid2vid(_save(tmp_path, data))


def test_missing_keypoint_count_key(tmp_path: Path, container: Container) -> None:
    data = _edited(container, lambda c: c["ckd"].pop("out_conv.weight"))
    with pytest.raises(CheckpointError, match="missing key 'keypoint_detector.out_conv.weight'"):
        convert_facevid2vid(_save(tmp_path, data))


def test_wrong_shape(tmp_path: Path, container: Container) -> None:
    def edit(c: Container) -> None:
        c["mfe"]["occlusion_conv.weight"] = torch.zeros(1, 1792, 5, 5)

    with pytest.raises(CheckpointError) as info:
        convert_facevid2vid(_save(tmp_path, _edited(container, edit)))
    assert "key 'motion_field.occlusion_conv.weight' has shape (1, 1792, 5, 5)" in str(info.value)
    assert "expects (1, 1792, 7, 7)" in str(info.value)


def test_extra_key(tmp_path: Path, container: Container) -> None:
    def edit(c: Container) -> None:
        c["afe"]["res.6.layers.0.layers.2.weight"] = torch.zeros(32, 32, 3, 3, 3)

    with pytest.raises(
        CheckpointError, match="unexpected key 'appearance.res.6.layers.0.layers.2.weight'"
    ):
        convert_facevid2vid(_save(tmp_path, _edited(container, edit)))


def test_not_a_dict(tmp_path: Path) -> None:
    path = _save(tmp_path, [torch.zeros(3)])
    with pytest.raises(
        CheckpointError, match="not a face-vid2vid checkpoint: expected a dict"
    ) as info:
        convert_facevid2vid(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_dict_without_modules(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no state dict under 'afe'"):
        convert_facevid2vid(_save(tmp_path, {"state_dict": {"w": torch.zeros(1)}}))


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pth.tar"
    path.write_bytes(b"this is not a torch file")
    with pytest.raises(CheckpointError, match="not a readable face-vid2vid checkpoint") as info:
        convert_facevid2vid(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a readable face-vid2vid checkpoint"):
        convert_facevid2vid(tmp_path / "absent.pth.tar")
