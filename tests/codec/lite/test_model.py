"""The lite decoder: the keyframe's own pixels, moved by a flow that respects the keypoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vid2vid.codec.config import preset, volume_shape
from vid2vid.codec.keypoints import Keypoints, identity_motion
from vid2vid.codec.lite.networks import base_grid, hypotheses, upsample_flow
from vid2vid.codec.model import python_stages, seeded_model


def _keypoints(model, batch: int = 2, yaw: float = 0.0) -> Keypoints:
    motion = identity_motion(batch, model.config.num_kp)
    motion = motion._replace(scale=torch.full((batch,), 0.8), yaw=motion.yaw + yaw)
    return model.pose(model.canonical[None].expand(batch, -1, -1), motion)


def test_same_pose_means_identity_flow_and_the_keyframe_comes_back() -> None:
    """Whatever M's (here untrained) mask says, every hypothesis is the identity when source and
    driving keypoints coincide, so the warped keyframe is the keyframe, pixel for pixel."""
    model = seeded_model(preset("lite-256"))
    image = torch.rand(2, 3, 256, 256)
    kp = _keypoints(model)
    with torch.no_grad():
        grid = base_grid(64, image)
        affine = torch.eye(2).expand(2, model.config.num_kp, 2, 2)
        grids = hypotheses(grid, kp.points[..., :2], kp.points[..., :2], affine)
        assert torch.allclose(grids, grid.expand_as(grids), atol=1e-6)
        flow, _ = model.motion(
            F.avg_pool2d(image, 4), kp.points[..., :2], kp.points[..., :2], affine
        )
        warped = F.grid_sample(image, upsample_flow(flow, 256), align_corners=False)
    assert torch.allclose(warped, image, atol=1e-4)


def test_decode_shapes_and_range_at_any_output_size() -> None:
    model = seeded_model(preset("lite-256").replace(input_size=512, output_size=512))
    image = torch.rand(1, 3, 512, 512)
    volume = model.extract_appearance(image)
    assert tuple(volume.shape[1:]) == volume_shape(model.config) == (3, 1, 512, 512)
    with torch.no_grad():
        frame = model.decode(volume, _keypoints(model, 1), _keypoints(model, 1, yaw=15.0))
    assert frame.shape == (1, 3, 512, 512)
    assert torch.isfinite(frame).all()


def test_keyframe_side_has_no_weights() -> None:
    """F is the image and L the generic face: the engines run them (and dlib) in Python."""
    config = preset("lite-256")
    stages = python_stages(config)
    assert stages is not None
    image = torch.rand(3, 3, 256, 256)
    canonical = stages.extract_canonical(image)
    assert canonical.shape == (3, 20, 3)
    assert torch.equal(canonical[0], canonical[2])
    assert python_stages(preset("tiny")) is None


def test_to_grey_matches_opencv() -> None:
    cv2 = pytest.importorskip("cv2")
    from vid2vid.codec.lite.model import to_grey

    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ours = to_grey(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)[0]
    theirs = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert np.abs(ours.astype(int) - theirs).max() <= 1
