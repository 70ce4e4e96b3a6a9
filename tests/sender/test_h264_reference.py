"""The live x264 reference: real libx264 through PyAV on face crops, bytes per frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vid2vid.codec.checkpoint import load_weights
from vid2vid.engines.runtime import open_runtime
from vid2vid.errors import ConfigError
from vid2vid.sender.capture import CapturedFrame
from vid2vid.sender.h264_reference import H264Reference
from vid2vid.sender.pipeline import SenderConfig, SendPipeline

CLIP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips" / "lp_d0.mp4"


def _moving_frames(size: int, count: int) -> list[np.ndarray]:
    """A textured square that slides, so inter frames cost bits."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (size, 2 * size, 3), dtype=np.uint8)
    return [np.ascontiguousarray(texture[:, 3 * i : 3 * i + size]) for i in range(count)]


def test_bytes_per_frame_fall_with_crf() -> None:
    frames = _moving_frames(64, 12)
    fine, coarse = H264Reference(64, 25.0, crf=20), H264Reference(64, 25.0, crf=51)
    fine_bytes = [fine.encode(f) for f in frames]
    coarse_bytes = [coarse.encode(f) for f in frames]
    assert all(n > 0 for n in fine_bytes)  # zerolatency: every frame comes out at once
    assert sum(coarse_bytes) < sum(fine_bytes) / 4
    assert "CRF 51" in coarse.source and "64 px" in coarse.source


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 64, "crf": 52}, "x264 CRF must be in 0..51, got 52"),
        ({"size": 63}, "x264 reference needs an even crop size of at least 16, got 63"),
    ],
)
def test_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        H264Reference(fps=25.0, **kwargs)


def test_wrong_crop_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"takes 64x64x3 uint8 crops, got \(32, 32, 3\) uint8"):
        H264Reference(64, 25.0).encode(np.zeros((32, 32, 3), np.uint8))


def test_pipeline_reports_what_h264_spends_on_the_same_crops() -> None:
    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    from vid2vid.codec.video import VideoReader

    loaded = load_weights(None, "tiny")
    runtime = open_runtime(loaded, "torch")
    with VideoReader(CLIP) as reader:
        images = [f.image for _, f in zip(range(6), reader, strict=False)]
    on = SendPipeline(loaded, runtime, SenderConfig(h264_crf=51), 25.0)
    off = SendPipeline(loaded, runtime, SenderConfig(), 25.0)
    results = [
        on.process(CapturedFrame(index=i, timestamp_ms=40 * i, image=image))
        for i, image in enumerate(images)
    ]
    assert all(r.face and r.h264_bytes and r.h264_bytes > 0 for r in results)
    assert "h264_reference" in results[-1].ms
    assert on.h264_source is not None and off.h264_source is None
    assert off.process(CapturedFrame(index=0, timestamp_ms=0, image=images[0])).h264_bytes is None
