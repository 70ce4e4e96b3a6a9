"""A receiver sink for tests: keeps every frame the receiver hands out."""

from __future__ import annotations

from vid2vid.receiver.core import RenderedFrame


class Recorder:
    """Sink protocol (``write``, ``close``) over a plain list."""

    def __init__(self) -> None:
        self.frames: list[RenderedFrame] = []
        self.closed = False

    def write(self, frame: RenderedFrame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        self.closed = True
