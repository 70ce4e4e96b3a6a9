"""Small model configs the tests share that are not presets."""

from __future__ import annotations

from vid2vid.codec.config import ModelConfig
from vid2vid.codec.liveportrait.arch import LivePortraitArch

#: LivePortrait's networks at their tiny sizes: 64 px in, 128 px out.
LIVEPORTRAIT_TINY = ModelConfig(
    name="lp-tiny",
    family="liveportrait",
    num_kp=21,
    input_size=64,
    output_size=128,
    arch=LivePortraitArch.tiny(),
)
