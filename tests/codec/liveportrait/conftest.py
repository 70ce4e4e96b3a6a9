"""LivePortrait's weights folder, written from the interop manifests with the deterministic rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from support.interop import INTEROP, load_manifest, rule_state_dict

MANIFESTS = INTEROP / "liveportrait"
BASE_MODULES = (
    "appearance_feature_extractor",
    "motion_extractor",
    "warping_module",
    "spade_generator",
)
#: Our name in the manifest -> the entry of the original stitching file.
STITCHING_ENTRIES = {
    "stitching": "retarget_shoulder",
    "lip": "retarget_mouth",
    "eye": "retarget_eye",
}


def write_liveportrait_folder(folder: Path) -> Path:
    """Write ``base_models/*.pth`` and the retargeting file in LivePortrait's own layout."""
    for module in BASE_MODULES:
        manifest = load_manifest(MANIFESTS / f"{module}.json")
        state = rule_state_dict(module, manifest["state_dict"])
        target = folder / manifest["checkpoint_file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, target)
    manifest = load_manifest(MANIFESTS / "stitching_retargeting_module.json")
    container = {}
    for name, entry in STITCHING_ENTRIES.items():
        inner = rule_state_dict(
            f"stitching_retargeting_module.{entry}", manifest[name]["state_dict"]
        )
        container[entry] = {f"module.{k}": v for k, v in inner.items()}
    target = folder / manifest["stitching"]["checkpoint_file"]
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(container, target)
    return folder


@pytest.fixture(scope="session")
def liveportrait_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete ``pretrained_weights/liveportrait`` folder with the rule's weights."""
    return write_liveportrait_folder(tmp_path_factory.mktemp("pretrained_weights") / "liveportrait")
