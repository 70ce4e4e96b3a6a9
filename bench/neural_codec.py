"""vid2vid through its real bitstream, for the benchmark: the stream encoder and decoder.

The motion of every frame is measured once per clip (:meth:`StreamEncoder.measure`); then, for
each keyframe form and motion quality, a :class:`~vid2vid.codec.stream.StreamEncoder` produces
the exact packets a sender would send (keyframe chunks and motion packets, each with its
header) and a :class:`~vid2vid.codec.stream.StreamDecoder` turns them back into frames, as a
receiver would; both run the networks through the runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.stream import (
    DEFAULT_IMAGE_QUALITY,
    DEFAULT_KEYFRAME,
    FrameMotion,
    KeyframeForm,
    Runtime,
    StreamConfig,
    StreamDecoder,
    StreamEncoder,
)
from vid2vid.codec.stream_stats import StreamStats
from vid2vid.engines.runtime import TorchRuntime
from vid2vid.errors import InputError

__all__ = ["KEYFRAME_FORMS", "NeuralStream", "decode_stream", "encode_stream", "measure_motion"]

KeyframeChoice = Literal["image", "volume"]
#: The benchmark's two keyframe forms: the encoder's default key image (WebP q80), and the int8
#: volume.
KEYFRAME_FORMS: dict[str, KeyframeForm] = {
    "image": DEFAULT_KEYFRAME,
    "volume": "volume-int8",
}


@dataclass(frozen=True)
class NeuralStream:
    """The packets of one encoding and their byte breakdown."""

    keyframe: KeyframeChoice
    quality: int
    packets: tuple[bytes, ...]
    stats: StreamStats
    frames: int  # the clip's frames: one packet each, or one per ``motion_every`` and the last


def _runtime(loaded: LoadedModel, runtime: Runtime | None) -> Runtime:
    return TorchRuntime(loaded) if runtime is None else runtime


def measure_motion(
    loaded: LoadedModel,
    crops_bgr: Sequence[np.ndarray],
    timestamps_ms: Sequence[int],
    batch: int = 8,
    runtime: Runtime | None = None,
    reframed: Sequence[bool] = (),
) -> list[FrameMotion]:
    """Every frame's motion (H and Δ) as wire params, from crops at the model's input size.

    Frames after the first flagged in ``reframed`` (the tracker re-framed the face there) renew
    the keyframe, as a sender does; each frame is measured against its framing's keyframe, in
    the default form (:func:`encode_stream` may send another: the references differ only by
    the key image's coding).
    """
    encoder = StreamEncoder(_runtime(loaded, runtime), loaded.fingerprint, StreamConfig(), 25.0)
    renew = set(i for i, flag in enumerate(reframed) if flag and i > 0)
    params = encoder.measure_framed(((c, i in renew) for i, c in enumerate(crops_bgr)), batch)
    return [
        FrameMotion(t, p, crops_bgr[i] if i in renew else None)
        for i, (t, p) in enumerate(zip(timestamps_ms, params, strict=True))
    ]


def encode_stream(
    loaded: LoadedModel,
    first_bgr: np.ndarray,
    motions: list[FrameMotion],
    fps: float,
    keyframe: KeyframeChoice,
    quality: int,
    image_quality: int = DEFAULT_IMAGE_QUALITY,
    runtime: Runtime | None = None,
    motion_every: int = 1,
) -> NeuralStream:
    """The exact packets a sender sends: keyframe chunks, then one motion packet per frame (per
    ``motion_every`` frames, the receiver filling the frames between)."""
    config = StreamConfig(
        quality=quality,
        keyframe=KEYFRAME_FORMS[keyframe],
        image_quality=image_quality,
        motion_every=motion_every,
    )
    encoder = StreamEncoder(_runtime(loaded, runtime), loaded.fingerprint, config, fps)
    packets = tuple(encoder.packets(encoder.make_keyframe(first_bgr), motions))
    stats = StreamStats(fps=fps)
    for packet in packets:
        stats.add(packet)
    return NeuralStream(keyframe, quality, packets, stats, len(motions))


def decode_stream(
    loaded: LoadedModel,
    stream: NeuralStream,
    runtime: Runtime | None = None,
    fps: float | None = None,
) -> np.ndarray:
    """The receiver's frames (N x S x S x 3 RGB uint8, S the model's output size); with ``fps``
    the decoder fills frames the sender skipped by interpolating the motion."""
    interval = None if fps is None else 1000 / fps
    decoder = StreamDecoder(loaded, _runtime(loaded, runtime), frame_interval_ms=interval)
    frames: list[np.ndarray] = []
    for packet in stream.packets:
        frames.extend(decoder.push(packet))
    if decoder.report.dropped or len(frames) != stream.frames:
        raise InputError(
            f"vid2vid decode lost frames ({decoder.report.summary()}); expected {stream.frames}"
        )
    return np.stack([f[..., ::-1] for f in frames])  # BGR -> RGB
