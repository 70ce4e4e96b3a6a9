"""BGR uint8 frames <-> B x 3 x H x W RGB float tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vid2vid.codec.imageio import frames_to_tensor, tensor_to_frames
from vid2vid.errors import InputError


def test_channels_flip_to_rgb_and_scale_to_unit() -> None:
    frame = np.zeros((4, 5, 3), np.uint8)
    frame[..., 0] = 255  # blue in BGR
    tensor = frames_to_tensor([frame, frame])
    assert tensor.shape == (2, 3, 4, 5) and tensor.dtype == torch.float32
    assert torch.equal(tensor[:, 2], torch.ones(2, 4, 5))  # blue is channel 2 in RGB
    assert torch.equal(tensor[:, :2], torch.zeros(2, 2, 4, 5))


def test_round_trip_is_exact() -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (6, 7, 3), dtype=np.uint8) for _ in range(3)]
    back = tensor_to_frames(frames_to_tensor(frames))
    assert all(np.array_equal(a, b) for a, b in zip(frames, back, strict=True))


def test_out_of_range_values_are_clamped() -> None:
    tensor = torch.tensor([-0.5, 0.5, 1.7]).view(1, 3, 1, 1)
    (frame,) = tensor_to_frames(tensor)
    assert frame[0, 0].tolist() == [255, 128, 0]  # BGR of RGB (0, 0.5, 1)


def test_bad_frames_are_rejected() -> None:
    with pytest.raises(InputError, match="no frames"):
        frames_to_tensor([])
    with pytest.raises(InputError, match="uint8"):
        frames_to_tensor([np.zeros((4, 4, 3), np.float32)])
    with pytest.raises(InputError, match="frame 1 has shape"):
        frames_to_tensor([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)])
    with pytest.raises(InputError, match="B x 3 x H x W"):
        tensor_to_frames(torch.zeros(3, 4, 4))
