"""Convert LivePortrait's released weights into our state dict (a plain prefix rename).

LivePortrait ships ``pretrained_weights/liveportrait/`` with four raw state dicts under
``base_models/`` and, optionally, ``retargeting_models/stitching_retargeting_module.pth``: one
file holding three state dicts (``retarget_shoulder``, ``retarget_mouth``, ``retarget_eye``) whose
keys carry DDP's ``module.`` prefix. Each file is checked against our model on its own, so an
error names the file and the file's own key. Without the retargeting file the model is built
without the stitching MLPs (``arch.stitching = False``): the four base modules are a full codec.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from vid2vid.codec.checkpoint import check_state_dict
from vid2vid.codec.config import ModelConfig, preset
from vid2vid.codec.model import build_model
from vid2vid.errors import CheckpointError

log = logging.getLogger(__name__)

#: Our submodule prefix -> the base file that holds it (relative to the liveportrait folder).
BASE_FILES: dict[str, str] = {
    "appearance": "base_models/appearance_feature_extractor.pth",
    "motion_extractor": "base_models/motion_extractor.pth",
    "warping": "base_models/warping_module.pth",
    "generator": "base_models/spade_generator.pth",
}
STITCHING_FILE = "retargeting_models/stitching_retargeting_module.pth"
#: Our submodule prefix -> the entry of the stitching file that holds it.
STITCHING_ENTRIES: dict[str, str] = {
    "stitching": "retarget_shoulder",
    "lip": "retarget_mouth",
    "eye": "retarget_eye",
}
DDP_PREFIX = "module."


def _read(file: Path) -> Mapping[str, object]:
    """torch.load without code execution; anything but a dict is a clear one-line error."""
    if not file.is_file():
        raise CheckpointError(f"{file}: no such LivePortrait weights file")
    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean "unreadable"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{file}: unreadable PyTorch file ({first_line})") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{file}: not a state dict (holds a {type(obj).__name__})")
    return obj


def _tensors(obj: Mapping[str, object], source: str, strip: str = "") -> dict[str, Tensor]:
    """The entries as float32 tensors (integers kept), with ``strip`` removed from key starts."""
    state: dict[str, Tensor] = {}
    for key, value in obj.items():
        if not isinstance(value, Tensor):
            raise CheckpointError(
                f"{source}: entry {key!r} is not a tensor (a {type(value).__name__}); "
                "expected a raw state dict"
            )
        name = str(key)
        if strip and name.startswith(strip):
            name = name[len(strip) :]
        state[name] = value.float() if value.is_floating_point() else value
    return state


def _expected(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    head = prefix + "."
    return {k[len(head) :]: v for k, v in state.items() if k.startswith(head)}


def _folder(path: str | Path) -> Path:
    """Accept the ``liveportrait`` folder itself or its parent ``pretrained_weights``."""
    folder = Path(path)
    if not (folder / "base_models").is_dir() and (folder / "liveportrait" / "base_models").is_dir():
        folder = folder / "liveportrait"
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder}: no such folder (expected LivePortrait's pretrained_weights/liveportrait)"
        )
    return folder


def convert_liveportrait(path: str | Path) -> tuple[ModelConfig, dict[str, Tensor]]:
    """LivePortrait's weights folder -> our config and state dict, every key checked.

    ``path`` is LivePortrait's ``pretrained_weights/liveportrait`` folder. Raises
    :class:`CheckpointError` naming the file and key for a missing file, a file that is not a
    state dict, a missing or unexpected key, or a wrong shape.
    """
    folder = _folder(path)
    stitching_path = folder / STITCHING_FILE
    config = preset("liveportrait")
    if not stitching_path.exists():
        log.info("%s not found: converting without the stitching MLPs", stitching_path)
        config = config.replace(arch=dataclasses.replace(config.arch, stitching=False))
    with torch.device("meta"):  # shapes only: no memory, no random init of 130M parameters
        expected = build_model(config).state_dict()

    mapped: dict[str, Tensor] = {}
    for prefix, relative in BASE_FILES.items():
        file = folder / relative
        state = _tensors(_read(file), str(file))
        check_state_dict(_expected(expected, prefix), state, source=str(file))
        mapped.update({f"{prefix}.{k}": v for k, v in state.items()})

    if config.arch.stitching:
        container = _read(stitching_path)
        unknown = sorted(set(map(str, container)) - set(STITCHING_ENTRIES.values()))
        if unknown:
            log.warning("%s: ignoring entries %s", stitching_path, ", ".join(unknown))
        for prefix, entry in STITCHING_ENTRIES.items():
            source = f"{stitching_path} [{entry}]"
            if entry not in container:
                raise CheckpointError(f"{stitching_path}: missing entry {entry!r}")
            inner = container[entry]
            if not isinstance(inner, Mapping):
                raise CheckpointError(
                    f"{source}: not a state dict (holds a {type(inner).__name__})"
                )
            state = _tensors(inner, source, strip=DDP_PREFIX)
            check_state_dict(_expected(expected, prefix), state, source=source)
            mapped.update({f"{prefix}.{k}": v for k, v in state.items()})

    check_state_dict(expected, mapped, source=str(folder))
    return config, mapped
