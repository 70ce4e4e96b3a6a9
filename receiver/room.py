"""A receiver's view of a room: one stream per remote participant, rendered together.

Each remote participant that sends has a :class:`Participant`: its own
:class:`~vid2vid.receiver.core.ReceiverCore` (jitter buffer, stream decoder, state machine,
timestamp window, statistics) and its own sink, made for it by the room's
:data:`SinkFactory` (a file per participant for ``--out``, a tile's video track for
``--serve``). Nothing a participant sends reaches another participant's core or sink. All the
cores share one :class:`~vid2vid.receiver.render.Renderer`, so every tick's frames are rebuilt
in one batched decode.

A participant keeps its slot while it reconnects (the same call under a new connection or peer
id: its file goes on, its tile stays, showing the last frame and "reconnecting"); leaving
frees the slot: its sink is closed, it drops out of the snapshot (the page removes its tile)
and its tile index is free for the next participant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vid2vid.call import control
from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.keypoints import FreeView
from vid2vid.codec.stream import Runtime
from vid2vid.errors import ConfigError
from vid2vid.receiver.core import FrameSink, ReceiverCore, model_summary
from vid2vid.receiver.render import Renderer

log = logging.getLogger(__name__)

#: Remote participants one receiver renders at most, by default (a room holds 8 peers by
#: default; a mesh of 16 is what the motion streams' rates allow).
DEFAULT_MAX_PARTICIPANTS = 16


@dataclass(frozen=True)
class ParticipantInfo:
    """Who a slot is for: ``slot`` is unique for the receiver's lifetime, ``label`` names its
    file and tile (the name it joined with, else ``peer-<peer id>``), ``tile`` is its place in
    the grid and its video track's index (the lowest free one)."""

    slot: int
    label: str
    tile: int


#: Makes a participant's sink when it joins; the sink is closed when it leaves.
SinkFactory = Callable[[ParticipantInfo], FrameSink]


def participant_label(name: str | None, peer_id: str) -> str:
    """The label of a participant: its name, or one derived from its peer id."""
    return name if name else f"peer-{peer_id}"


@dataclass
class Participant:
    """One remote participant's slot: its info, its core (stream, stats) and its sink."""

    info: ParticipantInfo
    core: ReceiverCore
    sink: FrameSink


class ReceiverRoom:
    """The participants a receiver renders; see the module docstring."""

    def __init__(
        self,
        loaded: LoadedModel,
        runtime: Runtime,
        sinks: SinkFactory,
        *,
        view: FreeView | None = None,
        hold_ms: float = 30.0,
        max_participants: int = DEFAULT_MAX_PARTICIPANTS,
    ) -> None:
        if max_participants < 1:
            raise ConfigError(f"max_participants must be at least 1, got {max_participants}")
        self.loaded = loaded
        self.runtime = runtime
        self.model = model_summary(loaded)
        self.sinks = sinks
        self.view = view or FreeView()
        self.hold_ms = hold_ms
        self.max_participants = max_participants
        self.renderer = Renderer(loaded, runtime)
        self._participants: dict[int, Participant] = {}
        self._next_slot = 0
        self.left: list[ParticipantInfo] = []  # who has left, in order (for reports and tests)
        self.joined = 0  # participants that ever had a slot
        self._left_frames = 0
        self._left_latencies: list[float] = []

    # -- slots ---------------------------------------------------------------------------------
    @property
    def participants(self) -> tuple[Participant, ...]:
        return tuple(self._participants.values())

    @property
    def full(self) -> bool:
        return len(self._participants) >= self.max_participants

    def participant(self, slot: int) -> Participant | None:
        return self._participants.get(slot)

    def join(self, label: str) -> Participant:
        """A new participant's slot, its core on the shared renderer and its sink."""
        if self.full:
            raise ConfigError(f"the room is full: {self.max_participants} participants")
        used = {p.info.tile for p in self._participants.values()}
        tile = next(i for i in range(self.max_participants + 1) if i not in used)
        info = ParticipantInfo(self._next_slot, label, tile)
        self._next_slot += 1
        sink = self.sinks(info)
        core = ReceiverCore(
            self.loaded, self.runtime, sink, view=self.view, hold_ms=self.hold_ms,
            renderer=self.renderer,
        )  # fmt: skip
        participant = self._participants[info.slot] = Participant(info, core, sink)
        self.joined += 1
        log.info("participant %s joined (tile %d)", label, tile)
        return participant

    def leave(self, slot: int) -> None:
        """Free the slot: its core leaves the renderer and its sink is closed."""
        participant = self._participants.pop(slot, None)
        if participant is not None:
            participant.core.close()
            self.left.append(participant.info)
            stats = participant.core.stats
            self._left_frames += stats.totals.get("frames", 0)
            self._left_latencies += stats.all_stages.get("glass_to_glass", [])
            log.info("participant %s left; slot freed", participant.info.label)

    def close(self) -> None:
        for slot in list(self._participants):
            self.leave(slot)

    # -- the room as a whole -------------------------------------------------------------------
    async def run(self) -> None:
        """Render every participant's stream until cancelled."""
        await self.renderer.run()

    def set_view(self, view: control.View) -> None:
        """Free view (a viewer's sliders): every participant's head turns."""
        self.view = FreeView(yaw=view.yaw, pitch=view.pitch, roll=view.roll)
        for participant in self._participants.values():
            participant.core.set_view(view)

    def warm_up(self) -> None:
        """The keyframe path and one batched render once before the call (the first run of a
        torch model allocates and plans)."""
        from vid2vid.codec.stream import StreamDecoder, make_keyframe
        from vid2vid.receiver.render import Pose, render_batch

        size = self.loaded.config.input_size
        crop = np.full((size, size, 3), 128, np.uint8)
        keyframe = make_keyframe(self.runtime, self.loaded.fingerprint, crop)
        features = StreamDecoder(self.loaded, self.runtime).load(keyframe)
        render_batch(self.loaded, self.runtime, [Pose(features, keyframe.source_motion, self.view)])

    @property
    def call_state(self) -> str:
        """``live`` if any participant is, else ``reconnecting`` if any is, else ``waiting``."""
        states = {p.core.call_state for p in self._participants.values()}
        for state in ("live", "reconnecting"):
            if state in states:
                return state
        return "waiting"

    def total_frames(self) -> int:
        """Frames rendered from motion, every participant together (those who left too)."""
        here = sum(p.core.stats.totals.get("frames", 0) for p in self._participants.values())
        return here + self._left_frames

    def all_latencies(self) -> list[float]:
        """Every glass-to-glass latency measured, every participant together."""
        here = [
            ms
            for p in self._participants.values()
            for ms in p.core.stats.all_stages.get("glass_to_glass", [])
        ]
        return self._left_latencies + here

    def snapshot(self) -> dict[str, object]:
        """The stats message for viewers: the room's totals (the fields a one-stream receiver
        always sent) and one entry per participant, in tile order."""
        entries = []
        for participant in sorted(self._participants.values(), key=lambda p: p.info.tile):
            snap = participant.core.snapshot()
            entries.append(
                {
                    "slot": participant.info.slot,
                    "name": participant.info.label,
                    "tile": participant.info.tile,
                    "call": snap["call"],
                    "fps": snap["fps"],
                    "motion_kbps": snap["motion_kbps"],
                    "keyframe_bytes": snap["keyframe_bytes"],
                    "latency_ms_p50": snap["latency_ms_p50"],
                    "latency_ms_p95": snap["latency_ms_p95"],
                    "frames": snap["frames"],
                }
            )
        latencies = [e["latency_ms_p50"] for e in entries if e["latency_ms_p50"] is not None]
        p95 = [e["latency_ms_p95"] for e in entries if e["latency_ms_p95"] is not None]
        return {
            "call": self.call_state,
            "model": dict(self.model),
            "fps": round(sum(float(e["fps"]) for e in entries), 2),  # type: ignore[arg-type]
            "motion_kbps": round(sum(float(e["motion_kbps"]) for e in entries), 3),  # type: ignore[arg-type]
            "keyframe_bytes": max((int(e["keyframe_bytes"]) for e in entries), default=0),  # type: ignore[call-overload]
            "latency_ms_p50": max(latencies) if latencies else None,
            "latency_ms_p95": max(p95) if p95 else None,
            "frames": sum(int(e["frames"]) for e in entries),  # type: ignore[call-overload]
            "participants": entries,
            "h264_kbps": None,
            "h264_source": "not measured by the receiver (the sender measures it with --h264-crf)",
        }


def participant_path(out: Path, label: str, taken: set[Path]) -> Path:
    """``out`` with ``-label`` before its suffix (``call.mp4`` -> ``call-alice.mp4``); a path
    already written in this run gets ``-2``, ``-3``, ... so no participant's file is lost."""
    candidate = out.with_name(f"{out.stem}-{label}{out.suffix}")
    n = 2
    while candidate in taken:
        candidate = out.with_name(f"{out.stem}-{label}-{n}{out.suffix}")
        n += 1
    taken.add(candidate)
    return candidate
