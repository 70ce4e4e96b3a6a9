"""The stream decoder: packets in, frames out, through the runtime.

One class for every receiver. The offline decoder and the benchmarks call :meth:`push` per
packet; the live receiver uses the parts in between, because it reorders motion in a jitter
buffer and loads keyframes and renders on a worker thread:

- :meth:`StreamDecoder.read`: the packet dispatcher (one header parse, keyframes assembled and
  checked against this model);
- :meth:`StreamDecoder.load`: F and L of a keyframe through the runtime (or its shipped volume,
  placed on the runtime's device once), and x_s posed once per keyframe;
- :meth:`StreamDecoder.decode_motion`: a motion packet to its params, raising
  :class:`~vid2vid.errors.MissingIntraError` when its intra was lost;
- :meth:`StreamDecoder.render`: the keypoint math in torch with the caller, then M + warp + G
  through the runtime.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from vid2vid.codec.bitstream.header import timestamp_distance
from vid2vid.codec.bitstream.keyframe import Keyframe
from vid2vid.codec.bitstream.motion import DecodedMotion, MotionDecoder
from vid2vid.codec.bitstream.motion_params import MotionParams
from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.imageio import tensor_to_frames
from vid2vid.codec.keypoints import FreeView, Keypoints
from vid2vid.codec.stream.dispatch import KeyframeChunk, MotionPacket, Packet, PacketDispatcher
from vid2vid.codec.stream.encoder import MAX_MOTION_EVERY
from vid2vid.codec.stream.keyframes import keyframe_features
from vid2vid.codec.stream.runtime import Runtime
from vid2vid.codec.talking_head import KeyframeFeatures
from vid2vid.codec.wire import layout_for, params_to_motion
from vid2vid.errors import BitstreamError, ConfigError, ModelMismatchError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LoadedKeyframe:
    """What a receiver keeps of a keyframe: f_s, x_c (on the runtime's side) and x_s."""

    features: KeyframeFeatures
    source: Keypoints  # x_s, posed once
    params: MotionParams  # the keyframe's own pose, shown until motion arrives


def driving_keypoints(
    loaded: LoadedModel, keyframe: LoadedKeyframe, params: MotionParams, view: FreeView
) -> Keypoints:
    """x_d for one frame: the keyframe's x_c posed by ``params`` and the free view, then the
    model's adjustment of x_d to x_s. What goes into the decoder beside f_s and x_s, for one
    stream (:meth:`StreamDecoder.render`) or a batch of them (the receiver's renderer)."""
    model, kf = loaded.model, keyframe.features
    driving = params_to_motion([params], kf.canonical.device)
    posed = model.pose(kf.canonical, driving, view, jacobians=kf.jacobians)
    return model.adjust_driving(keyframe.source, posed)


@dataclass
class DecodeReport:
    """What happened to every packet of the stream."""

    frames: int = 0
    keyframes: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def summary(self) -> str:
        dropped = ", ".join(f"{n} {why}" for why, n in sorted(self.dropped.items())) or "none"
        return f"{self.frames} frames from {self.keyframes} keyframe(s); dropped: {dropped}"


class StreamDecoder:
    """Packets of one stream to frames (``S x S x 3`` BGR uint8); see the module docstring.

    ``loaded`` gives the fingerprint and the model's keypoint math (posing, and LivePortrait's
    stitching of x_d); every network runs through ``runtime``.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        runtime: Runtime,
        view: FreeView | None = None,
        frame_interval_ms: float | None = None,
    ):
        if frame_interval_ms is not None and frame_interval_ms <= 0:
            raise ConfigError(f"frame_interval_ms must be positive, got {frame_interval_ms}")
        self.frame_interval_ms = frame_interval_ms
        self._last: tuple[int, MotionParams] | None = None  # capture ms and params last rendered
        self.loaded = loaded
        self.runtime = runtime
        self.view = view or FreeView()
        self.report = DecodeReport()
        self._dispatcher = PacketDispatcher(loaded.fingerprint)
        self._motion = MotionDecoder(layout_for(loaded.config))
        self.keyframe: LoadedKeyframe | None = None

    # -- the parts -------------------------------------------------------------------------
    @property
    def assembling(self) -> bool:
        """Whether a keyframe is arriving chunk by chunk."""
        return self._dispatcher.assembling

    def read(self, packet: bytes) -> Packet:
        """Parse and route one packet (raises BitstreamError or ModelMismatchError)."""
        return self._dispatcher.read(packet)

    def load(self, keyframe: Keyframe) -> LoadedKeyframe:
        """F + L through the runtime (or the shipped volume placed once), x_s posed once."""
        features = keyframe_features(self.runtime, keyframe)
        with torch.inference_mode():
            source = self.loaded.model.pose(
                features.canonical, features.motion, jacobians=features.jacobians
            )
        return LoadedKeyframe(features, source, keyframe.source_motion)

    def decode_motion(self, packet: MotionPacket) -> DecodedMotion:
        """The params of one motion packet (MissingIntraError: its intra was lost)."""
        return self._motion.decode(packet.data, packet.header)

    def render(
        self, keyframe: LoadedKeyframe, params: MotionParams, view: FreeView | None = None
    ) -> np.ndarray:
        """One frame of ``keyframe`` posed by ``params`` (and the free view)."""
        with torch.inference_mode():
            driving_kp = driving_keypoints(self.loaded, keyframe, params, view or self.view)
            image = self.runtime.decode(keyframe.features.volume, keyframe.source, driving_kp)
        return tensor_to_frames(image)[0]

    def between(self, timestamp_ms: int, params: MotionParams) -> list[MotionParams]:
        """The motion of the frames a sender skipped between the last rendered sample and this
        one (``motion_every`` > 1, or lost packets): linear in every value, one per
        ``frame_interval_ms``, at most ``MAX_MOTION_EVERY - 1``; none without an interval.
        Updates the last sample."""
        last, self._last = self._last, (timestamp_ms, params)
        if self.frame_interval_ms is None or last is None:
            return []
        gap = timestamp_distance(timestamp_ms, last[0])
        missing = round(gap / self.frame_interval_ms) - 1
        if not 1 <= missing < MAX_MOTION_EVERY:
            return []
        layout = self._motion.layout
        a, b = layout.flatten(last[1]), layout.flatten(params)
        return [layout.unflatten(a + (b - a) * (k / (missing + 1))) for k in range(1, missing + 1)]

    # -- offline: everything in one call ---------------------------------------------------------
    def push(self, packet: bytes) -> list[np.ndarray]:
        """Feed one packet; the frames it completes (zero or one, or the skipped frames before
        it with ``frame_interval_ms``). Never raises for bad input: a malformed or unusable
        packet is counted in :attr:`report` and skipped."""
        try:
            arrival = self.read(packet)
            if isinstance(arrival, KeyframeChunk):
                if arrival.keyframe is not None:
                    self.keyframe = self.load(arrival.keyframe)
                    self.report.keyframes += 1
                    self._last = None  # never interpolate across two framings
                return []
            if isinstance(arrival, MotionPacket):
                decoded = self.decode_motion(arrival)
                if self.keyframe is None:
                    self.report.drop("before the keyframe")
                    return []
                filled = self.between(decoded.header.timestamp_ms, decoded.params)
                frames = [self.render(self.keyframe, p) for p in [*filled, decoded.params]]
                self.report.frames += len(frames)
                return frames
            self.report.drop("control packets (offline)")
        except BitstreamError as exc:  # in a file, a missing intra is damage too
            log.warning("dropped a packet: %s", exc)
            self.report.drop("malformed")
        except ModelMismatchError as exc:
            log.error("refused a keyframe: %s", exc)
            self.report.drop("keyframe from another model")
        return []
