"""The send pipeline measures every frame against the keyframe in use, as receivers decode it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from support.recording_runtime import RecordingRuntime, received_image, same_image
from vid2vid.call.adapt import QualityLevel
from vid2vid.codec.checkpoint import load_weights
from vid2vid.engines.runtime import open_runtime
from vid2vid.sender.capture import CapturedFrame
from vid2vid.sender.pipeline import SenderConfig, SendPipeline

CLIP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips" / "lp_d0.mp4"


def test_frames_are_measured_against_the_full_keyframe_and_a_refinement_replaces_it() -> None:
    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    from vid2vid.codec.video import VideoReader

    loaded = load_weights(None, "tiny")
    runtime = RecordingRuntime(open_runtime(loaded, "torch"))
    with VideoReader(CLIP) as reader:
        images = [f.image for _, f in zip(range(3), reader, strict=False)]
    pipeline = SendPipeline(loaded, runtime, SenderConfig(image_quality=90), 25.0)

    first = pipeline.process(CapturedFrame(index=0, timestamp_ms=0, image=images[0]))
    assert first.face and first.preview and first.keyframe
    key = received_image(first.keyframe)
    assert not torch.equal(key, received_image(first.preview))  # the preview only stands in
    assert same_image(runtime.calls[-1].reference, key)

    level = QualityLevel(
        name="lower",
        motion_quality=pipeline.encoder.quality,
        pack=1,
        keyframe="webp",
        keyframe_quality=40,
        keyframe_kbps=100.0,
    )
    pipeline.set_level(level)
    pipeline.request_refinement()
    second = pipeline.process(CapturedFrame(index=1, timestamp_ms=40, image=images[1]))
    assert second.refinement and second.keyframe
    refined = received_image(second.keyframe)
    assert not torch.equal(refined, key)
    assert same_image(runtime.calls[-1].reference, refined)
