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


def test_the_timeline_goes_on_past_two_to_the_23_ms_from_the_first_frame(tmp_path):
    """The 24-bit timestamp's signed distance to the first frame turns negative after 2^23 ms
    (2 h 20 min); the sink steps from frame to frame, so nothing is dropped then."""
    fps, step_ms = 0.125, 8000  # one slot per frame: 2^23 ms in ~1050 small frames
    sink = FileSink(tmp_path / "long.mp4", fps=fps)
    start = (1 << 24) - 5 * step_ms  # across the wire wrap too
    count = (1 << 23) // step_ms + 20
    for i in range(count):
        sink.write(_frame(i % 200, (start + i * step_ms) % (1 << 24)))
    assert sink.frames == count
    sink.write(_frame(0, (start + (count - 3) * step_ms) % (1 << 24)))  # an older one: ignored
    assert sink.frames == count
    sink.write(_frame(0, (start + count * step_ms) % (1 << 24)))  # and the timeline goes on
    assert sink.frames == count + 1
    sink.close()


def test_a_long_pause_restarts_the_timeline_instead_of_filling(tmp_path):
    sink = FileSink(tmp_path / "pause.mp4", fps=25.0)
    sink.write(_frame(10, 0))
    sink.write(_frame(10, 40))
    sink.write(_frame(10, 3_600_000))  # an hour later: not 90000 filled frames
    assert sink.frames == 3
    sink.write(_frame(10, 3_600_080))  # one slot filled, then this one
    assert sink.frames == 5
    sink.close()
