"""Model configs: presets, strict loading, validation messages."""

from __future__ import annotations

import json

import pytest

from vid2vid.codec.config import PRESETS, ModelConfig, config_from_dict, preset
from vid2vid.errors import ConfigError


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_json(name):
    config = preset(name)
    assert config.name == name
    assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_paper_presets_follow_the_paper():
    assert preset("paper-256").num_kp == 20
    assert (preset("paper-512").input_size, preset("paper-512").output_size) == (256, 512)
    lp = preset("liveportrait")
    assert (lp.family, lp.num_kp, lp.output_size) == ("liveportrait", 21, 512)


def test_unknown_key_is_rejected_by_name():
    data = preset("tiny").to_dict()
    data["num_keypoints"] = 20
    with pytest.raises(ConfigError, match="unknown key 'num_keypoints' in model config"):
        config_from_dict(data)
    data = preset("tiny").to_dict()
    data["arch"]["typo_width"] = 3
    with pytest.raises(ConfigError, match="unknown key 'typo_width' in face-vid2vid arch"):
        config_from_dict(data)


def test_bad_values_name_the_field():
    with pytest.raises(ConfigError, match="num_kp must be in 1..64, got 0"):
        preset("tiny").replace(num_kp=0)
    with pytest.raises(
        ConfigError, match="output_size must be a multiple of 32 and at least 32, got 100"
    ):
        preset("tiny").replace(output_size=100)
    with pytest.raises(ConfigError, match="family must be one of"):
        config_from_dict({**preset("tiny").to_dict(), "family": "first-order"})


def test_arch_must_belong_to_the_family():
    with pytest.raises(
        ConfigError, match="arch must be LivePortraitArch for family 'liveportrait'"
    ):
        ModelConfig(name="x", family="liveportrait", num_kp=21, arch=preset("tiny").arch)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ConfigError, match="unknown model config 'paper-1024'; choose one of"):
        preset("paper-1024")


def test_small_preset_fits_inside_the_package():
    """small-256 exists to ship trained weights with vid2vid: ≤ 50 MB in fp16 (issue 9)."""
    from vid2vid.codec.model import build_model

    config = preset("small-256")
    params = sum(p.numel() for p in build_model(config).parameters())
    assert (config.input_size, config.output_size, config.num_kp) == (256, 256, 15)
    assert params * 2 <= 50e6
