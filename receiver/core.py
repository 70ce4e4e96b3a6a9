"""The receiver's core: packets and control messages in, rebuilt frames out to a sink.

One core per stream (per remote participant): a jitter buffer, a
:class:`~vid2vid.codec.stream.StreamDecoder` (the one packet dispatcher, keyframes and frames
through the runtime), the stream's state, statistics and sink. Rendering is scheduled by a
:class:`~vid2vid.receiver.render.Renderer`: a core alone has its own, and the cores of a room
share one, which rebuilds every stream's frame of a tick in one batched decode. Keyframe chunks are assembled and checked (a keyframe of another model is refused, naming both
fingerprints); the keyframe's appearance volume and keypoints are computed on the render
worker. Motion packets go through the :class:`~vid2vid.receiver.jitter.JitterBuffer`, are
decoded in sequence order (a corrupt one is dropped; one whose intra was lost is dropped and an
intra is asked for), and only the newest pose is rendered when rendering falls behind: the
renderer's worker is a single thread, so inference never blocks the event loop and frames never
queue up. A lost packet holds the last pose. Nothing a peer sends can raise out of here, and
nothing it stamps steers local state unchecked: motion packets whose capture time strays from
the stream's clock are dropped (:class:`~vid2vid.receiver.timestamps.PeerClock`), and latencies
no clock could produce stay out of the statistics.

The call state (``waiting`` for a sender, ``live``, ``reconnecting`` after the sender fell
silent or its connection failed) is shown in ``--stats`` and in the viewers' snapshot; the last
frame stays on the sinks until the next keyframe makes the call live again.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from vid2vid.call import control
from vid2vid.call.adapt import LinkReporter
from vid2vid.call.stats import CallStats, age_ms, clock_ms
from vid2vid.call.transport import Channel, Message
from vid2vid.codec.bitstream.keyframe import Keyframe
from vid2vid.codec.bitstream.motion import DecodedMotion
from vid2vid.codec.bitstream.motion_params import MotionParams
from vid2vid.codec.checkpoint import LoadedModel, default_weights
from vid2vid.codec.keypoints import FreeView
from vid2vid.codec.stream import (
    KeyframeChunk,
    LoadedKeyframe,
    MotionPacket,
    Runtime,
    StreamDecoder,
    make_keyframe,
)
from vid2vid.errors import BitstreamError, MissingIntraError, ModelMismatchError
from vid2vid.receiver.jitter import JitterBuffer
from vid2vid.receiver.render import Renderer, RenderJob
from vid2vid.receiver.timestamps import PeerClock, plausible_latency

log = logging.getLogger(__name__)

#: The receiver asks for a keyframe or an intra packet at most this often.
REQUEST_INTERVAL_S = 0.5
#: Larger motion packets are dropped unread (counted as "oversized"): real ones are tens of
#: bytes, and the jitter buffer holds up to its capacity of them per peer.
MAX_MOTION_BYTES = 1024


class Phase(enum.Enum):
    """Where the receiver is with the sender's face (the keyframe's features)."""

    WAITING_KEYFRAME = "waiting_keyframe"  # no face: a keyframe is asked for
    REFUSED = "refused"  # no face, and the last keyframe was of another model: not asked again
    KEYFRAME_PENDING = "keyframe_pending"  # a keyframe is assembled, waiting for the worker
    LOADING_KEYFRAME = "loading_keyframe"  # the worker computes a keyframe's features
    LIVE = "live"  # a face is loaded: poses are rendered on it


class CallState(enum.Enum):
    """The call as viewers see it (the snapshot's ``call`` field is the value)."""

    WAITING = "waiting"  # for a sender
    LIVE = "live"
    RECONNECTING = "reconnecting"  # the sender fell silent or its connection failed


class ReceiverState:
    """The receiver's one state machine: every transition is a method here, under one lock.

    ``phase`` is the face's lifecycle, ``call`` the call as shown to viewers; they move
    together on a loaded keyframe (LIVE, live) and apart otherwise (a "reconnecting" call
    waits for the next sender's keyframe with no face). The data that goes with the states
    (the loaded face, the keyframe waiting for the worker, the refusal's message, the stream
    generation that voids loads of a previous stream) changes only here as well. The render
    worker and the event loop meet here; the lock keeps every read and transition whole.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phase = Phase.WAITING_KEYFRAME
        self.call = CallState.WAITING
        self.features: LoadedKeyframe | None = None
        self.pending: Keyframe | None = None
        self.refused: str | None = None
        self.generation = 0

    def _settle(self) -> None:
        """The phase once no keyframe is loading (lock held)."""
        if self.pending is not None:
            self.phase = Phase.KEYFRAME_PENDING
        elif self.features is not None:
            self.phase = Phase.LIVE
        elif self.refused is not None:
            self.phase = Phase.REFUSED
        else:
            self.phase = Phase.WAITING_KEYFRAME

    def reset_stream(self) -> None:
        """A new stream: the face, its refusal and a waiting keyframe go; a load under way
        stays LOADING until it ends, and is then void (its generation is old)."""
        with self._lock:
            self.generation += 1
            self.features = None
            self.pending = None
            self.refused = None
            if self.phase is not Phase.LOADING_KEYFRAME:
                self.phase = Phase.WAITING_KEYFRAME

    def keyframe_arrived(self, keyframe: Keyframe) -> None:
        """A whole keyframe of this model: it waits for the worker (a newer one replaces it);
        an earlier refusal is over (this sender's model is right now)."""
        with self._lock:
            self.refused = None
            self.pending = keyframe
            if self.phase is not Phase.LOADING_KEYFRAME:
                self.phase = Phase.KEYFRAME_PENDING

    def refuse(self, reason: str) -> bool:
        """A keyframe of another model; whether the reason is new (to log it once)."""
        with self._lock:
            new = self.refused != reason
            self.refused = reason
            if self.phase is Phase.WAITING_KEYFRAME:
                self.phase = Phase.REFUSED
            return new

    def start_load(self) -> tuple[Keyframe, int] | None:
        """The waiting keyframe and its generation, now LOADING; None if none waits."""
        with self._lock:
            keyframe, self.pending = self.pending, None
            if keyframe is None:
                return None
            self.phase = Phase.LOADING_KEYFRAME
            return keyframe, self.generation

    def end_load(self, generation: int, features: LoadedKeyframe | None) -> bool:
        """A load ended (``features`` None: it failed); whether its face is now in use
        (False too when the stream was reset meanwhile). A face in use makes the call live."""
        with self._lock:
            accepted = features is not None and generation == self.generation
            if accepted:
                self.features = features
                self.call = CallState.LIVE
            self._settle()
            return accepted

    def hold(self) -> bool:
        """The call broke: a live call is reconnecting (whether it was live)."""
        with self._lock:
            if self.call is not CallState.LIVE:
                return False
            self.call = CallState.RECONNECTING
            return True

    def sender_left(self) -> None:
        with self._lock:
            self.call = CallState.WAITING

    def face(self) -> tuple[LoadedKeyframe | None, int]:
        """The face to render on, and its stream's generation."""
        with self._lock:
            return self.features, self.generation

    def wants_keyframe(self) -> bool:
        """No face, none loading or waiting, and no refusal: a keyframe may be asked for."""
        with self._lock:
            return self.phase is Phase.WAITING_KEYFRAME

    def has_keyframe(self) -> bool:
        """A keyframe is in use, waiting for the worker or being loaded."""
        with self._lock:
            return self.phase in (
                Phase.KEYFRAME_PENDING, Phase.LOADING_KEYFRAME, Phase.LIVE
            )  # fmt: skip


def _nowhere(message: str) -> None:
    """Where control messages go while there is no call."""


def model_summary(loaded: LoadedModel) -> dict[str, object]:
    """What viewers are told about the receiver's model: trained or not, and which one, short.

    ``source`` is ``default`` for the shipped model, a checkpoint's folder name (never its
    path on this machine), or the untrained preset's description.
    """
    source = Path(loaded.source)
    if source.is_dir():
        shipped = source.resolve() == default_weights().resolve()
        name = "default" if shipped else source.name
    else:
        name = loaded.source
    return {
        "trained": loaded.trained,
        "config": loaded.config.name,
        "source": name[:64],
        "fingerprint": loaded.fingerprint[:12],
    }


@dataclass(frozen=True, eq=False)
class RenderedFrame:
    """One rebuilt frame (``S x S x 3`` BGR uint8) and the packet it came from."""

    image: np.ndarray
    sequence: int | None  # None: the keyframe's own pose, shown until motion arrives
    timestamp_ms: int  # the sender's capture clock (24-bit wire value)
    params: MotionParams
    latency_ms: int  # capture to frame ready
    stream: int = 0  # which stream (sender connection) it belongs to: timelines are per stream


@dataclass(frozen=True)
class _Pose:
    sequence: int | None
    timestamp_ms: int
    params: MotionParams


class FrameSink(Protocol):
    def write(self, frame: RenderedFrame) -> None: ...

    def close(self) -> None: ...


class ReceiverCore:
    """See the module docstring. ``send_control`` carries requests back to the sender;
    ``renderer`` is the room's shared one (None: this core has its own)."""

    def __init__(
        self,
        loaded: LoadedModel,
        runtime: Runtime,
        sink: FrameSink,
        send_control: Callable[[str], object] = _nowhere,
        *,
        view: FreeView | None = None,
        hold_ms: float = 30.0,
        stats: CallStats | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        self.loaded = loaded
        self.model = model_summary(loaded)
        self.runtime = runtime
        self.sink = sink
        self.send_control = send_control
        self.view = view or FreeView()
        self.stats = stats or CallStats()
        self.hold_ms = hold_ms
        self.renderer = renderer or Renderer(loaded, runtime)
        self.ended = asyncio.Event()
        self.fps: float | None = None
        self.keyframe_bytes = 0
        self.state = ReceiverState()
        self._last_request: dict[str, float] = {}
        self._last: _Pose | None = None
        self._rerender = False
        self.rendering = False  # a frame of this stream is on the render worker
        self.closed = False
        self.reset_stream()
        self.renderer.add(self)

    @property
    def call_state(self) -> str:
        """``waiting``, ``live`` or ``reconnecting`` (the snapshot's ``call``)."""
        return self.state.call.value

    @property
    def refused(self) -> str | None:
        """Why the current stream's last keyframe was refused; None if it was not."""
        return self.state.refused

    # -- input, on the event loop ----------------------------------------------------------------
    def reset_stream(self) -> None:
        """Forget the sender's stream state (a new connection); keep the model and the sinks.

        The old sender's face (features), its refusal and the request timers go too: a new
        sender's motion must not be drawn on the old face, and a new sender may run the right
        model, so it is asked for a keyframe again. A keyframe load still running for the old
        stream is discarded when it finishes (:class:`ReceiverState`)."""
        self.state.reset_stream()
        self._last_request.clear()
        self._stream = StreamDecoder(self.loaded, self.runtime)
        self._jitter: JitterBuffer[MotionPacket] = JitterBuffer(self.hold_ms)
        self._keyframe_ms = 0
        self._last = None
        self._clock = PeerClock()
        self.link = LinkReporter()  # the sender adapts to its reports (vid2vid.call.adapt)
        self.ended.clear()

    def new_call(self, send_control: Callable[[str], object]) -> None:
        """A new sender's call: its stream starts afresh (:meth:`reset_stream`) and requests
        (keyframe, intra) go back through ``send_control``."""
        self.reset_stream()
        self.send_control = send_control

    def end_call(self) -> None:
        """The call is gone: requests go nowhere until the next one."""
        self.send_control = _nowhere

    def hold(self, reason: str) -> None:
        """The call broke (``reason``): hold the last frame and say "reconnecting" until the
        next keyframe is loaded. Before the first keyframe there is nothing to hold."""
        if self.state.hold():
            log.warning("%s: holding the last frame, reconnecting", reason)

    def sender_left(self) -> None:
        """The sender said bye: the call is over until another one offers."""
        self.state.sender_left()

    @property
    def busy(self) -> bool:
        """Whether packets wait to be rendered or a frame is being rendered."""
        return self.rendering or self._jitter.deadline_ms() is not None

    @property
    def has_keyframe(self) -> bool:
        """A keyframe is in use, being loaded or arriving chunk by chunk."""
        return self.state.has_keyframe() or self._stream.assembling

    def on_message(self, channel: Channel, message: Message) -> None:
        """The transport's handler: never raises, whatever arrives."""
        try:
            if isinstance(message, str):
                self._on_control(message)
            elif isinstance(message, bytes | bytearray | memoryview):
                self._on_packet(bytes(message))
        except Exception:  # a bug here must not take the call down; it is logged loudly
            log.exception("error handling a %s message", channel)
            self.stats.count("errors")

    def _on_control(self, message: str) -> None:
        parsed = control.parse_control(message)
        if isinstance(parsed, control.Hello):
            self.fps = parsed.fps
            if parsed.fingerprint != self.loaded.fingerprint:
                log.error(
                    "the sender runs model %s (%s), this receiver has %s (%s); its keyframes "
                    "will be refused: pass the sender's --weights",
                    parsed.fingerprint, parsed.model, self.loaded.fingerprint, self.loaded.source,
                )  # fmt: skip
        elif isinstance(parsed, control.End):
            log.info("the sender's stream ended")
            self.ended.set()
        elif isinstance(parsed, control.View):
            self.set_view(parsed)

    def set_view(self, view: control.View) -> None:
        """Free view: turn the rebuilt head (degrees); the last pose is rendered again."""
        self.view = FreeView(yaw=view.yaw, pitch=view.pitch, roll=view.roll)
        self._rerender = True
        self.renderer.wake()

    def _on_packet(self, packet: bytes) -> None:
        try:
            arrival = self._stream.read(packet)
            if isinstance(arrival, KeyframeChunk):
                self.stats.add_bytes("keyframe", len(packet))
                if arrival.keyframe is not None:
                    self._on_keyframe(arrival)
            elif isinstance(arrival, MotionPacket):
                self._on_motion(arrival)
            else:
                self.stats.count("dropped_other")
        except BitstreamError as exc:
            log.warning("dropped a packet: %s", exc)
            self.stats.count("malformed")
        except ModelMismatchError as exc:
            if self.state.refuse(str(exc)):
                log.error("refused a keyframe: %s", exc)
            self.stats.count("keyframes_refused")
        self.renderer.wake()

    def _on_motion(self, arrival: MotionPacket) -> None:
        header = arrival.header
        self.stats.add_bytes("motion", len(arrival.data))
        if len(arrival.data) > MAX_MOTION_BYTES:
            self.stats.count("oversized")
            return
        now = clock_ms()
        if not self._clock.check(header.timestamp_ms, now):
            self.stats.count("implausible_timestamps")
            log.warning("dropped a motion packet stamped far off the stream's clock")
            return
        if plausible_latency(age := age_ms(header.timestamp_ms, now)):
            self.stats.stage("capture_to_arrival", age)
        sent = header.sequence, header.timestamp_ms, len(arrival.data), time.monotonic()
        if (report := self.link.motion(*sent)) is not None:
            self.send_control(control.link_message(report))
        if not self._jitter.push(header.sequence, arrival, time.monotonic() * 1000):
            self.stats.count("late_or_duplicate")
        if not self.has_keyframe:
            self._request("keyframe")

    def _on_keyframe(self, arrival: KeyframeChunk) -> None:
        assert arrival.keyframe is not None
        self.keyframe_bytes = arrival.payload_bytes
        self.state.keyframe_arrived(arrival.keyframe)  # ends a refusal: the model is right now
        # A re-sent keyframe keeps its old capture time; a forged one may claim any: the
        # keyframe's own pose is placed by the stream's clock when its stamp is off.
        stamp, now = arrival.header.timestamp_ms, clock_ms()
        self._keyframe_ms = (
            stamp if self._clock.plausible(stamp, now) else self._clock.expected(now)
        )

    def _request(self, what: str) -> None:
        now = time.monotonic()
        if now - self._last_request.get(what, -1e9) < REQUEST_INTERVAL_S:
            return
        if what == "keyframe" and not self.state.wants_keyframe():
            return  # one is coming, or asking would only bring the same model's keyframe
        self._last_request[what] = now
        message = (
            control.keyframe_request_message()
            if what == "keyframe"
            else control.intra_request_message()
        )
        self.send_control(message)
        self.stats.count(f"{what}_requests")

    # -- rendering, driven by the renderer ---------------------------------------------------------
    async def run(self) -> None:
        """Run this core's renderer until cancelled (a room runs its shared one instead)."""
        await self.renderer.run()

    def close(self) -> None:
        """The stream is gone for good: leave the renderer and close the sink."""
        if not self.closed:
            self.closed = True
            self.renderer.remove(self)
            self.sink.close()

    def deadline_ms(self) -> float | None:
        """When the jitter buffer next releases a packet (monotonic ms), if it holds one."""
        return self._jitter.deadline_ms()

    async def load_pending(self) -> None:
        """Load the keyframe that arrived, if one did (on the renderer's worker)."""
        if (load := self.state.start_load()) is not None:
            await self._load_keyframe(*load)

    async def _load_keyframe(self, keyframe: Keyframe, generation: int) -> None:
        start = time.perf_counter()
        features = None
        try:
            features = await self.renderer.run_on_worker(self._stream.load, keyframe)
        except BitstreamError as exc:
            log.warning("dropped a keyframe: %s", exc)
            self.stats.count("malformed")
            return
        finally:
            accepted = self.state.end_load(generation, features)
        if not accepted:
            log.info("discarded a keyframe of the previous stream")
            self.stats.count("keyframes_discarded")
            return
        self.stats.stage("keyframe", (time.perf_counter() - start) * 1000)
        self.stats.count("keyframes")
        if self._last is None:  # nothing shown yet: show the keyframe's own pose at once
            self._last = _Pose(None, self._keyframe_ms, keyframe.source_motion)
        self._rerender = True
        log.info("keyframe loaded (%d bytes)", self.keyframe_bytes)

    def next_job(self) -> RenderJob | None:
        """This tick's frame to rebuild, if any: the newest pose released by the jitter
        buffer, or the last one again (a new keyframe, a free-view change)."""
        newest = self._decode_ready()
        if newest is None and not (self._rerender and self._last is not None):
            return None
        self._rerender = False
        if newest is not None:
            header = newest.header
            self._last = _Pose(header.sequence, header.timestamp_ms, newest.params)
        features, generation = self.state.face()
        if features is None:
            if not self.has_keyframe:
                self._request("keyframe")
            return None
        assert self._last is not None
        return RenderJob(
            self, features, generation, self._last.params, self.view, self._last, newest is not None
        )

    def deliver(self, job: RenderJob, image: np.ndarray, render_ms: float) -> None:
        """The frame of ``job`` is rebuilt (``render_ms``: its batch's time): to the sink."""
        if self.closed:
            return
        self.stats.stage("render", render_ms)
        pose = job.pose
        frame = RenderedFrame(
            image, pose.sequence, pose.timestamp_ms, pose.params,
            age_ms(pose.timestamp_ms, clock_ms()), job.generation,
        )  # fmt: skip
        if job.fresh:
            if plausible_latency(frame.latency_ms):
                self.stats.stage("glass_to_glass", frame.latency_ms)
            self.stats.frame()
        start = time.perf_counter()
        self.sink.write(frame)
        self.stats.stage("sink", (time.perf_counter() - start) * 1000)

    def warm_up(self) -> None:
        """Run the keyframe path and one render once, before the call: the first run of a
        torch model allocates and plans, and the first real frame should not wait for that."""
        size = self.loaded.config.input_size
        crop = np.full((size, size, 3), 128, np.uint8)
        keyframe = make_keyframe(self.runtime, self.loaded.fingerprint, crop)
        self._stream.render(self._stream.load(keyframe), keyframe.source_motion, self.view)

    def _decode_ready(self) -> DecodedMotion | None:
        """Decode every packet the jitter buffer releases, in order; the newest decoded one."""
        now = time.monotonic() * 1000
        newest = None
        for released in self._jitter.pop_ready(now):
            # Arrival to release: the jitter buffer's hold plus the wait for the last render.
            self.stats.stage("buffer", now - released.arrival_ms)
            if released.skipped:
                self.stats.count("lost", released.skipped)
            try:
                newest = self._stream.decode_motion(released.packet)
            except MissingIntraError:  # the intra this packet is coded against was lost
                self.stats.count("missing_intra")
                self._request("intra")
            except BitstreamError as exc:
                log.warning("dropped a motion packet: %s", exc)
                self.stats.count("malformed")
        return newest

    def snapshot(self) -> dict[str, object]:
        """The stats message for viewers (INTERFACES)."""
        g2g = self.stats.all_stages.get("glass_to_glass", [])[-120:]
        return {
            "call": self.call_state,
            "model": dict(self.model),
            "fps": round(self.stats.fps(), 2),
            "motion_kbps": round(self.stats.kbps("motion"), 3),
            "keyframe_bytes": self.keyframe_bytes,
            "latency_ms_p50": float(np.percentile(g2g, 50)) if g2g else None,
            "latency_ms_p95": float(np.percentile(g2g, 95)) if g2g else None,
            "frames": self.stats.totals.get("frames", 0),
            "h264_kbps": None,
            "h264_source": "not measured by the receiver (the sender measures it with --h264-crf)",
        }
