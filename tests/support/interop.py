"""Build public-family checkpoints from ../shared/interop manifests with the deterministic rule.

The rule (../shared/interop/README.md) gives every state-dict entry a value from a generator
seeded by crc32 of its name, so our converter and networks can be checked against the
original implementation's outputs stored in the parity fixtures, without the real weights.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
INTEROP = SHARED / "interop"
DATA = SHARED / "data"


def require(path: Path) -> Path:
    """Skip the calling test with a clear reason when shared material is absent."""
    if not path.exists():
        pytest.skip(f"shared material not found: {path}")
    return path


def load_fixture(family: str) -> dict[str, np.ndarray]:
    with np.load(require(INTEROP / family / "parity_fixture.npz")) as npz:
        return {k: npz[k] for k in npz.files}


def load_manifest(path: Path) -> dict:
    return json.loads(require(path).read_text())


def _entry(name: str, shape: list[int], dtype: str) -> torch.Tensor:
    leaf = name.rsplit(".", 1)[-1]
    if dtype.startswith("int"):
        return torch.zeros(shape, dtype=torch.int64)
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    n = torch.randn(shape, generator=gen, dtype=torch.float64)
    if leaf in ("weight_u", "weight_v"):
        value = n / n.norm()
    elif leaf == "weight_g":
        value = 1 + 0.1 * n
    elif leaf == "running_var":
        value = 1 + 0.1 * n.abs()
    elif leaf == "running_mean":
        value = 0.1 * n
    elif len(shape) >= 2:
        value = n / math.sqrt(math.prod(shape[1:]))
    elif leaf in ("weight", "gamma"):
        value = 1 + 0.1 * n
    else:
        value = 0.01 * n
    return value


def _power_iterate(state: dict[str, torch.Tensor]) -> None:
    for key in [k for k in state if k.endswith("weight_orig")]:
        base = key[: -len("weight_orig")]
        w = state[key].reshape(state[key].shape[0], -1)
        u, v = state[base + "weight_u"], state[base + "weight_v"]
        for _ in range(30):
            v = torch.nn.functional.normalize(w.t() @ u, dim=0)
            u = torch.nn.functional.normalize(w @ v, dim=0)
        state[base + "weight_u"], state[base + "weight_v"] = u, v


def rule_state_dict(module: str, entries: list[list]) -> dict[str, torch.Tensor]:
    """The deterministic state dict of one module: ``entries`` are the manifest's [key, shape, dtype]."""
    state = {key: _entry(f"{module}.{key}", shape, dtype) for key, shape, dtype in entries}
    _power_iterate(state)
    return {
        key: value if value.dtype == torch.int64 else value.to(torch.float32)
        for key, value in state.items()
    }


def relative_error(ours: torch.Tensor | np.ndarray, reference: np.ndarray) -> float:
    """max |a - b| / max |b|: the 1e-4 criterion of the interop README."""
    a = ours.detach().cpu().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
    b = np.asarray(reference)
    assert a.shape == b.shape, f"shape {a.shape} != reference {b.shape}"
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))
