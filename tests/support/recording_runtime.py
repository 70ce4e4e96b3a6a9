"""A runtime wrapper for tests: the real runtime, recording what each motion call measured."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from vid2vid.codec.bitstream.chunks import KeyframeAssembler
from vid2vid.codec.bitstream.keyframe import Keyframe, decode_keyframe_payload
from vid2vid.codec.imageio import frames_to_tensor
from vid2vid.codec.keyframe_image import decode_key_image


class MotionCall(NamedTuple):
    images: torch.Tensor  # B x 3 x H x W, as the runtime got them
    reference: torch.Tensor | None


class RecordingRuntime:
    """Delegates everything to ``runtime``; keeps the inputs of every ``extract_motion``."""

    def __init__(self, runtime) -> None:
        self._runtime = runtime
        self.calls: list[MotionCall] = []

    def __getattr__(self, name: str):
        return getattr(self._runtime, name)

    def extract_motion(self, image, reference=None):
        self.calls.append(
            MotionCall(image.clone(), None if reference is None else reference.clone())
        )
        return self._runtime.extract_motion(image, reference=reference)


def received_keyframe(chunks: list[bytes]) -> Keyframe:
    """The keyframe a receiver assembles from ``chunks``."""
    assembler = KeyframeAssembler()
    payloads = [p for p in (assembler.add(c) for c in chunks) if p is not None]
    assert len(payloads) == 1
    return decode_keyframe_payload(payloads[0])


def received_image(chunks: list[bytes]) -> torch.Tensor:
    """The key image of an image keyframe as the receiver decodes it, 1 x 3 x H x W."""
    keyframe = received_keyframe(chunks)
    return frames_to_tensor([decode_key_image(keyframe.appearance, keyframe.kind)])


def same_image(a: torch.Tensor | None, b: torch.Tensor | np.ndarray) -> bool:
    return a is not None and torch.equal(a, torch.as_tensor(b))
