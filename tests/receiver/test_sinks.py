"""The file sink keeps the sender's timeline: gaps hold the last frame."""

from __future__ import annotations

import numpy as np

from vid2vid.codec.bitstream.motion_params import MotionParams
from vid2vid.codec.video import VideoReader
from vid2vid.receiver.core import RenderedFrame
from vid2vid.receiver.sinks import FileSink

PARAMS = MotionParams(0.0, 0.0, 0.0, np.zeros(3, np.float32), np.zeros((1, 3), np.float32))


def _frame(value: int, timestamp_ms: int) -> RenderedFrame:
    return RenderedFrame(np.full((16, 16, 3), value, np.uint8), 0, timestamp_ms, PARAMS, 0)


def test_gaps_are_filled_with_the_last_frame_and_rerenders_skipped(tmp_path):
    sink = FileSink(tmp_path / "call.mp4", fps=lambda: 25.0)
    start = (1 << 24) - 40  # across the 24-bit timestamp wrap
    sink.write(_frame(10, start))  # slot 0
    sink.write(_frame(60, (start + 40) % (1 << 24)))  # slot 1
    sink.write(_frame(60, (start + 40) % (1 << 24)))  # the same slot again (a view change)
    sink.write(_frame(200, (start + 160) % (1 << 24)))  # slot 4: slots 2, 3 hold slot 1
    sink.close()
    with VideoReader(tmp_path / "call.mp4") as reader:
        means = [round(float(f.image.mean())) for f in reader]
    assert len(means) == 5 and sink.frames == 5
    assert means[0] < 30 and all(40 < m < 90 for m in means[1:4]) and means[4] > 150
