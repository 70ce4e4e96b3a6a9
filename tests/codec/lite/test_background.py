"""Background points: where the keyframe's border went, measured by the sender, moved by M."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vid2vid.codec.config import config_from_dict, preset
from vid2vid.codec.keypoints import FreeView, identity_motion
from vid2vid.codec.lite.background import (
    DISPLACEMENT_UNIT,
    FLOW_SIDE,
    PointTracker,
    ring_count,
    ring_points,
)
from vid2vid.codec.model import seeded_model
from vid2vid.errors import ConfigError

cv2 = pytest.importorskip("cv2")


def _texture(side: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (uint8 greyscale) that optical flow can lock on to."""
    noise = np.random.default_rng(seed).random((side, side)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), side / 64)
    blurred = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    return (blurred * 255).astype(np.uint8)


def test_ring_is_the_grid_border_outside_the_centre() -> None:
    for grid in (2, 3, 4, 6):
        points = ring_points(grid)
        assert len(points) == ring_count(grid) == 4 * (grid - 1)
        assert len({tuple(p) for p in points.tolist()}) == len(points)
        edge = 1 - 1 / grid
        assert np.all(np.isclose(np.abs(points).max(axis=1), edge))
    assert ring_count(0) == 0 and ring_points(0).shape == (0, 2)


def test_tracker_measures_a_shift_of_the_whole_picture() -> None:
    side, shift = 256, 12  # px at 256: 0.09375 in normalized units
    big = _texture(side + 2 * shift)
    reference = big[shift:-shift, shift:-shift]
    moved = big[shift:-shift, : -2 * shift]  # content moved right by `shift`
    deformation = PointTracker(4)(reference, moved)
    expected = shift * 2 / side / DISPLACEMENT_UNIT
    assert deformation.shape == (12, 3)
    assert np.allclose(deformation[:, 0], expected, atol=1.5 * 2 / FLOW_SIDE / DISPLACEMENT_UNIT)
    assert np.abs(deformation[:, 1]).max() < 0.01 and not deformation[:, 2].any()
    assert np.abs(PointTracker(4)(reference, reference)).max() < 1e-3


def test_tracker_rejects_images_of_different_sizes() -> None:
    with pytest.raises(ValueError, match="must match"):
        PointTracker(3)(_texture(64), _texture(96))


def test_motion_without_a_reference_leaves_the_background_still() -> None:
    """A keyframe's own motion (no reference) is zero at the background points; a frame whose
    content moved against the keyframe moves them by the measured shift."""
    model = seeded_model(preset("lite-tiny-bg"))
    assert model.config.num_kp == 28 and model.background_kp == 8
    big = _texture(72)
    key = torch.from_numpy(big[4:-4, 4:-4]).float().div(255).expand(1, 3, 64, 64)
    frame = torch.from_numpy(big[4:-4, :-8]).float().div(255).expand(1, 3, 64, 64)
    still = model.extract_motion(frame)
    moved = model.extract_motion(frame, reference=key)
    assert still.deformation.shape == (1, 28, 3)
    assert not still.deformation[0, 20:].any()
    assert torch.equal(still.deformation[0, :20], moved.deformation[0, :20])
    shift = moved.deformation[0, 20:, 0] * DISPLACEMENT_UNIT * 32  # back to 64 px pixels
    assert torch.allclose(shift, torch.full_like(shift, 4.0), atol=1.0)


def test_background_points_ignore_head_pose_and_free_view() -> None:
    model = seeded_model(preset("lite-tiny-bg"))
    canonical = model.canonical[None]
    motion = identity_motion(1, 28)
    deformation = motion.deformation.clone()
    deformation[0, 20:, :2] = 0.05
    turned = motion._replace(yaw=motion.yaw + 30, scale=motion.scale * 0.7, deformation=deformation)
    posed = model.pose(canonical, turned, FreeView(yaw=20.0, translation=(0.1, 0.0, 0.0)))
    expected = canonical[0, 20:] + DISPLACEMENT_UNIT * deformation[0, 20:]
    assert torch.allclose(posed.points[0, 20:], expected)
    face = model.pose(canonical, turned)
    assert not torch.allclose(posed.points[0, :20], face.points[0, :20])


def test_a_lite_config_must_count_its_background_points() -> None:
    data = preset("lite-tiny-bg").to_dict()
    data["num_kp"] = 20
    with pytest.raises(ConfigError, match="28 keypoints"):
        config_from_dict(data)


def test_configs_without_background_keep_their_old_form() -> None:
    """Checkpoints shipped before background points have no such key: their config, and so their
    fingerprint, must not change."""
    assert "background_grid" not in preset("lite-256").to_dict()["arch"]
    assert preset("lite-256bg").to_dict()["arch"]["background_grid"] == 4
    assert config_from_dict(preset("lite-256bg").to_dict()) == preset("lite-256bg")
