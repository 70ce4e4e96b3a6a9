"""What H.264 would need for the frames the sender codes: a live x264 encode of its face crops.

Why: the demo page shows motion kbit/s next to what a conventional call would spend on the same
picture. A fixed ratio from an offline benchmark would not follow the person in front of the
camera; encoding the very crops the motion extractor sees does, and costs a few milliseconds per
frame at 256 px. The settings are the bandwidth benchmark's x264 call configuration
(``vid2vid.bench.ffmpeg_codecs``: ``-preset medium -tune zerolatency -bf 0``, one intra frame per
call), so the live figure and the benchmark's curves measure the same encoder. CRF 51 is
x264's coarsest constant-quality setting, the least a normally configured call spends on these
frames; only a bit-rate target with a raised ``-qmax`` (which the benchmark also sweeps) goes
lower, at a still worse picture.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from vid2vid.errors import ConfigError

#: x264's coarsest constant-quality setting (CRF 51).
FLOOR_CRF = 51


class H264Reference:
    """Encodes BGR crops with libx264 (PyAV) and reports the bytes each frame costs."""

    def __init__(self, size: int, fps: float, crf: int = FLOOR_CRF) -> None:
        if not 0 <= crf <= 51:
            raise ConfigError(f"x264 CRF must be in 0..51, got {crf}")
        if size < 16 or size % 2:
            raise ConfigError(f"x264 reference needs an even crop size of at least 16, got {size}")
        self.size = size
        self.crf = crf
        self._codec = av.CodecContext.create("libx264", "w")
        self._codec.width = size
        self._codec.height = size
        self._codec.pix_fmt = "yuv420p"
        rate = Fraction(fps).limit_denominator(1001)
        self._codec.time_base = 1 / rate
        self._codec.framerate = rate
        self._codec.gop_size = 100_000  # one intra frame per call, like the benchmark
        self._codec.options = {
            "crf": str(crf),
            "preset": "medium",
            "tune": "zerolatency",
            "bf": "0",
            "threads": "1",
        }
        self._pts = 0

    @property
    def source(self) -> str:
        """How the figure was made, for the page to show beside it."""
        return (
            f"live x264 CRF {self.crf} (-preset medium -tune zerolatency -bf 0) "
            f"of the sender's {self.size} px face crops"
        )

    def encode(self, bgr: np.ndarray) -> int:
        """Code one ``size x size x 3`` uint8 BGR crop; returns the bytes x264 emitted for it."""
        return sum(map(len, self.encode_packets(bgr)))

    def encode_packets(self, bgr: np.ndarray) -> list[bytes]:
        """Code one crop; the Annex B access units x264 emitted for it (what RTP would carry:
        the wire benchmark packetizes them, ``vid2vid.bench.wire``)."""
        if bgr.shape != (self.size, self.size, 3) or bgr.dtype != np.uint8:
            raise ConfigError(
                f"x264 reference takes {self.size}x{self.size}x3 uint8 crops, got "
                f"{bgr.shape} {bgr.dtype}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24")
        frame.pts = self._pts
        self._pts += 1
        return [bytes(packet) for packet in self._codec.encode(frame)]
