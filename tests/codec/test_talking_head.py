"""The interface every family fills: motion is measured against the keyframe image."""

from __future__ import annotations

import pytest
import torch

from support.configs import LIVEPORTRAIT_TINY
from vid2vid.codec.config import preset
from vid2vid.codec.model import seeded_model


@pytest.mark.parametrize("config", [preset("tiny"), LIVEPORTRAIT_TINY], ids=["fv2v", "lp"])
def test_absolute_families_measure_the_same_motion_with_or_without_a_reference(config) -> None:
    model = seeded_model(config)
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    key = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    with torch.inference_mode():
        plain = model.extract_motion(images)
        for reference in (key, key.expand(2, -1, -1, -1), images):
            for got, want in zip(model.extract_motion(images, reference), plain, strict=True):
                assert torch.equal(got, want)
        # forward: same-identity reconstruction, the driving motion taken against the source
        rebuilt = model(images[:1], images[1:])
        want = model.animate(
            model.encode_keyframe(images[:1]), model.extract_motion(images[1:], images[:1])
        )
    torch.testing.assert_close(rebuilt, want, rtol=0, atol=0)
