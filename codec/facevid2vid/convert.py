"""Convert zhengkw18/face-vid2vid's ``NNNNNNNN-checkpoint.pth.tar`` to our model's state dict.

The container is one ``torch.save`` dict whose entries ``afe``, ``ckd``, ``hpe_ede``, ``mfe``
and ``generator`` are raw state dicts (training files add ``discriminator`` and optimizer
states, which the codec does not need). Our submodules keep the original key paths, so the
conversion is a prefix rename; K is read from the keypoint detector's output conv.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from vid2vid.codec.checkpoint import check_state_dict
from vid2vid.codec.config import ModelConfig, preset
from vid2vid.codec.facevid2vid.model import ORIGINAL_NAMES
from vid2vid.codec.model import build_model
from vid2vid.errors import CheckpointError, ConfigError

#: Holds the keypoint count: ckd's last conv has K output channels.
NUM_KP_KEY = "out_conv.weight"


def _read_container(path: Path) -> Mapping[str, object]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a foreign file can fail the unpickler in any way
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable face-vid2vid checkpoint ({first})") from None
    if not isinstance(data, Mapping):
        raise CheckpointError(
            f"{path}: not a face-vid2vid checkpoint: expected a dict with keys "
            f"{', '.join(ORIGINAL_NAMES.values())}, got {type(data).__name__}"
        )
    missing = [name for name in ORIGINAL_NAMES.values() if not isinstance(data.get(name), Mapping)]
    if missing:
        raise CheckpointError(
            f"{path}: not a face-vid2vid checkpoint: no state dict under {missing[0]!r} "
            f"(expected keys {', '.join(ORIGINAL_NAMES.values())})"
        )
    return data


def _infer_config(ckd: Mapping[str, object], source: str) -> ModelConfig:
    weight = ckd.get(NUM_KP_KEY)
    if not isinstance(weight, Tensor) or weight.ndim != 5:
        raise CheckpointError(
            f"{source}: missing key 'keypoint_detector.{NUM_KP_KEY}' (ckd.{NUM_KP_KEY})"
        )
    base = preset("face-vid2vid")
    try:
        return base.replace(num_kp=int(weight.shape[0]))
    except ConfigError as exc:
        raise CheckpointError(f"{source}: {exc}") from None


def map_state_dict(container: Mapping[str, object]) -> dict[str, Tensor]:
    """The original's per-module state dicts, renamed to our keys (``afe.x`` -> ``appearance.x``)."""
    mapped: dict[str, Tensor] = {}
    for ours, theirs in ORIGINAL_NAMES.items():
        module_state = container[theirs]
        assert isinstance(module_state, Mapping)
        for key, value in module_state.items():
            mapped[f"{ours}.{key}"] = value
    return mapped


def map_discriminator_state(state: Mapping[str, Tensor], scale: int = 0) -> dict[str, Tensor]:
    """zhengkw18's ``discriminator`` state dict as scale ``scale`` of a MultiScaleDiscriminator."""
    return {f"scales.{scale}.{key}": value for key, value in state.items()}


def convert_facevid2vid(path: str | Path) -> tuple[ModelConfig, dict[str, Tensor]]:
    """Read a zhengkw18 checkpoint; return our config (preset ``face-vid2vid``, K from the file)
    and the state dict for :func:`build_model`, checked key by key and shape by shape."""
    path = Path(path)
    container = _read_container(path)
    ckd = container["ckd"]
    assert isinstance(ckd, Mapping)
    config = _infer_config(ckd, str(path))
    mapped = map_state_dict(container)
    for key, value in mapped.items():
        if not isinstance(value, Tensor):
            raise CheckpointError(
                f"{path}: key {key!r} holds a {type(value).__name__}, not a tensor"
            )
    expected = build_model(config).state_dict()
    check_state_dict(expected, mapped, source=str(path))
    return config, mapped
