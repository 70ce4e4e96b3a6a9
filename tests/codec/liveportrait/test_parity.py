"""Converted LivePortrait weights compute what LivePortrait computes (interop parity fixture).

The original files are rebuilt from the manifests with the deterministic weight rule, converted
with :func:`convert_liveportrait`, and every stage is compared with the original implementation's
outputs stored in ``parity_fixture.npz`` (relative error ≤ 1e-4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from support.interop import load_fixture, relative_error
from vid2vid.codec.checkpoint import load_state_dict_strict
from vid2vid.codec.liveportrait.convert import convert_liveportrait
from vid2vid.codec.liveportrait.model import LivePortraitModel
from vid2vid.codec.model import build_model

TOLERANCE = 1e-4
HEADS = ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")
COMPARED = (
    "feature_3d",
    *(f"{image}_{head}" for image in ("source", "driving") for head in HEADS),
    "source_angles_deg",
    "driving_angles_deg",
    "source_rotation",
    "driving_rotation",
    "kp_source",
    "kp_driving",
    "warp_occlusion_map",
    "warp_deformation",
    "warp_out",
    "output",
    "output_logits",
    "stitching_output",
)


@pytest.fixture(scope="module")
def fixture() -> dict[str, np.ndarray]:
    return load_fixture("liveportrait")


@pytest.fixture(scope="module")
def converted(liveportrait_folder: Path, fixture: dict) -> LivePortraitModel:
    config, state = convert_liveportrait(liveportrait_folder)
    model = build_model(config)
    assert isinstance(model, LivePortraitModel)
    load_state_dict_strict(model, state, str(liveportrait_folder))
    return model.eval()


@pytest.fixture(scope="module")
def ours(converted: LivePortraitModel, fixture: dict) -> dict[str, torch.Tensor]:
    """Every compared array, computed once through the public methods."""
    model = converted
    result: dict[str, torch.Tensor] = {}
    points = {}
    with torch.inference_mode():
        source = torch.from_numpy(fixture["source"])
        result["feature_3d"] = model.extract_appearance(source)
        for image in ("source", "driving"):
            heads = model.heads(torch.from_numpy(fixture[image]))
            result.update({f"{image}_{head}": getattr(heads, head) for head in HEADS})
            motion = model.motion_from_heads(heads)
            angles = torch.stack([motion.pitch, motion.yaw, motion.roll], dim=1)  # B x 3
            result[f"{image}_angles_deg"] = angles
            posed = model.pose(model.canonical_from_heads(heads), motion)
            result[f"{image}_rotation"] = posed.rotation.transpose(1, 2)  # LivePortrait's Rᵀ
            result[f"kp_{image}"] = posed.points
            points[image] = posed
        out = model.decode_with_intermediates(
            result["feature_3d"], points["source"], points["driving"]
        )
        result["warp_occlusion_map"] = out.occlusion
        result["warp_deformation"] = out.deformation
        result["warp_out"] = out.warped
        result["output"] = out.image
        result["output_logits"] = out.logits
        assert model.stitching is not None
        result["stitching_output"] = model.stitching(torch.from_numpy(fixture["stitching_input"]))
    return result


@pytest.mark.slow
@pytest.mark.parametrize("name", COMPARED)
def test_matches_liveportrait(name: str, ours: dict, fixture: dict) -> None:
    error = relative_error(ours[name], fixture[name])
    assert error <= TOLERANCE, f"{name}: relative error {error:.3g} > {TOLERANCE}"


@pytest.mark.slow
def test_decode_is_the_sigmoid_image(
    converted: LivePortraitModel, ours: dict, fixture: dict
) -> None:
    """decode() returns the same image as decode_with_intermediates, and the keyframe path agrees."""
    with torch.inference_mode():
        keyframe = converted.encode_keyframe(torch.from_numpy(fixture["source"]))
    torch.testing.assert_close(keyframe.volume, ours["feature_3d"], rtol=0, atol=0)
    torch.testing.assert_close(keyframe.canonical.reshape(1, -1), ours["source_kp"], rtol=0, atol=0)
    torch.testing.assert_close(keyframe.motion.scale, ours["source_scale"][:, 0], rtol=0, atol=0)
    torch.testing.assert_close(torch.sigmoid(ours["output_logits"]), ours["output"])
