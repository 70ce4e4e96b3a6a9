"""LivePortraitModel: shapes, no NaNs, determinism, the config checks, the stitching option."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from support.configs import LIVEPORTRAIT_TINY
from vid2vid.codec.config import config_from_dict, preset
from vid2vid.codec.keypoints import FreeView
from vid2vid.codec.liveportrait.arch import LivePortraitArch
from vid2vid.codec.liveportrait.model import LivePortraitModel
from vid2vid.codec.model import build_model, seeded_model
from vid2vid.errors import ConfigError

TINY = LIVEPORTRAIT_TINY


@pytest.mark.slow
def test_preset_shapes_and_parameters() -> None:
    """The full preset: every stage's shape at 256 px in, 512 px out, and LivePortrait's sizes."""
    model = seeded_model(preset("liveportrait"))
    counts = {n: sum(p.numel() for p in m.parameters()) for n, m in model.named_children()}
    print("parameters:", counts, "total", sum(counts.values()))
    assert counts["motion_extractor"] == 28_118_728
    assert counts["stitching"] == 45_249 and counts["lip"] == 37_311 and counts["eye"] == 144_703
    image = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        keyframe = model.encode_keyframe(image)
        assert keyframe.volume.shape == (1, 32, 16, 64, 64)
        assert keyframe.canonical.shape == (1, 21, 3)
        assert keyframe.motion.deformation.shape == (1, 21, 3)
        assert keyframe.motion.translation.shape == (1, 3)
        assert keyframe.motion.scale.shape == (1,)
        source = model.pose(keyframe.canonical, keyframe.motion)
        out = model.decode(keyframe.volume, source, source)
    assert out.shape == (1, 3, 512, 512)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_tiny_forward_is_deterministic_and_finite() -> None:
    model = seeded_model(TINY, seed=3)
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        first = model(images, images.flip(0))
        second = model(images, images.flip(0))
        keyframe = model.encode_keyframe(images)
        turned = model.animate(keyframe, keyframe.motion, FreeView(yaw=20.0))
        straight = model.animate(keyframe, keyframe.motion)
    assert first.shape == (2, 3, 128, 128)
    assert torch.isfinite(first).all()
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.allclose(turned, straight)


def test_encode_keyframe_matches_the_separate_stages() -> None:
    model = seeded_model(TINY)
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        keyframe = model.encode_keyframe(image)
        motion = model.extract_motion(image)
        torch.testing.assert_close(keyframe.canonical, model.extract_canonical(image))
    for ours, separate in zip(keyframe.motion, motion, strict=True):
        torch.testing.assert_close(ours, separate)


def test_stitching_moves_only_the_driving_keypoints() -> None:
    model = seeded_model(TINY)
    assert isinstance(model, LivePortraitModel)
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        keyframe = model.encode_keyframe(image)
        source = model.pose(keyframe.canonical, keyframe.motion)
        stitched = model.stitch(source, source)
        lip = model.retarget_lip(source.points, torch.zeros(1, 2))
        eye = model.retarget_eye(source.points, torch.zeros(1, 3))
    assert stitched.points.shape == source.points.shape == lip.shape == eye.shape
    assert not torch.equal(stitched.points, source.points)
    torch.testing.assert_close(stitched.rotation, source.rotation)


def test_without_stitching_the_model_still_animates() -> None:
    config = TINY.replace(arch=dataclasses.replace(TINY.arch, stitching=False))
    model = seeded_model(config)
    assert isinstance(model, LivePortraitModel) and not model.has_stitching
    assert not any(k.startswith(("stitching.", "lip.", "eye.")) for k in model.state_dict())
    image = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert model(image, image).shape == (1, 3, 128, 128)
    with pytest.raises(ConfigError, match="no stitching MLP"):
        model.stitch(*[model.pose(*model.encode_keyframe(image)[1:])] * 2)


def test_config_round_trips_through_json_form() -> None:
    config = preset("liveportrait")
    assert config_from_dict(config.to_dict()) == config
    assert config_from_dict(TINY.to_dict()) == TINY


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("volume_depth", 0),
        ("convnext_dims", (96, 192, 384)),
        ("eye_hidden", ()),
        ("kp_variance", -1.0),
        ("stitching", "yes"),
        ("appearance_resblocks", -1),
    ],
)
def test_arch_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        LivePortraitArch(**{field: value})
    message = str(info.value)
    assert message.startswith(f"arch.{field} must ") and message.endswith(f"got {value!r}")


def test_output_size_must_fit_the_arch() -> None:
    with pytest.raises(ConfigError, match="output_size must be 128 for input_size 64"):
        build_model(TINY.replace(output_size=64))
