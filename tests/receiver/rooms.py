"""Helpers for receiver tests: a room whose participants each get a recording sink."""

from __future__ import annotations

from support.recorder import Recorder
from vid2vid.receiver.room import ParticipantInfo, ReceiverRoom


class Recorders:
    """A sink factory: one :class:`Recorder` per participant, kept by label (and in order)."""

    def __init__(self) -> None:
        self.by_label: dict[str, Recorder] = {}
        self.made: list[tuple[ParticipantInfo, Recorder]] = []

    def __call__(self, info: ParticipantInfo) -> Recorder:
        sink = self.by_label[info.label] = Recorder()
        self.made.append((info, sink))
        return sink

    def frames(self) -> int:
        """Frames rendered from motion (not keyframe poses), every participant together."""
        return sum(
            1 for _, sink in self.made for frame in sink.frames if frame.sequence is not None
        )


def recording_room(loaded, runtime, **kwargs) -> tuple[ReceiverRoom, Recorders]:
    sinks = Recorders()
    return ReceiverRoom(loaded, runtime, sinks, **kwargs), sinks
