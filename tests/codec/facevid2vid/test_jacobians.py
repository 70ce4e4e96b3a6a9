"""L's optional Jacobians (paper §3.1): J_c from L, J = R · J_c posed, J_s,k J_d,k⁻¹ in M."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vid2vid.codec.checkpoint import load_checkpoint, save_checkpoint
from vid2vid.codec.config import ModelConfig, config_from_dict, preset
from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.facevid2vid.geometry import coordinate_grid, sparse_motions
from vid2vid.codec.keypoints import FreeView, Keypoints, Motion, posed_keypoints, rotation_matrix
from vid2vid.codec.model import TalkingHeadModel, seeded_model
from vid2vid.errors import ConfigError

NUM_KP = 10  # the tiny preset's K


def _config(enabled: bool = True) -> ModelConfig:
    config = preset("tiny")
    return config.replace(arch=dataclasses.replace(config.arch, estimate_jacobian=enabled))


def _model(seed: int = 0, *, trained_jacobians: bool = False) -> TalkingHeadModel:
    """The tiny model with Jacobians; ``trained_jacobians`` replaces L's rigid start with noise."""
    model = seeded_model(_config(), seed)
    if trained_jacobians:
        g = torch.Generator().manual_seed(seed + 100)
        conv = model.keypoint_detector.jacobian_conv
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.2)
            conv.bias.add_(torch.randn(conv.bias.shape, generator=g) * 0.2)
    return model


def _images(batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, 64, 64, generator=g)


def _motion(batch: int, yaw: float, pitch: float, roll: float, seed: int = 0) -> Motion:
    g = torch.Generator().manual_seed(seed)
    return Motion(
        yaw=torch.full((batch,), yaw),
        pitch=torch.full((batch,), pitch),
        roll=torch.full((batch,), roll),
        translation=torch.randn(batch, 3, generator=g) * 0.1,
        deformation=torch.randn(batch, NUM_KP, 3, generator=g) * 0.05,
        scale=torch.ones(batch),
    )


def _random_jacobians(batch: int, seed: int) -> torch.Tensor:
    """Well-conditioned B x K x 3 x 3 matrices: identity plus a small random part."""
    g = torch.Generator().manual_seed(seed)
    return torch.eye(3) + 0.3 * torch.randn(batch, NUM_KP, 3, 3, generator=g)


# -- config ---------------------------------------------------------------------------------


def test_estimate_jacobian_is_off_by_default_and_survives_the_config_round_trip() -> None:
    assert FaceVid2VidArch().estimate_jacobian is False
    assert preset("tiny").arch.estimate_jacobian is False
    config = _config()
    again = config_from_dict(config.to_dict())
    assert again == config and again.arch.estimate_jacobian is True


def test_estimate_jacobian_must_be_a_bool() -> None:
    with pytest.raises(ConfigError, match="arch.estimate_jacobian must be true or false, got 1"):
        FaceVid2VidArch(estimate_jacobian=1)  # type: ignore[arg-type]


# -- L --------------------------------------------------------------------------------------


def test_disabled_arch_keeps_the_state_dict_keys_and_enabled_adds_only_jacobian_conv() -> None:
    disabled = seeded_model(_config(enabled=False)).state_dict()
    enabled = seeded_model(_config()).state_dict()
    assert not any("jacobian_conv" in key for key in disabled)
    assert list(disabled) == list(seeded_model(preset("tiny")).state_dict())
    extra = set(enabled) - set(disabled)
    assert extra == {
        "keypoint_detector.jacobian_conv.weight",
        "keypoint_detector.jacobian_conv.bias",
    }
    assert enabled["keypoint_detector.jacobian_conv.bias"].shape == (9 * NUM_KP,)
    assert enabled["keypoint_detector.jacobian_conv.weight"].shape[:2] == (9 * NUM_KP, 8)


def test_detector_shapes_and_points_match_forward() -> None:
    model = _model(trained_jacobians=True)
    image = _images(batch=3)
    with torch.inference_mode():
        out = model.keypoint_detector.forward_with_jacobians(image)
        points = model.keypoint_detector(image)
    assert out.points.shape == (3, NUM_KP, 3)
    assert out.jacobians is not None and out.jacobians.shape == (3, NUM_KP, 3, 3)
    assert torch.isfinite(out.jacobians).all()
    torch.testing.assert_close(out.points, points, rtol=0, atol=0)


def test_disabled_detector_returns_no_jacobians() -> None:
    model = seeded_model(preset("tiny"))
    with torch.inference_mode():
        out = model.keypoint_detector.forward_with_jacobians(_images())
        keyframe = model.encode_keyframe(_images())
    assert out.jacobians is None and keyframe.jacobians is None


def test_jacobians_start_as_the_identity_so_posed_jacobians_are_the_rotation() -> None:
    model = _model()
    with torch.inference_mode():
        keyframe = model.encode_keyframe(_images())
        motion = _motion(2, yaw=25.0, pitch=-10.0, roll=5.0)
        posed = model.pose(keyframe.canonical, motion, jacobians=keyframe.jacobians)
    assert keyframe.jacobians is not None and posed.jacobians is not None
    torch.testing.assert_close(keyframe.jacobians, torch.eye(3).expand(2, NUM_KP, 3, 3))
    torch.testing.assert_close(posed.jacobians, posed.rotation[:, None].expand(2, NUM_KP, 3, 3))


def test_each_keypoint_takes_its_own_nine_channels_row_major() -> None:
    """With a zero weight, J_c,k is exactly keypoint k's bias (the heatmap sums to 1)."""
    model = _model()
    target = _random_jacobians(1, seed=5)[0]  # K x 3 x 3
    with torch.no_grad():
        model.keypoint_detector.jacobian_conv.bias.copy_(target.reshape(-1))
        out = model.keypoint_detector.forward_with_jacobians(_images())
    torch.testing.assert_close(out.jacobians, target.expand(2, NUM_KP, 3, 3))


# -- posing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("convention", ["xyz", "zyx"])
def test_rotating_the_posed_keypoints_rotates_their_jacobians(convention: str) -> None:
    g = torch.Generator().manual_seed(1)
    canonical = torch.rand(2, NUM_KP, 3, generator=g) * 2 - 1
    jacobians = _random_jacobians(2, seed=2)
    motion = _motion(2, yaw=15.0, pitch=5.0, roll=-20.0)
    view = FreeView(yaw=30.0, pitch=-12.0, roll=8.0)
    plain = posed_keypoints(canonical, motion, convention, jacobians=jacobians)
    seen = posed_keypoints(canonical, motion, convention, view=view, jacobians=jacobians)
    ones = torch.ones(2)
    user = rotation_matrix(ones * 30.0, ones * -12.0, ones * 8.0, convention)  # B x 3 x 3
    assert plain.jacobians is not None and seen.jacobians is not None
    torch.testing.assert_close(plain.jacobians, plain.rotation[:, None] @ jacobians)
    torch.testing.assert_close(seen.jacobians, user[:, None] @ plain.jacobians)
    torch.testing.assert_close(seen.jacobians, seen.rotation[:, None] @ jacobians)


def test_posing_without_jacobians_gives_none() -> None:
    canonical = torch.zeros(1, NUM_KP, 3)
    assert posed_keypoints(canonical, _motion(1, 10.0, 0.0, 0.0), "xyz").jacobians is None


# -- M --------------------------------------------------------------------------------------


def test_sparse_motions_use_each_keypoints_jacobian() -> None:
    """T_k(z) = J_k (z − x_d,k) + x_s,k: x_d,k maps to x_s,k, and a step maps through J_k."""
    g = torch.Generator().manual_seed(3)
    source = torch.rand(2, NUM_KP, 3, generator=g) * 2 - 1
    driving = torch.rand(2, NUM_KP, 3, generator=g) * 2 - 1
    jacobian = _random_jacobians(2, seed=4)
    grid = coordinate_grid(3, 4, 5, like=source)  # 3 x 4 x 5 x 3
    motions = sparse_motions(grid, source, driving, jacobian)[:, 1:]  # B x K x 3 x 4 x 5 x 3
    cell = grid[1, 2, 3]  # 3
    expected = torch.einsum("bkij,bkj->bki", jacobian, cell - driving) + source  # B x K x 3
    torch.testing.assert_close(motions[:, :, 1, 2, 3], expected)


def test_identical_keypoints_and_jacobians_give_the_identity_deformation() -> None:
    """J_s,k J_d,k⁻¹ = I and x_s = x_d: every candidate motion, hence their blend, is the grid."""
    model = _model()
    g = torch.Generator().manual_seed(6)
    volume = torch.randn(2, 4, 4, 16, 16, generator=g)
    points = torch.rand(2, NUM_KP, 3, generator=g) * 2 - 1
    rotation = rotation_matrix(torch.full((2,), 20.0), torch.zeros(2), torch.zeros(2), "xyz")
    jacobians = _random_jacobians(2, seed=7)
    with torch.inference_mode():
        field = model.motion_field(volume, points, points, rotation, rotation, jacobians, jacobians)
    identity = coordinate_grid(4, 16, 16, like=volume).expand(2, 4, 16, 16, 3)
    torch.testing.assert_close(field.deformation, identity, rtol=0, atol=1e-5)


def test_identity_canonical_jacobians_reduce_to_the_rotation_only_motion() -> None:
    """J_c = I gives J_s J_d⁻¹ = R_s R_d⁻¹: the same field as without Jacobians."""
    model = _model()
    g = torch.Generator().manual_seed(8)
    volume = torch.randn(1, 4, 4, 16, 16, generator=g)
    canonical = torch.rand(1, NUM_KP, 3, generator=g) * 2 - 1
    eye = torch.eye(3).expand(1, NUM_KP, 3, 3)
    source = posed_keypoints(canonical, _motion(1, 10.0, 5.0, 0.0, seed=1), "xyz", jacobians=eye)
    driving = posed_keypoints(canonical, _motion(1, -20.0, 0.0, 7.0, seed=2), "xyz", jacobians=eye)
    with torch.inference_mode():
        with_j = model.decode_with_intermediates(volume, source, driving)
        without = model.decode_with_intermediates(
            volume, Keypoints(*source[:2]), Keypoints(*driving[:2])
        )
    for name in ("deformation", "occlusion", "mask"):  # M's outputs; G only follows them
        torch.testing.assert_close(getattr(with_j, name), getattr(without, name), rtol=0, atol=1e-5)


# -- the whole model ------------------------------------------------------------------------


def test_model_forward_runs_with_jacobians_and_they_reach_m() -> None:
    model = _model(trained_jacobians=True)
    source, driving = _images(seed=1), _images(seed=2)
    with torch.inference_mode():
        image = model(source, driving)
        keyframe = model.encode_keyframe(source)
        motion = model.extract_motion(driving)
        rigid = model.decode(
            keyframe.volume,
            model.pose(keyframe.canonical, keyframe.motion),
            model.pose(keyframe.canonical, motion),
        )
    assert image.shape == (2, 3, 64, 64) and torch.isfinite(image).all()
    assert keyframe.jacobians is not None
    assert not torch.allclose(image, rigid, atol=1e-4)


def test_checkpoint_round_trip_keeps_the_jacobians(tmp_path) -> None:
    model = _model(seed=2, trained_jacobians=True)
    config = _config()
    print_ = save_checkpoint(tmp_path / "ckpt", config, model.state_dict(), trained=False)
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.fingerprint == print_ and loaded.config.arch.estimate_jacobian is True
    source, driving = _images(seed=3), _images(seed=4)
    with torch.inference_mode():
        ours = model.eval().encode_keyframe(source)
        theirs = loaded.model.encode_keyframe(source)
        assert theirs.jacobians is not None
        torch.testing.assert_close(theirs.jacobians, ours.jacobians, rtol=0, atol=0)
        torch.testing.assert_close(loaded.model(source, driving), model(source, driving))
