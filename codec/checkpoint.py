"""vid2vid checkpoints: a folder with ``config.json`` and ``model.safetensors``.

The fingerprint is a hash of the canonical config and every tensor's name, dtype, shape and
bytes; keyframe packets carry it so a receiver can refuse a stream made by another model.
Loading never executes code from a file: weights are safetensors, and foreign ``.pth`` files
are read by the converters with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from vid2vid.codec.config import ModelConfig, config_from_dict, preset
from vid2vid.codec.model import TalkingHeadModel, build_model, seeded_model
from vid2vid.errors import CheckpointError, ConfigError, ModelMismatchError

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT_VERSION = 1
#: Hex digits of the fingerprint; 128 bits is plenty to tell models apart.
FINGERPRINT_HEX = 32


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference, with what the bitstream needs to know about it."""

    model: TalkingHeadModel
    config: ModelConfig
    fingerprint: str
    trained: bool
    source: str


def fingerprint(config: ModelConfig, state: Mapping[str, Tensor]) -> str:
    """Hash of the canonical config JSON and every tensor (name, dtype, shape, bytes)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:FINGERPRINT_HEX]


def check_state_dict(
    expected: Mapping[str, Tensor], given: Mapping[str, Tensor], source: str
) -> None:
    """Every expected key present with its shape, and nothing left over.

    The message names the first offending key, which is what a user needs to see that a file
    belongs to another model or another size.
    """
    for key, value in expected.items():
        if key not in given:
            raise CheckpointError(f"{source}: missing key {key!r}")
        if tuple(given[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{source}: key {key!r} has shape {tuple(given[key].shape)}, "
                f"the model expects {tuple(value.shape)}"
            )
    extra = [key for key in given if key not in expected]
    if extra:
        raise CheckpointError(f"{source}: unexpected key {extra[0]!r} ({len(extra)} unused in all)")


def load_state_dict_strict(
    model: torch.nn.Module, state: Mapping[str, Tensor], source: str
) -> None:
    """Fill every parameter and buffer of ``model`` from ``state``, consuming every key."""
    check_state_dict(model.state_dict(), state, source)
    model.load_state_dict(dict(state), strict=True)


def save_checkpoint(
    path: str | Path,
    config: ModelConfig,
    state: Mapping[str, Tensor],
    *,
    trained: bool,
    note: str = "",
) -> str:
    """Write ``path/config.json`` and ``path/model.safetensors``; returns the fingerprint."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    print_ = fingerprint(config, tensors)
    meta = {"format": str(FORMAT_VERSION), "fingerprint": print_, "trained": str(trained).lower()}
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata=meta)
    document = {
        "format": FORMAT_VERSION,
        "fingerprint": print_,
        "trained": trained,
        "note": note,
        "model": config.to_dict(),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")
    return print_


def read_checkpoint_config(path: str | Path) -> tuple[ModelConfig, dict]:
    """The config and the document of a checkpoint folder, without reading the weights."""
    folder = Path(path)
    config_path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a vid2vid checkpoint folder (no such directory)")
    if not config_path.is_file():
        raise CheckpointError(f"{folder}: not a vid2vid checkpoint folder (no {CONFIG_FILE})")
    try:
        document = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{config_path}: unreadable JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: unsupported checkpoint format {document.get('format') if isinstance(document, dict) else None!r}, "
            f"this vid2vid reads format {FORMAT_VERSION}"
        )
    try:
        config = config_from_dict(document.get("model", {}))
    except ConfigError as exc:
        raise CheckpointError(f"{config_path}: {exc}") from None
    return config, document


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a checkpoint folder strictly: every key consumed, every parameter filled."""
    folder = Path(path)
    config, document = read_checkpoint_config(folder)
    weights_path = folder / WEIGHTS_FILE
    try:
        state = load_file(str(weights_path))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{weights_path}: unreadable safetensors file ({exc})") from None
    model = build_model(config)
    load_state_dict_strict(model, state, str(weights_path))
    actual = fingerprint(config, state)
    recorded = document.get("fingerprint")
    if recorded != actual:
        raise ModelMismatchError(
            f"{folder}: weights do not match the fingerprint in {CONFIG_FILE} "
            f"(recorded {recorded}, computed {actual})"
        )
    model = model.to(device).eval()
    return LoadedModel(model, config, actual, bool(document.get("trained")), str(folder))


def untrained_model(
    config_name: str, *, seed: int = 0, device: str | torch.device = "cpu"
) -> LoadedModel:
    """The preset with seeded random weights: deterministic, but it rebuilds noise, not faces."""
    config = preset(config_name)
    model = seeded_model(config, seed)
    state = model.state_dict()
    source = f"untrained {config_name} (seed {seed})"
    return LoadedModel(model.to(device), config, fingerprint(config, state), False, source)


#: ``--config`` value (and default) meaning the trained model that ships inside the package.
DEFAULT_MODEL = "default"


def default_weights() -> Path:
    """The folder of the shipped trained model (lite family; see its MODEL_CARD.md)."""
    return Path(__file__).parent / "weights" / DEFAULT_MODEL


def load_default(*, device: str | torch.device = "cpu") -> LoadedModel:
    """The shipped trained model; a clear error where an install lost its package data."""
    folder = default_weights()
    if not (folder / WEIGHTS_FILE).is_file():
        raise CheckpointError(
            f"the default model is missing from this install ({folder}); reinstall vid2vid, "
            "or pass --weights or an untrained --config"
        )
    return load_checkpoint(folder, device=device)


def load_weights(
    weights: str | Path | None,
    config_name: str | None,
    *,
    device: str | torch.device = "cpu",
    announce: bool = True,
) -> LoadedModel:
    """What the CLIs call: a checkpoint folder when given, the shipped trained model for
    ``default`` (or None), else the untrained preset ``config_name``.

    Untrained weights are logged as a warning, so nobody mistakes the output for the codec's
    quality; a command that prints its own warning passes ``announce=False``, so the user
    reads it once.
    """
    if weights is not None:
        return load_checkpoint(weights, device=device)
    if config_name in (None, DEFAULT_MODEL):
        return load_default(device=device)
    loaded = untrained_model(config_name, device=device)
    if announce:
        log.warning("running with UNTRAINED weights (%s): output is not a face", loaded.source)
    return loaded
