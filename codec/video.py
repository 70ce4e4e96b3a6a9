"""Video and image files in and out: PyAV for video, OpenCV for stills, BGR uint8 throughout.

Every frame leaves this module as an ``H x W x 3`` uint8 BGR array, the layout OpenCV and the
face tracker use, so callers never think about pixel formats. Anything a user can get wrong (a
missing file, a text file, a file without video) becomes one ``InputError`` line naming the file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import av
import av.error
import cv2
import numpy as np

from vid2vid.errors import ConfigError, InputError

logger = logging.getLogger(__name__)

DEFAULT_FPS = 25.0
"""Frame rate assumed when a file does not state one (the PAL rate of most talking-head sets)."""


class DecodedFrame(NamedTuple):
    """One decoded frame: the image and its presentation time in seconds from the start."""

    image: np.ndarray  # H x W x 3 uint8 BGR
    time: float


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{what} not found: {path}")
    if not path.is_file():
        raise InputError(f"{what} is not a file: {path}")


class VideoReader:
    """Decode a video file frame by frame; use as a context manager so the file is closed.

    Iterating yields :class:`DecodedFrame` items. A second iteration starts again from the first
    frame (the container is rewound), so a reader can be scanned twice without reopening.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _require_file(self.path, "video")
        try:
            self._container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read video {self.path}: {_reason(exc)}") from exc
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"no video stream in {self.path}")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"  # frame threads: decoding is a large share of a frame
        self._started = False
        self.fps = self._read_fps()

    def _read_fps(self) -> float:
        rate = self._stream.average_rate or self._stream.guessed_rate
        if rate is None or rate <= 0:
            logger.warning("%s states no frame rate; assuming %g fps", self.path, DEFAULT_FPS)
            return DEFAULT_FPS
        return float(rate)

    @property
    def width(self) -> int:
        return int(self._stream.codec_context.width)

    @property
    def height(self) -> int:
        return int(self._stream.codec_context.height)

    @property
    def frame_count(self) -> int | None:
        """Frames the container declares, or ``None`` where it does not say (some mkv, webm)."""
        frames = int(self._stream.frames or 0)
        return frames if frames > 0 else None

    def __iter__(self) -> Iterator[DecodedFrame]:
        if self._started:
            self._container.seek(0, stream=self._stream)
        self._started = True
        index = 0
        try:
            for frame in self._container.decode(self._stream):
                time = frame.time if frame.time is not None else index / self.fps
                yield DecodedFrame(frame.to_ndarray(format="bgr24"), float(time))
                index += 1
        except av.error.FFmpegError as exc:
            raise InputError(
                f"cannot decode video {self.path} at frame {index}: {_reason(exc)}"
            ) from exc

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class VideoWriter:
    """Encode BGR uint8 frames to an H.264 (libx264, yuv420p) mp4 that any player opens.

    ``size`` is ``(width, height)`` and must be even, as 4:2:0 chroma needs. ``crf`` trades size
    for quality (0 lossless … 51 worst; 18 is visually transparent). Use as a context manager:
    closing flushes the frames still buffered in the encoder.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        size: tuple[int, int],
        *,
        crf: int = 18,
        preset: str = "medium",
    ) -> None:
        width, height = size
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ConfigError(f"size must be positive and even (yuv420p), got {size}")
        if not 0 < fps <= 1000:
            raise ConfigError(f"fps must be in (0, 1000], got {fps}")
        if not 0 <= crf <= 51:
            raise ConfigError(f"crf must be in 0..51, got {crf}")
        self.path = Path(path)
        self.size = (int(width), int(height))
        try:
            # `-o out/clip.mp4` on a fresh checkout must work; PyAV opens the file lazily at the
            # first frame, so a missing folder would otherwise fail only after all the work.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.path), mode="w")
        except (av.error.FFmpegError, OSError) as exc:
            raise InputError(f"cannot write video {self.path}: {_reason(exc)}") from exc
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = self.size
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": preset}
        self._closed = False

    def write(self, image: np.ndarray) -> None:
        """Append one ``H x W x 3`` uint8 BGR frame of the writer's size."""
        width, height = self.size
        if image.dtype != np.uint8 or image.shape != (height, width, 3):
            raise InputError(
                f"frame must be {height}x{width}x3 uint8 for {self.path}, "
                f"got {image.shape} {image.dtype}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        try:
            self._container.mux(self._stream.encode(frame))
        except (av.error.FFmpegError, OSError) as exc:
            raise InputError(f"cannot write video {self.path}: {_reason(exc)}") from exc

    def close(self) -> None:
        """Flush the encoder and close the file; calling it twice is harmless."""
        if self._closed:
            return
        self._closed = True
        try:
            self._container.mux(self._stream.encode(None))
        except (av.error.FFmpegError, OSError) as exc:
            raise InputError(f"cannot write video {self.path}: {_reason(exc)}") from exc
        finally:
            self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_image(path: str | Path) -> np.ndarray:
    """Read a still image as ``H x W x 3`` uint8 BGR (grey and alpha images are converted)."""
    path = Path(path)
    _require_file(path, "image")
    # imdecode on the bytes, not imread: imread cannot open non-ASCII paths on Windows.
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise InputError(f"cannot read image {path}: not a decodable image file")
    return image


def _reason(exc: BaseException) -> str:
    """The short cause of a PyAV/OS error, without the file name it usually repeats."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
