"""Every frame's motion is measured against the keyframe the receiver draws it from.

The lite family's background points move by the optical flow from the keyframe's image, so the
stream encoder hands the runtime that image, as the receiver decodes it, with every frame.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from support.recording_runtime import RecordingRuntime, received_image, same_image
from vid2vid.codec.checkpoint import untrained_model
from vid2vid.codec.imageio import frames_to_tensor
from vid2vid.codec.stream import StreamConfig, StreamEncoder
from vid2vid.engines.runtime import TorchRuntime


@pytest.fixture(scope="module")
def tiny():
    return untrained_model("tiny")


def _faces(n: int) -> list[np.ndarray]:
    """Smooth 64 px crops (lossy key images then differ from them, a little)."""
    y, x = np.mgrid[0:64, 0:64]
    return [
        np.stack([(x * 3 + 40 * i) % 256, (y * 4) % 256, (x + y + 17 * i) % 256], -1).astype(
            np.uint8
        )
        for i in range(n)
    ]


def _encoder(tiny, keyframe: str = "webp") -> tuple[StreamEncoder, RecordingRuntime]:
    runtime = RecordingRuntime(TorchRuntime(tiny))
    config = StreamConfig(keyframe=keyframe, image_quality=30)  # type: ignore[arg-type]
    return StreamEncoder(runtime, tiny.fingerprint, config, 25.0), runtime


def test_frames_are_measured_against_the_key_image_as_the_receiver_decodes_it(tiny) -> None:
    encoder, runtime = _encoder(tiny)
    faces = _faces(3)
    assert encoder.encode_frame(faces[1], 0)  # before any keyframe: no reference
    assert runtime.calls[-1].reference is None
    runtime.calls.clear()
    chunks = encoder.keyframe(faces[0], 0)
    assert [c.reference for c in runtime.calls] == [None]  # the source motion: its own keyframe
    encoder.encode_frame(faces[1], 40)
    encoder.encode_frame(faces[2], 80)
    key = received_image(chunks)
    assert not torch.equal(key, frames_to_tensor([faces[0]]))  # lossy: not the camera's pixels
    assert all(same_image(c.reference, key) for c in runtime.calls[1:])
    assert len(runtime.calls) == 3


def test_a_new_keyframe_replaces_the_reference(tiny) -> None:
    encoder, runtime = _encoder(tiny)
    faces = _faces(4)
    first = received_image(encoder.keyframe(faces[0], 0))
    list(encoder.measure([faces[1]], batch=1))
    second = received_image(encoder.keyframe(faces[2], 80))
    list(encoder.measure([faces[3]], batch=1))
    motion = [c for c in runtime.calls if c.reference is not None]
    assert not torch.equal(first, second)
    assert same_image(motion[0].reference, first) and same_image(motion[1].reference, second)


def test_a_volume_keyframe_measures_against_the_crop_it_encoded(tiny) -> None:
    encoder, runtime = _encoder(tiny, "volume-fp16")
    faces = _faces(2)
    encoder.keyframe(faces[0], 0)
    encoder.encode_frame(faces[1], 40)
    assert same_image(runtime.calls[-1].reference, frames_to_tensor([faces[0]]))


def test_a_clip_is_measured_against_each_framings_keyframe(tiny) -> None:
    """Offline the motion is measured before the stream is sent: the first crop and each
    re-framed one start a keyframe, and the crops from it on are measured against it, the very
    key image :meth:`StreamEncoder.packets` then sends."""
    encoder, runtime = _encoder(tiny)
    faces = _faces(5)
    starts = [True, False, False, True, False]
    params = list(encoder.measure_framed(zip(faces, starts, strict=True), batch=8))
    assert len(params) == 5
    measured = [c for c in runtime.calls if c.reference is not None]
    assert [len(c.images) for c in measured] == [3, 2]  # a framing never shares a batch
    assert torch.equal(measured[1].images, frames_to_tensor(faces[3:]))
    sent = StreamEncoder(TorchRuntime(tiny), tiny.fingerprint, encoder.config, 25.0)
    assert same_image(measured[0].reference, received_image(sent.keyframe(faces[0], 0)))
    assert same_image(measured[1].reference, received_image(sent.keyframe(faces[3], 120)))
