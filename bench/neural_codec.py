"""vid2vid through its real bitstream, for the benchmark: the encoder's and decoder's own functions.

The motion of every frame is measured once per clip; then, for each keyframe form and motion
quality, :func:`vid2vid.codec.encode.encode_packets` produces the exact packets a sender would
send (keyframe chunks and motion packets, each with its header) and
:class:`vid2vid.codec.decode.StreamDecoder` turns them back into frames, as a receiver would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.decode import StreamDecoder
from vid2vid.codec.encode import (
    EncodeOptions,
    FrameMotion,
    build_keyframe,
    encode_packets,
    intra_period_frames,
)
from vid2vid.codec.imageio import frames_to_tensor
from vid2vid.codec.stream_stats import StreamStats
from vid2vid.codec.wire import layout_for, motion_to_params
from vid2vid.errors import InputError

__all__ = ["KEYFRAME_FORMS", "NeuralStream", "decode_stream", "encode_stream", "measure_motion"]

KeyframeChoice = Literal["image", "volume"]
#: The benchmark's two keyframe forms: the encoder's default JPEG q90 image, and the int8 volume.
KEYFRAME_FORMS: dict[str, Literal["jpeg", "volume-int8"]] = {
    "image": "jpeg",
    "volume": "volume-int8",
}


@dataclass(frozen=True)
class NeuralStream:
    """The packets of one encoding and their byte breakdown."""

    keyframe: KeyframeChoice
    quality: int
    packets: tuple[bytes, ...]
    stats: StreamStats


@torch.inference_mode()
def measure_motion(
    loaded: LoadedModel,
    crops_bgr: Sequence[np.ndarray],
    timestamps_ms: Sequence[int],
    batch: int = 8,
) -> list[FrameMotion]:
    """Every frame's motion (H and Δ) as wire params, from crops at the model's input size."""
    model = loaded.model
    device = next(model.parameters()).device
    layout = layout_for(loaded.config)
    out: list[FrameMotion] = []
    for start in range(0, len(crops_bgr), batch):
        chunk = list(crops_bgr[start : start + batch])
        motion = model.extract_motion(frames_to_tensor(chunk).to(device))
        stamps = timestamps_ms[start : start + batch]
        for stamp, params in zip(stamps, motion_to_params(motion, layout), strict=True):
            out.append(FrameMotion(stamp, params))
    return out


def encode_stream(
    loaded: LoadedModel,
    first_bgr: np.ndarray,
    motions: list[FrameMotion],
    fps: float,
    keyframe: KeyframeChoice,
    quality: int,
    image_quality: int = 90,
) -> NeuralStream:
    """The exact packets a sender sends: keyframe chunks, then one motion packet per frame."""
    options = EncodeOptions(
        clip=Path("-"),
        output=Path("-"),
        quality=quality,
        keyframe=KEYFRAME_FORMS[keyframe],
        image_quality=image_quality,
    )
    frame = build_keyframe(loaded, first_bgr, options)
    layout = layout_for(loaded.config)
    period = intra_period_frames(fps, options.intra_period_s)
    stats = StreamStats(fps=fps)
    packets = tuple(encode_packets(frame, motions, layout, quality, period, stream_id=0))
    for packet in packets:
        stats.add(packet)
    return NeuralStream(keyframe, quality, packets, stats)


def decode_stream(loaded: LoadedModel, stream: NeuralStream) -> np.ndarray:
    """The receiver's frames (N x S x S x 3 RGB uint8, S the model's output size)."""
    decoder = StreamDecoder(loaded)
    frames: list[np.ndarray] = []
    for packet in stream.packets:
        frames.extend(decoder.push(packet))
    if decoder.report.dropped or len(frames) != stream.stats.frames:
        raise InputError(
            f"vid2vid decode lost frames ({decoder.report.summary()}); "
            f"expected {stream.stats.frames}"
        )
    return np.stack([f[..., ::-1] for f in frames])  # BGR -> RGB
