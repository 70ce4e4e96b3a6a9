"""Shared fixtures of the face-vid2vid tests: the original checkpoint rebuilt from the manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from support.interop import INTEROP, load_manifest, rule_state_dict

MANIFEST = INTEROP / "face-vid2vid" / "manifest.json"
MODULES = ("afe", "ckd", "hpe_ede", "mfe", "generator")


def original_container(with_discriminator: bool = False) -> dict[str, dict[str, torch.Tensor]]:
    """zhengkw18's checkpoint dict with every entry set by the deterministic weight rule."""
    modules = load_manifest(MANIFEST)["modules"]
    names = (*MODULES, "discriminator") if with_discriminator else MODULES
    return {name: rule_state_dict(name, modules[name]["state_dict"]) for name in names}


@pytest.fixture(scope="session")
def original_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The container saved as the original trainer does (one torch.save dict)."""
    path = tmp_path_factory.mktemp("fv2v") / "00000099-checkpoint.pth.tar"
    torch.save(original_container(), path)
    return path
