"""The sender's core, without the network: camera frames in, keyframe chunks and motion out.

A face tracker (:class:`~vid2vid.codec.face.FaceTracker`) and a stream encoder
(:class:`~vid2vid.codec.stream.StreamEncoder`: keyframes and motion through the runtime,
quantized and range coded). A keyframe is built from the crop of the first frame with a face and
again whenever the face is found after being lost; a receiver that joins late gets the current
keyframe again (:meth:`SendPipeline.current_keyframe`). All of it is synchronous and runs on one
worker thread, off the event loop.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

import numpy as np

from vid2vid.call.pack import MAX_PACK
from vid2vid.codec.bitstream.chunks import KEYFRAME_ID_MODULUS
from vid2vid.codec.bitstream.header import SEQUENCE_MODULUS
from vid2vid.codec.bitstream.motion import DEFAULT_QUALITY
from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.face import CropConfig, FaceTracker
from vid2vid.codec.imageio import frames_to_tensor
from vid2vid.codec.stream import (
    Counters,
    KeyframeForm,
    Runtime,
    StreamConfig,
    StreamEncoder,
)
from vid2vid.errors import ConfigError
from vid2vid.sender.capture import CapturedFrame
from vid2vid.sender.h264_reference import H264Reference

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderConfig:
    """How the sender codes: motion quantizer, intra period, keyframe form, stream id; and how
    many motion packets go in one data-channel message (``pack``: N frames per message cost
    (N - 1) / fps of latency and save about 93 bytes of wire framing per frame saved, see
    :mod:`vid2vid.call.pack`)."""

    quality: int = DEFAULT_QUALITY
    intra_period_s: float = 1.0
    keyframe: KeyframeForm = "jpeg"
    image_quality: int = 90
    stream_id: int = 0
    #: CRF of the live x264 reference (what H.264 would need for the same crops); None: off.
    h264_crf: int | None = None
    pack: int = 1

    def __post_init__(self) -> None:
        self.stream_config()  # checks the coding fields
        if self.h264_crf is not None and not 0 <= self.h264_crf <= 51:
            raise ConfigError(f"h264_crf must be in 0..51, got {self.h264_crf}")
        if not 1 <= self.pack <= MAX_PACK:
            raise ConfigError(f"pack must be in 1..{MAX_PACK}, got {self.pack}")

    def stream_config(self) -> StreamConfig:
        """The coding half of this config, as the stream encoder takes it."""
        return StreamConfig.of(self)


@dataclass
class FrameResult:
    """What one frame produced; ``keyframe`` holds chunks for every receiver when a new one
    was made; ``ms`` is the time spent per stage."""

    index: int
    timestamp_ms: int
    face: bool
    keyframe: list[bytes] | None = None
    motion: bytes | None = None
    h264_bytes: int | None = None  # what the live x264 reference spent on the same crop
    ms: dict[str, float] = field(default_factory=dict)


class SendPipeline:
    """Frames to packets for one stream; :meth:`process` runs on the worker thread.

    :meth:`request_intra` may be called from any thread (the event loop does, when a receiver
    asks); it takes effect at the next frame.
    """

    def __init__(
        self, loaded: LoadedModel, runtime: Runtime, config: SenderConfig, fps: float
    ) -> None:
        self.loaded = loaded
        self.runtime = runtime
        self.config = config
        self.fps = fps
        self._tracker = FaceTracker(CropConfig(output_size=loaded.config.input_size))
        # Random starting counters: a receiver cannot take a new stream's packets for an old one's.
        counters = Counters(
            motion_sequence=random.randrange(SEQUENCE_MODULUS),
            chunk_sequence=random.randrange(SEQUENCE_MODULUS),
            keyframe_id=random.randrange(KEYFRAME_ID_MODULUS),
        )
        self.encoder = StreamEncoder(
            runtime, loaded.fingerprint, config.stream_config(), fps, counters
        )
        self._h264 = (
            None
            if config.h264_crf is None
            else H264Reference(loaded.config.input_size, fps, config.h264_crf)
        )

    @property
    def h264_source(self) -> str | None:
        """How the H.264 comparison is made, or None when the reference is off."""
        return None if self._h264 is None else self._h264.source

    @property
    def keyframe_bytes(self) -> int:
        """Payload bytes of the keyframe now in use (0 before the first face)."""
        return self.encoder.keyframe_bytes

    def warm_up(self) -> None:
        """Run the motion extractor and the keyframe path once before the call (the first
        run of a model is several times slower than the next)."""
        size = self.loaded.config.input_size
        crop = np.full((size, size, 3), 128, np.uint8)
        self.runtime.extract_motion(frames_to_tensor([crop]))
        self.encoder.make_keyframe(crop)

    def request_intra(self) -> None:
        """The next motion packet is intra; safe from any thread."""
        self.encoder.request_intra()

    def current_keyframe(self) -> list[bytes] | None:
        """The chunks of the keyframe now in use (None before the first face)."""
        return self.encoder.current_keyframe()

    def process(self, frame: CapturedFrame) -> FrameResult:
        """Track, (maybe) make a keyframe, extract and code the motion of one frame."""
        result = FrameResult(frame.index, frame.timestamp_ms, face=False)
        start = time.perf_counter()
        track = self._tracker.update(frame.image)
        result.ms["track"] = (time.perf_counter() - start) * 1000
        if track.crop is None:
            return result
        result.face = True
        if track.reacquired or self.encoder.current_keyframe() is None:
            start = time.perf_counter()
            result.keyframe = self.encoder.keyframe(track.crop, frame.timestamp_ms)
            result.ms["keyframe"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        (params,) = self.encoder.measure([track.crop], batch=1)
        result.ms["motion"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        result.motion = self.encoder.motion(params, frame.timestamp_ms)
        result.ms["encode"] = (time.perf_counter() - start) * 1000
        if self._h264 is not None:
            start = time.perf_counter()
            result.h264_bytes = self._h264.encode(track.crop)
            result.ms["h264_reference"] = (time.perf_counter() - start) * 1000
        return result
