"""Where rebuilt frames go: a file (PyAV), a window (OpenCV) or browsers (a WebRTC track).

The file keeps the sender's timeline: a frame's place in the file follows its capture
timestamp at the stream's frame rate, and frames that never came (lost packets, frames the
renderer skipped to keep up) are filled with the last frame, so a lost packet holds the last
pose and a minute of call is a minute of video.

The timeline advances by each frame's signed 24-bit distance from the previous frame (a
frame from before the previous one steps 0: it is a re-render of a written slot), not by the
distance from the first frame, which the 24-bit wire timestamp cannot tell past 2^23 ms
(about 2 h 20 min) of call.

Timestamps are a stream's own: each new stream (a new sender connection, ``frame.stream``)
starts its own timeline after the frames already written, with the time the call was held
(a reconnection) filled with the last frame, up to :data:`MAX_FILL_S`. A stamp far behind the
previous one (:data:`MAX_BACK_S`) (a clock that jumped back, a forged stamp that slipped through) restarts the
stream's timeline instead of leaving every later frame "older" than it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from vid2vid.call.media import LatestFrameTrack
from vid2vid.codec.bitstream.header import timestamp_distance
from vid2vid.codec.video import VideoWriter
from vid2vid.errors import InputError
from vid2vid.receiver.core import FrameSink, RenderedFrame

log = logging.getLogger(__name__)

#: A gap longer than this (a sender that paused) is not filled; the file just goes on.
MAX_FILL_S = 10.0
#: A frame stamped this far behind the previous one is not a late frame (the jitter buffer
#: releases in order; re-renders step 0) but a clock that restarted: its timeline restarts.
MAX_BACK_S = 60.0


class FileSink:
    """An H.264 mp4 on the capture timeline, at ``fps``: a number, or a callable asked at the
    first frame (the receiver passes the sender's rate from its hello; None means 25).
    ``clock`` (seconds, monotonic) measures how long a reconnection held the picture."""

    def __init__(
        self,
        path: str | Path,
        fps: float | Callable[[], float | None] = 25.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._fps_source = fps
        self._clock = clock
        self.fps = 25.0
        self._writer: VideoWriter | None = None
        self._stream: int | None = None  # the stream whose timeline is running
        self._previous_ms = 0  # the newest frame's wire timestamp in that stream
        self._timeline_ms = 0.0  # where that frame lies on the file's timeline
        self._written = 0
        self._written_at = 0.0  # the clock when the last slot was written
        self._last = None
        self.frames = 0
        self.restarts = 0

    def write(self, frame: RenderedFrame) -> None:
        if self._writer is None:
            fps = self._fps_source() if callable(self._fps_source) else self._fps_source
            self.fps = fps or 25.0
            height, width = frame.image.shape[:2]
            self._writer = VideoWriter(self.path, self.fps, (width, height))
        if frame.stream != self._stream:
            self._start_stream(frame, held=self._stream is not None)
        step = timestamp_distance(frame.timestamp_ms, self._previous_ms)
        if step < -MAX_BACK_S * 1000:  # far behind: this stream's clock restarted
            log.warning("a frame stamped %.0f s back: restarting the timeline", -step / 1000)
            self.restarts += 1
            self._start_stream(frame, held=False)
        elif step > 0:  # an older frame (step < 0) does not move the timeline back
            self._timeline_ms += step
            self._previous_ms = frame.timestamp_ms
        index = round(self._timeline_ms * self.fps / 1000)
        if index < self._written:  # a re-render (view change) of a slot already written
            self._last = frame.image
            return
        gap = index - self._written
        if gap > MAX_FILL_S * self.fps:  # the sender paused: restart the timeline here
            self._timeline_ms = self._written * 1000 / self.fps
            gap = 0
        self._put(frame.image, gap)

    def _start_stream(self, frame: RenderedFrame, held: bool) -> None:
        """Anchor ``frame.stream``'s timeline at the next slot, after the held time."""
        slot = self._written
        if held and self._written:
            held_slots = round((self._clock() - self._written_at) * self.fps) - 1
            slot += min(max(held_slots, 0), round(MAX_FILL_S * self.fps))
        self._stream = frame.stream
        self._previous_ms = frame.timestamp_ms
        self._timeline_ms = slot * 1000 / self.fps

    def _put(self, image, gap: int) -> None:
        assert self._writer is not None
        for _ in range(gap if self._last is not None else 0):
            self._writer.write(self._last)
        self._writer.write(image)
        self._written += gap + 1 if self._last is not None else 1
        self._written_at = self._clock()
        self._last = image
        self.frames = self._written

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            log.info("wrote %d frames to %s", self._written, self.path)


class WindowSink:
    """An OpenCV window; needs an OpenCV with GUI support (not opencv-python-headless)."""

    def __init__(self, title: str = "vid2vid") -> None:
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise InputError(
                "--show needs OpenCV with GUI support; this one is headless "
                "(pip install opencv-python), or use --out / --serve"
            ) from None

    def write(self, frame: RenderedFrame) -> None:
        cv2.imshow(self.title, frame.image)
        cv2.waitKey(1)

    def close(self) -> None:
        cv2.destroyWindow(self.title)


class TrackSink:
    """Feeds the browsers' video track (``--serve``): one participant's tile. Closed (the
    participant left), the tile goes black, so the next participant in it never shows the
    last one's face."""

    def __init__(self, track: LatestFrameTrack) -> None:
        self.track = track
        self._shape: tuple[int, ...] | None = None

    def write(self, frame: RenderedFrame) -> None:
        self._shape = frame.image.shape
        self.track.push(frame.image)

    def close(self) -> None:
        if self._shape is not None:
            self.track.push(np.zeros(self._shape, np.uint8))


class Sinks:
    """Several sinks as one; a sink that fails is logged and dropped, the others go on."""

    def __init__(self, sinks: list[FrameSink]) -> None:
        self.sinks = list(sinks)

    def write(self, frame: RenderedFrame) -> None:
        for sink in list(self.sinks):
            try:
                sink.write(frame)
            except InputError as exc:
                log.error("%s", exc)
                self.sinks.remove(sink)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
