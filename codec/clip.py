"""A video as the model sees it: the tracked, cropped face of every frame, with its timestamp."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vid2vid.codec.face import CropConfig, FaceTracker
from vid2vid.codec.video import VideoReader
from vid2vid.errors import InputError


@dataclass(frozen=True)
class FaceCrop:
    """One frame's face crop (``size x size x 3`` BGR uint8) and its capture time in ms.

    ``reframed`` is True where the crop starts a new framing (the first face, or a held crop
    that jumped to a face that left it): a sender renews its keyframe there.
    """

    index: int
    timestamp_ms: int
    image: np.ndarray
    reframed: bool = False


class FaceClip:
    """Opens a video and yields its face crops; errors name the file and the frame.

    ``fps`` and ``frame_count`` (``None`` when the container does not say, capped by
    ``max_frames``) are known before iterating, so callers can size progress bars.
    """

    def __init__(
        self, path: str | Path, size: int, max_frames: int | None = None, *, track: bool = True
    ) -> None:
        self.path = Path(path)
        self.track = track
        self._reader = VideoReader(self.path)
        self._size = size
        self._max_frames = max_frames
        self.fps: float = self._reader.fps
        count = self._reader.frame_count
        self.frame_count = count if max_frames is None else min(max_frames, count or max_frames)

    def __iter__(self) -> Iterator[FaceCrop]:
        tracker = FaceTracker(CropConfig(output_size=self._size))
        with self._reader:
            for index, frame in enumerate(self._reader):
                if self._max_frames is not None and index >= self._max_frames:
                    return
                if not self.track:
                    yield FaceCrop(
                        index, round(frame.time * 1000), self._as_crop(frame.image), index == 0
                    )
                    continue
                result = tracker.update(frame.image)
                if result.crop is None:
                    raise InputError(f"no face found in {self.path} at frame {index}")
                yield FaceCrop(index, round(frame.time * 1000), result.crop, result.reacquired)

    def _as_crop(self, image: np.ndarray) -> np.ndarray:
        """A frame that is already a face crop, resized to the model's size (no tracking)."""
        height, width = image.shape[:2]
        if abs(height - width) > 1:
            raise InputError(
                f"{self.path} is {width}x{height}: an input taken as a face crop as it is must "
                "be square (use face tracking instead)"
            )
        if (height, width) == (self._size, self._size):
            return image
        interpolation = cv2.INTER_AREA if height > self._size else cv2.INTER_CUBIC
        return cv2.resize(image, (self._size, self._size), interpolation=interpolation)
