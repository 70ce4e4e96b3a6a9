"""The keypoint math of eq. (1)-(4): rotations, the transform, the free view."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from support.interop import load_fixture
from vid2vid.codec.keypoints import (
    FreeView,
    Motion,
    angles_from_bins,
    angles_from_rotation,
    identity_motion,
    posed_keypoints,
    relative_motion,
    rotation_matrix,
)

CONVENTIONS = ("xyz", "zyx")
angle = st.floats(-80.0, 80.0, allow_nan=False)


def _motion(yaw: float, pitch: float, roll: float, k: int = 5, seed: int = 0) -> Motion:
    g = torch.Generator().manual_seed(seed)
    return Motion(
        yaw=torch.tensor([yaw], dtype=torch.float64),
        pitch=torch.tensor([pitch], dtype=torch.float64),
        roll=torch.tensor([roll], dtype=torch.float64),
        translation=torch.randn(1, 3, generator=g, dtype=torch.float64) * 0.1,
        deformation=torch.randn(1, k, 3, generator=g, dtype=torch.float64) * 0.05,
        scale=torch.tensor([1.3], dtype=torch.float64),
    )


@pytest.mark.parametrize("convention", CONVENTIONS)
@settings(max_examples=60, deadline=None)
@given(yaw=angle, pitch=angle, roll=angle)
def test_rotation_is_orthonormal_and_round_trips(convention, yaw, pitch, roll):
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    r = rotation_matrix(t(yaw), t(pitch), t(roll), convention)
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(r[0] @ r[0].T, eye, atol=1e-12)
    assert torch.linalg.det(r[0]).item() == pytest.approx(1.0, abs=1e-12)
    back = angles_from_rotation(r, convention)
    assert [b.item() for b in back] == pytest.approx([yaw, pitch, roll], abs=1e-8)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_yaw_turns_about_the_vertical_axis(convention):
    r = rotation_matrix(torch.tensor([90.0]), torch.tensor([0.0]), torch.tensor([0.0]), convention)
    up = torch.tensor([0.0, 1.0, 0.0])
    assert torch.allclose(r[0] @ up, up, atol=1e-6)


def test_conventions_match_the_public_families():
    fv2v = load_fixture("face-vid2vid")
    deg = lambda a: torch.from_numpy(np.degrees(a)).double()  # noqa: E731
    r = rotation_matrix(deg(fv2v["yaw_s"]), deg(fv2v["pitch_s"]), deg(fv2v["roll_s"]), "xyz")
    assert np.abs(r.numpy() - fv2v["Rs"]).max() < 1e-6
    lp = load_fixture("liveportrait")
    pitch, yaw, roll = torch.from_numpy(lp["source_angles_deg"]).double().unbind(1)
    r = rotation_matrix(yaw, pitch, roll, "zyx")
    assert np.abs(r.transpose(1, 2).numpy() - lp["source_rotation"]).max() < 1e-6


def test_liveportrait_angles_from_bins_match_the_fixture():
    lp = load_fixture("liveportrait")
    got = [angles_from_bins(torch.from_numpy(lp[f"source_{n}"])) for n in ("pitch", "yaw", "roll")]
    assert np.abs(torch.stack(got, 1).numpy() - lp["source_angles_deg"]).max() < 1e-4


def test_transform_matches_face_vid2vid_fixture():
    f = load_fixture("face-vid2vid")
    motion = Motion(
        yaw=torch.from_numpy(np.degrees(f["yaw_s"])),
        pitch=torch.from_numpy(np.degrees(f["pitch_s"])),
        roll=torch.from_numpy(np.degrees(f["roll_s"])),
        translation=torch.from_numpy(f["t_s"]),
        deformation=torch.from_numpy(f["delta_s"]),
        scale=torch.ones(1),
    )
    kp = posed_keypoints(torch.from_numpy(f["kp_c"]), motion, "xyz")
    assert np.abs(kp.points.numpy() - f["kp_s"]).max() < 1e-5


def test_identity_motion_leaves_canonical_keypoints_in_place():
    canonical = torch.rand(2, 7, 3) * 2 - 1
    for convention in CONVENTIONS:
        kp = posed_keypoints(canonical, identity_motion(2, 7), convention)
        assert torch.allclose(kp.points, canonical)
        assert torch.allclose(kp.rotation, torch.eye(3).expand(2, 3, 3))


@pytest.mark.parametrize("convention", CONVENTIONS)
@settings(max_examples=30, deadline=None)
@given(yaw=angle, pitch=angle, roll=angle, view_yaw=angle)
def test_free_view_composes_rotation_on_the_left(convention, yaw, pitch, roll, view_yaw):
    """R_d <- R_u R_d and t_d <- t_u + t_d: the same as rotating the posed head about the origin."""
    canonical = torch.rand(1, 5, 3, dtype=torch.float64) * 2 - 1
    motion = _motion(yaw, pitch, roll)
    view = FreeView(yaw=view_yaw, translation=(0.1, -0.2, 0.0))
    seen = posed_keypoints(canonical, motion, convention, view=view)
    r_u = rotation_matrix(
        *(torch.tensor([v], dtype=torch.float64) for v in (view_yaw, 0.0, 0.0)), convention
    )
    r_d = rotation_matrix(motion.yaw, motion.pitch, motion.roll, convention)
    assert torch.allclose(seen.rotation, r_u @ r_d, atol=1e-12)
    expected = 1.3 * (
        torch.einsum("ij,kj->ki", (r_u @ r_d)[0], canonical[0]) + motion.deformation[0]
    )
    expected = (
        expected + motion.translation[0] + torch.tensor([0.1, -0.2, 0.0], dtype=torch.float64)
    )
    assert torch.allclose(seen.points[0], expected, atol=1e-12)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_transform_is_equivariant_to_a_shared_rotation(convention):
    """Rotating the canonical keypoints by Q and the head by R Q^-1 gives the same posed points."""
    canonical = torch.rand(1, 6, 3, dtype=torch.float64) * 2 - 1
    motion = _motion(20.0, -10.0, 5.0, k=6)
    q = rotation_matrix(
        *(torch.tensor([v], dtype=torch.float64) for v in (15.0, 25.0, -30.0)), convention
    )
    r = rotation_matrix(motion.yaw, motion.pitch, motion.roll, convention)
    yaw, pitch, roll = angles_from_rotation(r @ q.transpose(1, 2), convention)
    moved = motion._replace(yaw=yaw, pitch=pitch, roll=roll)
    rotated_canonical = torch.einsum("bij,bkj->bki", q, canonical)
    a = posed_keypoints(canonical, motion, convention).points
    b = posed_keypoints(rotated_canonical, moved, convention).points
    assert torch.allclose(a, b, atol=1e-9)


def test_liveportrait_ignores_translation_z():
    canonical = torch.zeros(1, 3, 3)
    motion = identity_motion(1, 3)._replace(translation=torch.tensor([[0.1, 0.2, 5.0]]))
    kp = posed_keypoints(canonical, motion, "zyx", use_translation_z=False)
    assert torch.allclose(kp.points, torch.tensor([0.1, 0.2, 0.0]).expand(1, 3, 3))


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_relative_motion_transfers_only_the_change(convention):
    source, reference = _motion(10.0, 5.0, -3.0, seed=1), _motion(-20.0, 8.0, 4.0, seed=2)
    assert all(
        torch.allclose(a, b, atol=1e-9)
        for a, b in zip(
            relative_motion(source, reference, reference, convention), source, strict=True
        )
    )
    driving = reference._replace(yaw=reference.yaw + 15.0, deformation=reference.deformation + 0.1)
    moved = relative_motion(source, driving, reference, convention)
    assert torch.allclose(moved.deformation, source.deformation + 0.1)
    # The head turned by the same rotation as the driving head did.
    rot = lambda m: rotation_matrix(m.yaw, m.pitch, m.roll, convention)  # noqa: E731
    turn = rot(driving) @ rot(reference).transpose(1, 2)
    assert torch.allclose(rot(moved), turn @ rot(source), atol=1e-9)
