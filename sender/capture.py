"""Frames in: a camera through OpenCV or a video file through PyAV, stamped on the capture clock.

Reading blocks (a camera waits for the sensor, a file decodes), so each source reads on its own
thread and hands frames to the event loop. A file is paced at its own frame rate, as a camera
would deliver it, and can loop; its frames are stamped with the wall time at which they are
due, so the receiver's file timeline and latency figures are those of a live camera.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from vid2vid.call.stats import clock_ms
from vid2vid.codec.video import VideoReader
from vid2vid.errors import InputError

log = logging.getLogger(__name__)

#: A camera that does not say its frame rate is taken to run at this one.
DEFAULT_CAMERA_FPS = 30.0


@dataclass(frozen=True, eq=False)
class CapturedFrame:
    """One frame (``H x W x 3`` BGR uint8) and when it was captured (:func:`clock_ms`)."""

    index: int
    timestamp_ms: int
    image: np.ndarray


class Capture(Protocol):
    fps: float

    def frames(self) -> AsyncIterator[CapturedFrame]: ...

    def close(self) -> None: ...


class FileCapture:
    """A video file played in real time, optionally looping; opening checks the file."""

    def __init__(self, path: str | Path, loop: bool = False, pace: bool = True) -> None:
        self.path = Path(path)
        self._reader = VideoReader(self.path)  # InputError: missing, unreadable, no video
        self.fps = self._reader.fps
        self.loop = loop
        self.pace = pace
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="capture")

    async def frames(self) -> AsyncIterator[CapturedFrame]:
        loop = asyncio.get_running_loop()
        start_wall, start_mono = clock_ms(), time.monotonic()
        offset_s, index = 0.0, 0
        while True:
            iterator = iter(self._reader)
            last_time = 0.0
            while True:
                frame = await loop.run_in_executor(self._thread, next, iterator, None)
                if frame is None:
                    break
                last_time = frame.time
                due_s = offset_s + frame.time
                if self.pace:
                    await asyncio.sleep(max(0.0, start_mono + due_s - time.monotonic()))
                yield CapturedFrame(index, start_wall + round(due_s * 1000), frame.image)
                index += 1
            if index == 0:
                raise InputError(f"video {self.path} has no frames")
            if not self.loop:
                return
            offset_s += last_time + 1.0 / self.fps

    def close(self) -> None:
        # Let a read in progress finish first: closing the container under the decoding
        # thread crashes FFmpeg.
        self._thread.shutdown(wait=True, cancel_futures=True)
        self._reader.close()


class CameraCapture:
    """An OpenCV camera; a camera that cannot be opened or read is an :class:`InputError`."""

    def __init__(self, index: int) -> None:
        self.index = index
        # OpenCV prints a warning per backend it tries; our one-line error says it all.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        self._camera = cv2.VideoCapture(index)
        if not self._camera.isOpened():
            self._camera.release()
            raise InputError(f"cannot open camera {index}")
        fps = float(self._camera.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 240.0 else DEFAULT_CAMERA_FPS
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="camera")

    async def frames(self) -> AsyncIterator[CapturedFrame]:
        loop = asyncio.get_running_loop()
        index = 0
        while True:
            ok, image = await loop.run_in_executor(self._thread, self._camera.read)
            if not ok or image is None:
                raise InputError(f"camera {self.index} stopped delivering frames")
            yield CapturedFrame(index, clock_ms(), image)
            index += 1

    def close(self) -> None:
        self._thread.submit(self._camera.release)
        self._thread.shutdown(wait=False)


def open_capture(camera: int | None, video: Path | None, loop: bool = False) -> Capture:
    """The source the command line names: exactly one of a camera index and a video file."""
    if (camera is None) == (video is None):
        raise InputError("give exactly one of --camera and --video")
    if video is not None:
        return FileCapture(video, loop=loop)
    assert camera is not None
    return CameraCapture(camera)
