"""The stream encoder: face crops in, keyframe chunks and motion packets out, through the runtime.

One class for every sender: ``vid2vid-encode`` (a whole clip, sequence numbers from 0), the
live call's send pipeline (random starting counters, keyframes again when the face is found
after being lost), and the benchmarks. The face tracker stays with the caller: offline clips
are cropped by :class:`~vid2vid.codec.clip.FaceClip`, the camera by the pipeline's tracker.

Synchronous and single-threaded, except :meth:`StreamEncoder.request_intra`, which any thread
may call (a receiver asks on the event loop; the worker thread encodes): the one intra-request
flag lives behind a lock here, nowhere else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
from torch import Tensor

from vid2vid.codec.bitstream.chunks import KEYFRAME_ID_MODULUS, split_keyframe
from vid2vid.codec.bitstream.header import SEQUENCE_MODULUS, wire_timestamp
from vid2vid.codec.bitstream.keyframe import encode_keyframe_payload
from vid2vid.codec.bitstream.motion import DEFAULT_QUALITY, INTRA_PERIOD_MAX, MotionEncoder
from vid2vid.codec.bitstream.motion_params import MotionLayout, MotionParams
from vid2vid.codec.imageio import frames_to_tensor
from vid2vid.codec.stream.keyframes import (
    DEFAULT_IMAGE_QUALITY,
    DEFAULT_KEYFRAME,
    KEYFRAME_KINDS,
    KeyframeForm,
    SenderKeyframe,
    make_sender_keyframe,
)
from vid2vid.codec.stream.runtime import Runtime
from vid2vid.codec.wire import layout_for, motion_to_params
from vid2vid.errors import ConfigError

log = logging.getLogger(__name__)

#: The most frames one motion sample may stand for (the decoder fills at most this many - 1).
MAX_MOTION_EVERY = 8


@dataclass(frozen=True)
class StreamConfig:
    """How a stream is coded: the motion quantizer, the intra period, the keyframe's form."""

    quality: int = DEFAULT_QUALITY
    intra_period_s: float = 1.0
    keyframe: KeyframeForm = DEFAULT_KEYFRAME
    image_quality: int = DEFAULT_IMAGE_QUALITY
    stream_id: int = 0
    #: Send the motion of every N-th frame only; the receiver's decoder interpolates the frames
    #: between (:class:`~vid2vid.codec.stream.StreamDecoder`'s ``frame_interval_ms``). Halves
    #: the messages on the wire at N = 2, for N - 1 frames of latency (the receiver waits for
    #: the next sample). Offline streams (:meth:`StreamEncoder.packets`) only, for now.
    motion_every: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.quality <= 100:
            raise ConfigError(f"quality must be in 1..100, got {self.quality}")
        if self.intra_period_s <= 0:
            raise ConfigError(f"intra_period_s must be positive, got {self.intra_period_s}")
        if self.keyframe not in KEYFRAME_KINDS:
            raise ConfigError(
                f"keyframe must be one of {sorted(KEYFRAME_KINDS)}, got {self.keyframe!r}"
            )
        if not 0 <= self.image_quality <= 100:
            raise ConfigError(f"image_quality must be in 0..100, got {self.image_quality}")
        if not 1 <= self.motion_every <= MAX_MOTION_EVERY:
            raise ConfigError(
                f"motion_every must be in 1..{MAX_MOTION_EVERY}, got {self.motion_every}"
            )

    @classmethod
    def of(cls, options: object) -> StreamConfig:
        """The coding half of a larger config (the sender's, the encode command's): the fields
        of the same names (those it has), checked here once."""
        return cls(
            **{f.name: getattr(options, f.name) for f in fields(cls) if hasattr(options, f.name)}
        )


@dataclass(frozen=True)
class FrameMotion:
    """One frame's motion as it goes on the wire, and when the frame was captured.

    ``renew`` is the frame's crop where it starts a new framing (the tracker re-framed the
    face): :meth:`StreamEncoder.packets` sends a keyframe of it before the frame's motion (and
    :meth:`StreamEncoder.measure_framed` measured the frames from it on against that keyframe).
    """

    timestamp_ms: int
    params: MotionParams
    renew: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Counters:
    """Where a stream's counters start: 0 offline, random in a call (so a receiver cannot
    mistake a new stream's packets for an old one's)."""

    motion_sequence: int = 0
    chunk_sequence: int = 0
    keyframe_id: int = 0


def intra_period_frames(fps: float, seconds: float) -> int:
    """Frames between intra packets: at least one a second by default (DESIGN), at most what a
    predicted packet can refer back to."""
    if seconds <= 0:
        raise ConfigError(f"--intra-period must be positive, got {seconds}")
    return min(INTRA_PERIOD_MAX, max(1, round(fps * seconds)))


class StreamEncoder:
    """Face crops (BGR uint8 at the model's input size) to the packets of one stream.

    Every frame's motion is measured against the keyframe the receiver draws it from: the
    encoder holds the reference image of the keyframe in use (the last one sent, as the receiver
    decodes it) and a new keyframe replaces it.
    """

    def __init__(
        self,
        runtime: Runtime,
        fingerprint: str,
        config: StreamConfig,
        fps: float,
        counters: Counters | None = None,
    ) -> None:
        counters = counters or Counters()
        self.runtime = runtime
        self.fingerprint = fingerprint
        self.config = config
        self.fps = fps
        self.layout: MotionLayout = layout_for(runtime.config)
        self._motion = MotionEncoder(
            self.layout,
            quality=config.quality,
            stream_id=config.stream_id,
            intra_period=intra_period_frames(fps / config.motion_every, config.intra_period_s),
            first_sequence=counters.motion_sequence,
        )
        self._chunk_sequence = counters.chunk_sequence
        self._keyframe_id = counters.keyframe_id
        self._lock = threading.Lock()
        self._intra_wanted = False
        self._keyframe: list[bytes] | None = None
        # The worker's own: the keyframe in use's reference image (None before the first).
        self._reference: Tensor | None = None
        #: Payload bytes of the keyframe now in use (0 before the first).
        self.keyframe_bytes = 0

    @property
    def quality(self) -> int:
        return self._motion.quality

    @quality.setter
    def quality(self, quality: int) -> None:
        """Change the motion quantizer (``--kbps`` picks it after measuring the clip)."""
        self._motion.quality = quality

    # -- the keyframe ------------------------------------------------------------------------
    def make_keyframe(self, crop: np.ndarray) -> SenderKeyframe:
        """The keyframe of ``crop`` in the configured form (F, L, H through the runtime), with
        the reference image later frames are measured against once it is sent."""
        return make_sender_keyframe(
            self.runtime, self.fingerprint, crop, self.config.keyframe, self.config.image_quality
        )

    def keyframe(self, crop: np.ndarray, timestamp_ms: int) -> list[bytes]:
        """A new keyframe of ``crop``, as chunks; the next motion packet is intra."""
        return self.send_keyframe(self.make_keyframe(crop), timestamp_ms)

    def send_keyframe(self, keyframe: SenderKeyframe, timestamp_ms: int) -> list[bytes]:
        """``keyframe`` as chunks under the next keyframe id; it becomes the current one, and
        its reference the image every later frame's motion is measured against."""
        payload = encode_keyframe_payload(keyframe.keyframe)
        keyframe_id = self._keyframe_id
        chunks = split_keyframe(
            payload,
            stream_id=self.config.stream_id,
            first_sequence=self._chunk_sequence,
            timestamp_ms=wire_timestamp(timestamp_ms),
            keyframe_id=keyframe_id,
        )
        self._keyframe_id = (keyframe_id + 1) % KEYFRAME_ID_MODULUS
        self._chunk_sequence = (self._chunk_sequence + len(chunks)) % SEQUENCE_MODULUS
        with self._lock:
            self._keyframe = chunks
            self._intra_wanted = True  # predicted packets must not straddle a new keyframe
        self._reference = keyframe.reference
        self.keyframe_bytes = len(payload)
        log.info("keyframe %d: %d bytes in %d chunk(s)", keyframe_id, len(payload), len(chunks))
        return chunks

    def current_keyframe(self) -> list[bytes] | None:
        """The chunks of the keyframe now in use (None before the first), for a late receiver."""
        with self._lock:
            return self._keyframe

    # -- motion ------------------------------------------------------------------------------
    def request_intra(self) -> None:
        """Make the next motion packet intra; safe from any thread."""
        with self._lock:
            self._intra_wanted = True

    def measure(
        self,
        crops: Iterable[np.ndarray],
        batch: int = 8,
        *,
        keyframe: SenderKeyframe | None = None,
    ) -> Iterator[MotionParams]:
        """Every crop's motion (H and Δ through the runtime), ``batch`` crops per call, against
        ``keyframe`` (by default the keyframe in use: the last sent, none before the first)."""
        reference = self._reference if keyframe is None else keyframe.reference
        pending: list[np.ndarray] = []
        for crop in crops:
            pending.append(crop)
            if len(pending) == batch:
                yield from self._measure_batch(pending, reference)
                pending = []
        if pending:
            yield from self._measure_batch(pending, reference)

    def measure_framed(
        self, frames: Iterable[tuple[np.ndarray, bool]], batch: int = 8
    ) -> Iterator[MotionParams]:
        """Every crop's motion against the keyframe of its framing, for a whole clip measured
        before it is sent: ``frames`` are (crop, starts a new framing); the first crop and each
        flagged one start a keyframe (made here, as :meth:`packets` will make it again), and the
        crops from it on are measured against it. Nothing is sent."""
        pending: list[np.ndarray] = []
        reference: Tensor | None = None
        for crop, renews in frames:
            if reference is None or renews:
                if pending:
                    yield from self._measure_batch(pending, reference)
                    pending = []
                reference = self.make_keyframe(crop).reference
            pending.append(crop)
            if len(pending) == batch:
                yield from self._measure_batch(pending, reference)
                pending = []
        if pending:
            yield from self._measure_batch(pending, reference)

    def _measure_batch(
        self, crops: Sequence[np.ndarray], reference: Tensor | None
    ) -> list[MotionParams]:
        motion = self.runtime.extract_motion(frames_to_tensor(crops), reference=reference)
        return motion_to_params(motion, self.layout)

    def motion(self, params: MotionParams, timestamp_ms: int) -> bytes:
        """One motion packet; intra when asked for, after a keyframe, or when its period is due."""
        with self._lock:
            force, self._intra_wanted = self._intra_wanted, False
        return self._motion.encode(params, wire_timestamp(timestamp_ms), force_intra=force)

    def encode_frame(self, crop: np.ndarray, timestamp_ms: int) -> bytes:
        """Measure and code one crop's motion: the live sender's per-frame call."""
        (params,) = self._measure_batch([crop], self._reference)
        return self.motion(params, timestamp_ms)

    def packets(self, keyframe: SenderKeyframe, motions: Sequence[FrameMotion]) -> Iterator[bytes]:
        """A whole stream in send order: the keyframe's chunks, then one packet per frame (a
        frame that starts a new framing brings a new keyframe first). With ``motion_every``
        N > 1, one packet per N frames, and always the last frame's, a renewing frame's and the
        one before it, so a decoder fills every frame, never across two framings."""
        start = motions[0].timestamp_ms if motions else 0
        yield from self.send_keyframe(keyframe, start)
        every, last = self.config.motion_every, len(motions) - 1
        for index, frame in enumerate(motions):
            if frame.renew is not None:
                yield from self.keyframe(frame.renew, frame.timestamp_ms)
            elif index % every and index != last and motions[index + 1].renew is None:
                continue
            yield self.motion(frame.params, frame.timestamp_ms)
