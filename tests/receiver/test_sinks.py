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


def _streamed(value: int, timestamp_ms: int, stream: int) -> RenderedFrame:
    return RenderedFrame(np.full((16, 16, 3), value, np.uint8), 0, timestamp_ms, PARAMS, 0, stream)


def test_each_stream_has_its_own_timeline_and_a_reconnection_holds_the_last_frame(tmp_path):
    """A new sender connection stamps on its own clock (here 2^23 ms away from the old one):
    its first frame follows the frames written, after the time the call was held."""
    now = [100.0]
    sink = FileSink(tmp_path / "two.mp4", fps=25.0, clock=lambda: now[0])
    for i in range(5):
        sink.write(_streamed(10, 1000 + 40 * i, stream=1))
        now[0] += 0.04
    now[0] += 2.0  # the sender fell silent; the receiver said "reconnecting"
    for i in range(5):
        sink.write(_streamed(200, (1000 + (1 << 23) + 40 * i) % (1 << 24), stream=2))
        now[0] += 0.04
    sink.close()
    # 5 frames, ~2 s (50 slots) held with the last one, then the new stream's 5 frames
    assert 5 + 48 + 5 <= sink.frames <= 5 + 52 + 5, sink.frames
    with VideoReader(tmp_path / "two.mp4") as reader:
        means = [float(f.image.mean()) for f in reader]
    assert all(m < 60 for m in means[: sink.frames - 5]) and all(m > 150 for m in means[-5:])


def test_a_far_future_stamp_does_not_blind_the_rest_of_the_recording(tmp_path):
    """Defence in depth (the receiver core already drops such packets): one frame stamped
    2^23 ms ahead used to make every later real frame look older, so none was written."""
    sink = FileSink(tmp_path / "blind.mp4", fps=25.0)
    for i in range(10):
        sink.write(_frame(10, 40 * i))
    sink.write(_frame(250, (40 * 10 + (1 << 23) - 5000) % (1 << 24)))  # ~2^23 ahead
    for i in range(11, 40):
        sink.write(_frame(10, 40 * i))
    sink.close()
    assert sink.frames >= 39 and sink.restarts == 1
