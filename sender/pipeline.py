"""The sender's core, without the network: camera frames in, keyframe chunks and motion out.

A face tracker (:class:`~vid2vid.codec.face.FaceTracker`) and a stream encoder
(:class:`~vid2vid.codec.stream.StreamEncoder`: keyframes and motion through the runtime,
quantized and range coded). A keyframe is built from the crop of the first frame with a face and
again whenever the face is found after being lost; a receiver that joins late gets the current
keyframe again (:meth:`SendPipeline.current_keyframe`). All of it is synchronous and runs on one
worker thread, off the event loop.

With ``SenderConfig.adapt`` (the default) a keyframe comes in two steps: a small WebP preview
(≈ 2–3 KB at 512 px) that a receiver can render on at once, then the full keyframe in the form
and quality of the sender's adaptation level (:mod:`vid2vid.call.adapt`), both cut into chunks
of one datagram each for the pacer (:mod:`vid2vid.call.pacing`). When the level rises to a better
keyframe setting, the same face is sent again at that setting (a refinement).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from vid2vid.call.adapt import QualityLevel
from vid2vid.call.pacing import rechunk
from vid2vid.call.pack import MAX_PACK
from vid2vid.codec.bitstream.chunks import KEYFRAME_ID_MODULUS
from vid2vid.codec.bitstream.header import SEQUENCE_MODULUS
from vid2vid.codec.bitstream.motion import DEFAULT_QUALITY
from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.face import CropConfig, FaceTracker
from vid2vid.codec.imageio import frames_to_tensor
from vid2vid.codec.stream import (
    DEFAULT_IMAGE_QUALITY,
    DEFAULT_KEYFRAME,
    Counters,
    KeyframeForm,
    Runtime,
    StreamConfig,
    StreamEncoder,
    make_sender_keyframe,
)
from vid2vid.errors import ConfigError
from vid2vid.sender.capture import CapturedFrame
from vid2vid.sender.h264_reference import H264Reference

log = logging.getLogger(__name__)

#: The preview keyframe: WebP at this quality is ≈ 2–3 KB for a 512 px face (JPEG cannot go
#: under ≈ 6 KB at that size, whatever its quality).
PREVIEW_FORM: KeyframeForm = "webp"
PREVIEW_QUALITY = 15


@dataclass(frozen=True)
class SenderConfig:
    """How the sender codes: motion quantizer, intra period, keyframe form, stream id; and how
    many motion packets go in one data-channel message (``pack``: N frames per message cost
    (N - 1) / fps of latency and save about 93 bytes of wire framing per frame saved, see
    :mod:`vid2vid.call.pack`); ``adapt``: progressive, paced keyframes and levels chosen from
    the receivers' link reports (:mod:`vid2vid.call.adapt`), with these settings as the best
    level."""

    quality: int = DEFAULT_QUALITY
    intra_period_s: float = 1.0
    keyframe: KeyframeForm = DEFAULT_KEYFRAME
    image_quality: int = DEFAULT_IMAGE_QUALITY
    stream_id: int = 0
    #: CRF of the live x264 reference (what H.264 would need for the same crops); None: off.
    h264_crf: int | None = None
    pack: int = 1
    adapt: bool = True

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
    preview: list[bytes] | None = None  # sent before ``keyframe`` where the path is slow
    refinement: bool = False  # ``keyframe`` is the face in use again, at a better setting
    motion: bytes | None = None
    h264_bytes: int | None = None  # what the live x264 reference spent on the same crop
    ms: dict[str, float] = field(default_factory=dict)


class SendPipeline:
    """Frames to packets for one stream; :meth:`process` runs on the worker thread.

    :meth:`request_intra`, :meth:`set_level` and :meth:`request_refinement` may be called from
    any thread (the event loop does, when a receiver asks or the link changes); they take
    effect at the next frame.
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
        # What the event loop asks of the worker, behind one lock: the level's motion quality
        # and keyframe setting, and whether to send the face again at that setting.
        self._lock = threading.Lock()
        self._quality = config.quality
        self._key_setting: tuple[KeyframeForm, int] = (config.keyframe, config.image_quality)
        self._refine = False
        self._key_made_with: tuple[KeyframeForm, int] | None = None  # the keyframe in use's
        # The worker's own: the face of the keyframe in use.
        self._key_crop: np.ndarray | None = None
        self._preview: list[bytes] | None = None
        self._current: list[bytes] | None = None

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
        image = frames_to_tensor([crop])
        self.runtime.extract_motion(image, reference=image)
        self.encoder.make_keyframe(crop)

    def request_intra(self) -> None:
        """The next motion packet is intra; safe from any thread."""
        self.encoder.request_intra()

    def set_level(self, level: QualityLevel) -> None:
        """Code motion and later keyframes as ``level`` says; safe from any thread."""
        with self._lock:
            self._quality = level.motion_quality
            self._key_setting = (level.keyframe, level.keyframe_quality)

    def request_refinement(self) -> None:
        """Send the keyframe's face again at the level's setting if it was made with another
        (the path got better); safe from any thread."""
        with self._lock:
            self._refine = True

    def refinement_dropped(self) -> None:
        """A receiver did not get the last refinement (its path got worse while it travelled):
        the next request sends the face again even at the same setting; safe from any thread."""
        with self._lock:
            self._key_made_with = None

    def current_keyframe(self) -> list[bytes] | None:
        """The chunks of the keyframe now in use (None before the first face)."""
        with self._lock:
            return self._current

    def current_preview(self) -> list[bytes] | None:
        """The chunks of the preview of the keyframe in use (None without one)."""
        with self._lock:
            return self._preview

    def _keyframe(self, crop: np.ndarray, timestamp_ms: int, form: KeyframeForm, quality: int):
        keyframe = make_sender_keyframe(self.runtime, self.loaded.fingerprint, crop, form, quality)
        # Sent, it replaces the reference every later frame's motion is measured against.
        chunks = self.encoder.send_keyframe(keyframe, timestamp_ms)
        return rechunk(chunks) if self.config.adapt else chunks

    def _make_keyframes(self, result: FrameResult, crop: np.ndarray, refine: bool) -> None:
        """A new keyframe of ``crop`` (with its preview when adapting); ``refine``: the face
        in use again at a better setting, no preview. The full keyframe goes last, so later
        frames' motion is measured against its image (the preview only stands in for it)."""
        with self._lock:
            setting = self._key_setting
        start = time.perf_counter()
        preview = None
        if self.config.adapt and not refine:
            preview = self._keyframe(crop, result.timestamp_ms, PREVIEW_FORM, PREVIEW_QUALITY)
        full = self._keyframe(crop, result.timestamp_ms, *setting)
        with self._lock:
            self._preview = preview if not refine else self._preview
            self._current = full
            self._key_made_with = setting
        self._key_crop = crop
        result.keyframe, result.preview, result.refinement = full, preview, refine
        result.ms["keyframe"] = (time.perf_counter() - start) * 1000

    def process(self, frame: CapturedFrame) -> FrameResult:
        """Track, (maybe) make a keyframe, extract and code the motion of one frame."""
        result = FrameResult(frame.index, frame.timestamp_ms, face=False)
        start = time.perf_counter()
        track = self._tracker.update(frame.image)
        result.ms["track"] = (time.perf_counter() - start) * 1000
        if track.crop is None:
            return result
        result.face = True
        with self._lock:
            quality, setting, made_with = self._quality, self._key_setting, self._key_made_with
            refine, self._refine = self._refine, False
        if track.reacquired or self._current is None:
            self._make_keyframes(result, track.crop, refine=False)
        elif refine and self._key_crop is not None and setting != made_with:
            self._make_keyframes(result, self._key_crop, refine=True)
        if self.encoder.quality != quality:
            self.encoder.quality = quality  # forces an intra: the quality travels in it
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
