"""Every loss term is zero (or lowest) for a perfect prediction and higher for a wrong one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vid2vid.codec.keypoints import rotation_matrix
from vid2vid.errors import CheckpointError
from vid2vid.training import losses
from vid2vid.training.perceptual import MultiScalePerceptualLoss, Vgg19Features, load_vgg19
from vid2vid.training.warp import RandomWarp


def _warp(batch: int = 2, seed: int = 3) -> RandomWarp:
    return RandomWarp(batch, generator=torch.Generator().manual_seed(seed))


def test_hinge_discriminator_loss_is_zero_when_d_separates_real_from_fake():
    real, fake = [torch.full((2, 1, 4, 4), 2.0)] * 2, [torch.full((2, 1, 4, 4), -2.0)] * 2
    assert losses.hinge_discriminator_loss(real, fake).item() == 0.0
    assert losses.hinge_discriminator_loss(fake, real).item() == pytest.approx(2 * 6.0)


def test_hinge_generator_loss_is_lower_when_d_is_fooled():
    fooled = losses.hinge_generator_loss([torch.full((1, 1, 4, 4), 3.0)])
    caught = losses.hinge_generator_loss([torch.full((1, 1, 4, 4), -3.0)])
    assert fooled.item() < caught.item()


def test_feature_matching_is_zero_for_equal_features():
    torch.manual_seed(0)
    real = [[torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4)]]
    assert losses.feature_matching_loss(real, real).item() == 0.0
    wrong = [[f + 0.5 for f in real[0]]]
    assert losses.feature_matching_loss(real, wrong).item() == pytest.approx(1.0, rel=1e-5)


def test_equivariance_is_zero_when_keypoints_follow_the_warp():
    warp = _warp()
    warped_xy = torch.rand(2, 10, 2) * 1.6 - 0.8  # keypoints found in the warped frame
    driving_xy = warp.warp_coordinates(warped_xy)  # where they are in the original
    assert losses.equivariance_loss(driving_xy, warped_xy, warp).item() < 1e-6
    assert losses.equivariance_loss(driving_xy, warped_xy + 0.1, warp).item() > 0.05


def test_warped_image_moves_a_point_to_the_inverse_warp():
    """A blob at q in the frame appears at p with T(p) = q in the warped frame."""
    warp = RandomWarp(1, generator=torch.Generator().manual_seed(1), sigma_affine=0.1)
    size = 65
    axis = torch.linspace(-1, 1, size)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    q = torch.tensor([0.2, -0.1])
    blob = torch.exp(-((xs - q[0]) ** 2 + (ys - q[1]) ** 2) / (2 * 0.05**2))[None, None]
    warped = warp.warp_image(blob)[0, 0]
    weights = warped / warped.sum()
    p = torch.stack([(weights * xs).sum(), (weights * ys).sum()])
    assert torch.allclose(warp.warp_coordinates(p.view(1, 1, 2))[0, 0], q, atol=0.02)


def test_jacobian_equivariance_is_zero_for_consistent_jacobians():
    warp = _warp()
    warped_xy = torch.rand(2, 5, 2) - 0.5
    warped_jac = torch.eye(2) + 0.2 * torch.randn(
        2, 5, 2, 2, generator=torch.Generator().manual_seed(0)
    )
    driving_jac = warp.jacobian(warped_xy) @ warped_jac
    exact = losses.jacobian_equivariance_loss(driving_jac, warped_jac, warped_xy, warp)
    wrong = losses.jacobian_equivariance_loss(driving_jac * 1.5, warped_jac, warped_xy, warp)
    assert exact.item() < 1e-5
    assert wrong.item() > 0.1


def test_keypoint_prior_is_zero_for_spread_keypoints_at_the_target_depth():
    grid = torch.tensor([[x, y, 0.33] for x in (-0.6, 0.0, 0.6) for y in (-0.6, 0.0, 0.6)])
    assert losses.keypoint_prior_loss(grid[None]).item() == pytest.approx(0.0, abs=1e-7)
    collapsed = torch.zeros(1, 9, 3)
    assert losses.keypoint_prior_loss(collapsed).item() == pytest.approx(9 * 8 * 0.1 + 0.33)


def test_head_pose_loss_is_zero_for_the_reference_and_ignores_frames_without_one():
    angles = torch.tensor([10.0, -20.0])
    reference = rotation_matrix(angles, angles / 2, angles / 3, "xyz")
    valid = torch.tensor([True, True])
    assert losses.head_pose_loss(reference, reference, valid).item() < 1e-7
    turned = rotation_matrix(angles + 15, angles / 2, angles / 3, "xyz")
    assert losses.head_pose_loss(turned, reference, valid).item() > 0.05
    only_first = torch.tensor([True, False])
    half_wrong = torch.stack([reference[0], turned[1]])
    assert losses.head_pose_loss(half_wrong, reference, only_first).item() < 1e-7


def test_deformation_prior_is_zero_without_deformation():
    assert losses.deformation_prior_loss(torch.zeros(2, 10, 3)).item() == 0.0
    assert losses.deformation_prior_loss(torch.full((2, 10, 3), -0.2)).item() == pytest.approx(0.2)


def test_reconstruction_l1():
    image = torch.rand(1, 3, 8, 8)
    assert losses.reconstruction_l1(image, image).item() == 0.0
    assert losses.reconstruction_l1(image, 1 - image).item() > 0.1


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A seeded random VGG19 saved under torchvision's key names, with its classifier too."""
    torch.manual_seed(0)
    state = dict(Vgg19Features().state_dict())
    state["features.32.weight"] = torch.zeros(512, 512, 3, 3)  # conv5_3/5_4 are past relu5_1
    state["classifier.0.weight"] = torch.zeros(8, 8)
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(state, path)
    return path


def test_vgg19_key_names_are_torchvisions():
    keys = list(Vgg19Features().state_dict())
    convs = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28]
    assert keys == [f"features.{i}.{p}" for i in convs for p in ("weight", "bias")]


def test_perceptual_loss_is_zero_for_the_target_and_higher_for_another_image(vgg_file):
    loss = MultiScalePerceptualLoss(load_vgg19(vgg_file))
    torch.manual_seed(1)
    target = torch.rand(1, 3, 32, 32)
    assert loss(target, target).item() == 0.0
    near = loss((target + 0.05 * torch.randn_like(target)).clamp(0, 1), target).item()
    far = loss(torch.rand(1, 3, 32, 32), target).item()
    assert 0.0 < near < far


def test_vgg19_file_missing_a_layer_is_refused(tmp_path, vgg_file):
    state = torch.load(vgg_file, weights_only=True)
    del state["features.28.bias"]
    broken = tmp_path / "broken.pth"
    torch.save(state, broken)
    with pytest.raises(CheckpointError, match="missing key 'features.28.bias'"):
        load_vgg19(broken)


def test_solvepnp_recovers_a_known_head_rotation():
    import cv2

    from vid2vid.training.pose_reference import LANDMARKS, MODEL_POINTS, rotation_from_landmarks

    angles = [torch.tensor([a]) for a in (20.0, -10.0, 5.0)]  # yaw, pitch, roll
    expected = rotation_matrix(*angles, "xyz")[0].double().numpy()
    camera = np.array([[256.0, 0, 128], [0, 256.0, 128], [0, 0, 1]])
    rvec = cv2.Rodrigues(expected)[0]
    tvec = np.array([0.0, 0.0, 1500.0])
    projected, _ = cv2.projectPoints(MODEL_POINTS, rvec, tvec, camera, np.zeros(4))
    landmarks = np.zeros((68, 2))
    landmarks[list(LANDMARKS)] = projected.reshape(-1, 2)
    rotation = rotation_from_landmarks(landmarks, 256, 256)
    assert rotation is not None
    assert np.abs(rotation - expected).max() < 1e-3


def test_a_real_frontal_portrait_gets_a_near_frontal_reference():
    from support.interop import DATA, require
    from vid2vid.bench.metrics import dlib_unavailable_reason, find_dlib_models
    from vid2vid.codec.video import read_image
    from vid2vid.training.pose_reference import LandmarkPose

    reason = dlib_unavailable_reason()
    if reason:
        pytest.skip(reason)
    bgr = read_image(require(DATA / "portraits" / "lp_s42.jpg"))
    rotation = LandmarkPose(find_dlib_models()[0])(np.ascontiguousarray(bgr[..., ::-1]))
    assert rotation is not None
    angle = math.degrees(math.acos((np.trace(rotation) - 1) / 2))
    assert angle < 30.0
