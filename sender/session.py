"""The sender's live loop: capture → worker thread → every receiver's transport.

One :class:`SenderSession` per stream. Capture fills a one-frame drop-oldest queue (a frame the
worker could not take in time is stale), the worker thread runs :class:`SendPipeline` (face
tracking, motion extraction, coding) so inference never blocks the event loop, and the packets
go to every receiver that has said hello: keyframe chunks on ``"control"``, motion on
``"motion"``. Receivers ask for the keyframe (late join, lost or refused keyframe) and for an
intra packet (a predicted packet lost its reference) over the control channel; requests are
rate-limited per receiver so a confused peer cannot make us spend the link on keyframes.
With ``SenderConfig.pack`` > 1 each receiver's motion goes through a
:class:`~vid2vid.call.pack.PackingTransport` (several frames per message).

With ``SenderConfig.adapt`` (the default) each receiver has an
:class:`~vid2vid.call.adapt.AdaptationPolicy` fed by its link reports: its level sets its pack
size and the rate its keyframes are paced at (:class:`~vid2vid.call.pacing.KeyframePacer`:
motion goes first), and the worst receiver's level sets the stream's motion quality and keyframe
setting (one encoder serves all). Where the full keyframe would take more than
:data:`PREVIEW_AFTER_S` at the receiver's pace, its small preview goes first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from vid2vid.call import control
from vid2vid.call.adapt import AdaptationConfig, AdaptationPolicy, QualityLevel, default_levels
from vid2vid.call.pacing import KeyframePacer
from vid2vid.call.pack import PackingTransport
from vid2vid.call.queue import LatestQueue, QueueClosed
from vid2vid.call.stats import CallStats, age_ms
from vid2vid.call.transport import Channel, Message, PacketTransport
from vid2vid.call.wire import RateMeter
from vid2vid.sender.capture import Capture, CapturedFrame
from vid2vid.sender.pipeline import FrameResult, SendPipeline

log = logging.getLogger(__name__)

#: A receiver gets the keyframe again at most this often on request.
KEYFRAME_RESEND_S = 0.5
#: A receiver whose full keyframe would take longer than this at its pace gets the preview first.
PREVIEW_AFTER_S = 0.5
#: A better stream level must hold this long before the face is sent again at its keyframe
#: setting: a step up that fails (a probe of a path at its limit) then costs no keyframe.
REFINE_AFTER_S = 4.0
#: How far back a receiver's report baseline reaches (LinkReporter.base_window_s), with margin.
BASELINE_S = 11.0
#: The most latency adaptive packing may add to a frame (see SenderSession._bounded_pack).
MAX_PACK_DELAY_MS = 200.0


@dataclass
class _Peer:
    transport: PacketTransport
    greeted: bool = False
    last_keyframe_s: float = -1e9
    waiter: asyncio.Task | None = None
    policy: AdaptationPolicy | None = None
    pacer: KeyframePacer | None = None
    packing: PackingTransport | None = None
    refining: bool = False  # the pacer holds a refinement (a better copy of the face in use)
    keyframes_sent: int = 0
    packs: list[tuple[float, int]] = field(default_factory=list)  # (monotonic s, pack size)


class SenderSession:
    """Runs one stream to any number of receivers; see the module docstring."""

    def __init__(
        self,
        pipeline: SendPipeline,
        capture: Capture,
        stats: CallStats | None = None,
        adaptation: AdaptationConfig | None = None,
    ):
        self.pipeline = pipeline
        self.capture = capture
        self.stats = stats or CallStats()
        self._peers: dict[str, _Peer] = {}
        self._queue: LatestQueue[CapturedFrame] = LatestQueue(1)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="motion")
        self._frame_listeners: list[Callable[[CapturedFrame], None]] = []
        self.ended = asyncio.Event()
        self._wire_meters = (RateMeter(), RateMeter())
        config = pipeline.config
        self.adaptation = adaptation or AdaptationConfig()
        self.levels: tuple[QualityLevel, ...] = default_levels(
            config.quality, config.pack, config.keyframe, config.image_quality
        )
        self._stream_level: int | None = None
        self._refine_at: float | None = None  # when to send the face again, at a better level

    def on_frame(self, listener: Callable[[CapturedFrame], None]) -> None:
        """Call ``listener`` with every captured frame, on the event loop (the --preview track)."""
        self._frame_listeners.append(listener)

    # -- receivers -----------------------------------------------------------------------------
    def add_peer(self, peer_id: str, transport: PacketTransport) -> None:
        """Stream to ``transport`` from the next frame on (hello, keyframe, intra first)."""
        config = self.pipeline.config
        if config.adapt:
            policy = AdaptationPolicy(self.levels, self.adaptation, time.monotonic())
            pack = self._bounded_pack(policy.current.pack)
            packing = PackingTransport(transport, pack, self._pack_wait_ms(pack))
            peer = self._peers[peer_id] = _Peer(packing, policy=policy, packing=packing)
            peer.packs.append((time.monotonic(), pack))
            level = policy.current
            buffered = getattr(transport, "buffered", None)
            peer.pacer = KeyframePacer(
                lambda chunk: packing.send("control", chunk),
                level.keyframe_kbps,
                backlog=(lambda: buffered("control")) if callable(buffered) else lambda: 0,
            )
            self._set_stream_level()
        else:
            if config.pack > 1:
                wait_ms = self._pack_wait_ms(config.pack)
                transport = PackingTransport(transport, config.pack, max_wait_ms=wait_ms)
            peer = self._peers[peer_id] = _Peer(transport)
        transport.set_handler(lambda channel, message: self._on_message(peer_id, channel, message))
        opened = getattr(transport, "opened", None)  # a data channel opens later: greet then
        if isinstance(opened, asyncio.Event) and not opened.is_set():
            peer.waiter = asyncio.get_running_loop().create_task(self._greet_when(opened))
        self._greet_ready()

    async def _greet_when(self, opened: asyncio.Event) -> None:
        await opened.wait()
        self._greet_ready()

    def _bounded_pack(self, pack: int) -> int:
        """A level's pack size, cut so packing adds at most :data:`MAX_PACK_DELAY_MS`.

        N frames per message delay each frame by up to N - 1 frame intervals: at 25 fps every
        level's pack fits, but at a few fps (a low capture rate, a starved CPU) pack 5 would add
        seconds (the 30-minute soak at 2.5 fps measured 1.8-2.2 s glass-to-glass, mostly that).
        """
        frame_ms = 1000.0 / self.pipeline.fps
        return max(1, min(pack, 1 + int(MAX_PACK_DELAY_MS // frame_ms)))

    def _pack_wait_ms(self, size: int) -> float:
        """A partial pack goes out half a frame after the pack should have filled."""
        return (size + 0.5) * 1000 / self.pipeline.fps

    def remove_peer(self, peer_id: str) -> None:
        peer = self._peers.pop(peer_id, None)
        if peer is not None:
            if peer.waiter is not None:
                peer.waiter.cancel()
            if peer.pacer is not None:
                peer.pacer.close()
            peer.transport.close()
            if peer.policy is not None:
                self._set_stream_level()

    def peer_levels(self) -> dict[str, list[tuple[float, int, str]]]:
        """Each adapting receiver's level changes: (monotonic s, level, reason)."""
        return {
            peer_id: [(c.at_s, c.level, c.reason) for c in peer.policy.history]
            for peer_id, peer in self._peers.items()
            if peer.policy is not None
        }

    # -- adaptation ----------------------------------------------------------------------------
    def _on_report(self, peer: _Peer, report: control.LinkReport) -> None:
        log.debug("link report: %s", report)
        if peer.policy is None:
            return
        now = time.monotonic()
        extra = self._pack_delay_ms(peer, now)
        if extra:
            report = replace(report, delay_ms=max(0.0, report.delay_ms - extra))
        if peer.policy.on_report(report, now) is not None:
            self._apply_level(peer)

    def _pack_delay_ms(self, peer: _Peer, now: float) -> float:
        """How much of a report's queuing delay our own packing made: N frames per message add
        N - 1 frame intervals to every packet's transit, and the receiver's baseline may still
        be the smallest transit of a smaller pack size (for up to :data:`BASELINE_S`)."""
        if not peer.packs:
            return 0.0
        recent = [pack for at, pack in peer.packs if at >= now - BASELINE_S]
        before = [pack for at, pack in peer.packs if at < now - BASELINE_S][-1:]
        smallest = min(recent + before)
        return (peer.packs[-1][1] - smallest) * 1000 / self.pipeline.fps

    def _tick(self) -> None:
        now = time.monotonic()
        for peer in self._peers.values():
            if peer.policy is not None and peer.policy.tick(now) is not None:
                self._apply_level(peer)
        if self._refine_at is not None and now >= self._refine_at:
            self._refine_at = None
            self.pipeline.request_refinement()

    def _apply_level(self, peer: _Peer) -> None:
        """The receiver's new level: its pack size and keyframe pace; then the stream's."""
        assert peer.policy is not None
        level = peer.policy.current
        now = time.monotonic()
        pack = self._bounded_pack(level.pack)
        if peer.packing is not None and peer.packing.size != pack:
            peer.packing.resize(pack, self._pack_wait_ms(pack))
            peer.packs = [p for p in peer.packs if p[0] >= now - 2 * BASELINE_S]
            peer.packs.append((now, pack))
        history = peer.policy.history
        down = len(history) > 1 and history[-1].level > history[-2].level
        if peer.pacer is not None:
            peer.pacer.rate_kbps = level.keyframe_kbps
            if down and peer.refining and peer.pacer.pending:
                # The path got worse while a better copy of the face travelled: the receiver
                # keeps the one it has, and gets the better copy when the path recovers.
                peer.pacer.replace([])
                peer.refining = False
                self.pipeline.refinement_dropped()
                log.info("dropped a keyframe refinement on the way: the path got worse")
        self._set_stream_level()

    def _set_stream_level(self) -> None:
        """The worst receiver's level codes the stream; a better one that holds for
        :data:`REFINE_AFTER_S` refines the keyframe."""
        levels = [p.policy.level for p in self._peers.values() if p.policy is not None]
        if not levels:
            return
        worst = max(levels)
        if worst == self._stream_level:
            return
        improved = self._stream_level is not None and worst < self._stream_level
        self._stream_level = worst
        self.pipeline.set_level(self.levels[worst])
        self._refine_at = time.monotonic() + REFINE_AFTER_S if improved else None

    @property
    def peer_count(self) -> int:
        return len(self._peers)

    def _greet_ready(self) -> None:
        for peer in self._peers.values():
            if not peer.greeted and peer.transport.is_open:
                loaded = self.pipeline.loaded
                peer.transport.send(
                    "control",
                    control.hello_message(
                        self.pipeline.fps, loaded.fingerprint, loaded.config.name
                    ),
                )
                peer.greeted = True
                self._send_keyframe(peer)
                self.pipeline.request_intra()

    def _send_keyframe(self, peer: _Peer) -> None:
        chunks = self.pipeline.current_keyframe()
        if not chunks:
            return  # none yet: it goes to everyone with the first face
        self._send_keyframe_chunks(peer, chunks, self.pipeline.current_preview(), urgent=True)

    def _send_keyframe_chunks(
        self,
        peer: _Peer,
        full: list[bytes],
        preview: list[bytes] | None,
        refinement: bool = False,
        urgent: bool = False,
    ) -> None:
        """``full`` to ``peer``, paced where it adapts (its preview first if the full one
        would take long), at once otherwise. Chunks of an older keyframe still waiting go.

        ``urgent`` (the receiver has no face: it joined, or asked): the first keyframe, the
        preview where there is one, goes at once: until it is in, motion cannot be shown
        anyway, so it has nothing to wait for."""
        peer.last_keyframe_s = time.monotonic()
        peer.refining = refinement
        urgent = urgent or peer.keyframes_sent == 0
        peer.keyframes_sent += 1
        if peer.pacer is None:
            chunks = full
            for chunk in chunks:
                peer.transport.send("control", chunk)
        else:
            seconds = sum(map(len, full)) * 8 / (peer.pacer.rate_kbps * 1000)
            first, rest = (preview, full) if preview and seconds > PREVIEW_AFTER_S else (full, [])
            chunks = first + rest
            if urgent:
                peer.pacer.replace([])
                for chunk in first:
                    peer.transport.send("control", chunk)
                peer.pacer.push(rest)
            else:
                peer.pacer.replace(chunks)
        self.stats.add_bytes("keyframe", sum(map(len, chunks)))

    def _on_message(self, peer_id: str, channel: Channel, message: Message) -> None:
        peer = self._peers.get(peer_id)
        if peer is None or channel != "control" or not isinstance(message, str):
            return  # receivers send only control JSON; anything else is ignored
        request = control.parse_control(message)
        if isinstance(request, control.KeyframeRequest):
            if time.monotonic() - peer.last_keyframe_s >= KEYFRAME_RESEND_S:
                log.info("receiver %s asked for the keyframe", peer_id)
                self._send_keyframe(peer)
            self.pipeline.request_intra()
        elif isinstance(request, control.IntraRequest):
            self.pipeline.request_intra()
        elif isinstance(request, control.LinkReport):
            self._on_report(peer, request)

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Stream until the source ends (a file without --loop); then tell every receiver."""
        capture = asyncio.create_task(self._capture(), name="capture")
        try:
            await self._process()
            await capture  # re-raises a capture error (camera gone, unreadable file)
        finally:
            capture.cancel()
            self._worker.shutdown(wait=False, cancel_futures=True)
        for peer in self._peers.values():
            if isinstance(peer.transport, PackingTransport):
                peer.transport.flush()  # the last frames before the end
            peer.transport.send("control", control.end_message())
        self.ended.set()

    async def _capture(self) -> None:
        try:
            async for frame in self.capture.frames():
                self._queue.put(frame)
                for listener in self._frame_listeners:
                    listener(frame)
        finally:
            self._queue.close()

    async def _process(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await self._queue.get()
            except QueueClosed:
                return
            queued_ms = age_ms(frame.timestamp_ms)
            result = await loop.run_in_executor(self._worker, self.pipeline.process, frame)
            self.stats.stage("queue", queued_ms)
            for stage, ms in result.ms.items():
                self.stats.stage(stage, ms)
            self._fan_out(result)
            self.stats.stage("capture_to_send", age_ms(frame.timestamp_ms))

    def _fan_out(self, result: FrameResult) -> None:
        self._tick()
        if result.keyframe:
            for peer in self._peers.values():
                if peer.greeted:
                    self._send_keyframe_chunks(
                        peer, result.keyframe, result.preview, result.refinement
                    )
        self._greet_ready()  # after the broadcast: a new peer gets the new keyframe once
        if result.motion is not None:
            for peer in self._peers.values():
                if peer.greeted:
                    peer.transport.send("motion", result.motion)
            self.stats.add_bytes("motion", len(result.motion))
            self.stats.frame()
            if result.h264_bytes is not None:
                self.stats.add_bytes("h264", result.h264_bytes)
        else:
            self.stats.count("frames_without_face")

    def snapshot(self) -> dict[str, object]:
        """The stats message for viewers (INTERFACES: fps, motion_kbps, keyframe_bytes, ms)."""
        snap = self.stats.snapshot()
        source = self.pipeline.h264_source
        return {
            "fps": snap["fps"],
            "motion_kbps": self.stats.kbps("motion"),
            "keyframe_bytes": self.pipeline.keyframe_bytes,
            "ms_per_stage": snap["ms_per_stage"],
            "receivers": len(self._peers),
            "levels": {
                peer_id: peer.policy.current.name
                for peer_id, peer in self._peers.items()
                if peer.policy is not None
            },
            "h264_kbps": None if source is None else self.stats.kbps("h264"),
            "h264_source": source
            or "not measured: start vid2vid-send with --h264-crf or --preview",
            **self._wire_kbps(),
        }

    def _wire_kbps(self) -> dict[str, float | None]:
        """What the calls cost on the wire (IP/UDP in) since the last snapshot, to all
        receivers and back from them; None until two readings exist."""
        sent = received = 0
        for peer in self._peers.values():
            counts = getattr(peer.transport, "wire", lambda: None)()
            if counts is not None:
                sent += counts[0].ip_bytes
                received += counts[1].ip_bytes
        now = time.monotonic()
        forward, back = self._wire_meters
        return {"wire_kbps": forward.kbps(sent, now), "wire_return_kbps": back.kbps(received, now)}
