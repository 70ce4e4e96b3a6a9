"""Parity with zhengkw18/face-vid2vid: convert a rule-weighted checkpoint, compare with its outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from support.interop import load_fixture, relative_error
from vid2vid.codec.checkpoint import load_state_dict_strict
from vid2vid.codec.facevid2vid.convert import convert_facevid2vid
from vid2vid.codec.keypoints import Keypoints, Motion, posed_keypoints
from vid2vid.codec.model import build_model

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def results(original_checkpoint: Path) -> dict[str, tuple[torch.Tensor, np.ndarray]]:
    """Our tensors next to the fixture's arrays, by fixture name."""
    fixture = load_fixture("face-vid2vid")
    config, state = convert_facevid2vid(original_checkpoint)
    model = build_model(config)
    load_state_dict_strict(model, state, str(original_checkpoint))
    model.eval()
    source = torch.from_numpy(fixture["source"])
    driving = torch.from_numpy(fixture["driving"])
    with torch.inference_mode():
        fs = model.extract_appearance(source)
        kp_c = model.extract_canonical(source)
        motion_s = model.extract_motion(source)
        motion_d = model.extract_motion(driving)
        kp_s = model.pose(kp_c, motion_s)
        kp_d = model.pose(kp_c, motion_d)
        decoded = model.decode_with_intermediates(fs, kp_s, kp_d)
        # M and G again on the fixture's own keypoints: isolates them from L and H.
        isolated = model.decode_with_intermediates(
            torch.from_numpy(fixture["fs"]),
            Keypoints(torch.from_numpy(fixture["kp_s"]), torch.from_numpy(fixture["Rs"])),
            Keypoints(torch.from_numpy(fixture["kp_d"]), torch.from_numpy(fixture["Rd"])),
        )
    ours: dict[str, torch.Tensor] = {
        "fs": fs,
        "kp_c": kp_c,
        "yaw_s": motion_s.yaw,
        "pitch_s": motion_s.pitch,
        "roll_s": motion_s.roll,
        "t_s": motion_s.translation,
        "delta_s": motion_s.deformation,
        "kp_s": kp_s.points,
        "Rs": kp_s.rotation,
        "yaw_d": motion_d.yaw,
        "pitch_d": motion_d.pitch,
        "roll_d": motion_d.roll,
        "t_d": motion_d.translation,
        "delta_d": motion_d.deformation,
        "kp_d": kp_d.points,
        "Rd": kp_d.rotation,
        "deformation": decoded.deformation,
        "occlusion": decoded.occlusion,
        "output": decoded.image,
    }
    angles = {"yaw_s", "pitch_s", "roll_s", "yaw_d", "pitch_d", "roll_d"}
    pairs = {
        name: (value, np.degrees(fixture[name]) if name in angles else fixture[name])
        for name, value in ours.items()
    }
    for name in ("deformation", "occlusion"):
        pairs[f"isolated_{name}"] = (getattr(isolated, name), fixture[name])
    pairs["isolated_output"] = (isolated.image, fixture["output"])
    return pairs


NAMES = [
    "fs", "kp_c", "yaw_s", "pitch_s", "roll_s", "t_s", "delta_s", "kp_s", "Rs",
    "yaw_d", "pitch_d", "roll_d", "t_d", "delta_d", "kp_d", "Rd",
    "deformation", "occlusion", "output",
    "isolated_deformation", "isolated_occlusion", "isolated_output",
]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_matches_original(results: dict[str, tuple[torch.Tensor, np.ndarray]], name: str) -> None:
    ours, reference = results[name]
    error = relative_error(ours, reference)
    print(f"{name}: relative error {error:.3e}")
    assert error <= TOLERANCE, f"{name}: relative error {error:.3e} > {TOLERANCE}"


def test_posed_keypoints_match_fixture_transform() -> None:
    """Our eq. (1)-(4) on the fixture's own pose gives the fixture's keypoints (no networks)."""
    fixture = load_fixture("face-vid2vid")
    motion = Motion(
        yaw=torch.from_numpy(np.degrees(fixture["yaw_d"])),
        pitch=torch.from_numpy(np.degrees(fixture["pitch_d"])),
        roll=torch.from_numpy(np.degrees(fixture["roll_d"])),
        translation=torch.from_numpy(fixture["t_d"]),
        deformation=torch.from_numpy(fixture["delta_d"]),
        scale=torch.ones(1),
    )
    kp = posed_keypoints(torch.from_numpy(fixture["kp_c"]), motion, "xyz")
    assert relative_error(kp.points, fixture["kp_d"]) <= 1e-5
    assert relative_error(kp.rotation, fixture["Rd"]) <= 1e-5
