"""Growing a lite model's weights to background points keeps what it learned."""

from __future__ import annotations

import pytest
import torch

from vid2vid.codec.config import preset
from vid2vid.codec.keypoints import identity_motion
from vid2vid.codec.model import seeded_model
from vid2vid.errors import ConfigError
from vid2vid.training.lite.grow import grow_state


def _posed(model, motion):
    return model.pose(model.canonical[None], motion)


def test_grown_model_renders_the_same_while_the_background_stands_still() -> None:
    old = seeded_model(preset("lite-tiny"), seed=3).eval()
    new = seeded_model(preset("lite-tiny-bg")).eval()
    new.load_state_dict(grow_state(old.state_dict(), 20, 28))
    image = torch.rand(1, 3, 64, 64)
    source = identity_motion(1, 20)
    driving = source._replace(yaw=source.yaw + 12.0, pitch=source.pitch - 5.0)

    def padded(motion):
        zeros = torch.zeros(1, 8, 3)
        return motion._replace(deformation=torch.cat([motion.deformation, zeros], 1))

    with torch.no_grad():
        before, _ = old.render(image, _posed(old, source), _posed(old, driving))
        after, _ = new.render(image, _posed(new, padded(source)), _posed(new, padded(driving)))
        moved = padded(driving)
        moved.deformation[0, 20:, 0] = 0.1
        shifted, _ = new.render(image, _posed(new, padded(source)), _posed(new, moved))
    assert torch.allclose(before, after, atol=1e-5)
    assert not torch.allclose(before, shifted, atol=1e-3)


def test_grow_refuses_to_shrink_or_to_grow_something_else() -> None:
    state = seeded_model(preset("lite-tiny")).state_dict()
    with pytest.raises(ConfigError, match="cannot shrink"):
        grow_state(state, 20, 12)
    with pytest.raises(ConfigError, match="not a lite model"):
        grow_state(seeded_model(preset("tiny")).state_dict(), 20, 28)
