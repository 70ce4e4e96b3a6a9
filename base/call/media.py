"""A WebRTC video track that plays whatever frame was pushed last (browsers' view of a call).

The receiver's ``--serve`` pushes every rebuilt frame into one; the sender's ``--preview``
pushes the camera frames. ``recv`` paces itself at ``fps`` and repeats the last frame when no
new one came (a held pose stays on screen), scaled to ``size`` pixels on the long side so the
browser gets the 512 px picture even from the tiny model.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_CLOCK_RATE = 90000


class LatestFrameTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, fps: float = 25.0, size: int = 512) -> None:
        super().__init__()
        self.fps = fps
        self.size = size
        self._image: np.ndarray | None = None
        self._start: float | None = None
        self._pts = 0

    def push(self, image_bgr: np.ndarray) -> None:
        self._image = image_bgr

    def _scaled(self) -> np.ndarray:
        image = self._image
        if image is None:
            return np.zeros((self.size, self.size, 3), np.uint8)
        height, width = image.shape[:2]
        factor = self.size / max(height, width)
        if factor != 1.0:
            size = (max(2, round(width * factor) // 2 * 2), max(2, round(height * factor) // 2 * 2))
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        return image

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += round(VIDEO_CLOCK_RATE / self.fps)
            due = self._start + self._pts / VIDEO_CLOCK_RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(self._scaled()), format="bgr24")
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        return frame
