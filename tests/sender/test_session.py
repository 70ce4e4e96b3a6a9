"""The real sender (face tracking, motion, keyframes) → in-memory links → real receivers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from support.recorder import Recorder
from vid2vid.call.transport import memory_pair
from vid2vid.codec.checkpoint import load_weights
from vid2vid.codec.video import VideoReader, VideoWriter
from vid2vid.engines.runtime import open_runtime
from vid2vid.receiver.core import ReceiverCore
from vid2vid.sender.capture import FileCapture
from vid2vid.sender.pipeline import SenderConfig, SendPipeline
from vid2vid.sender.session import SenderSession

CLIP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips" / "lp_d0.mp4"


@pytest.fixture(scope="module")
def face_gap_clip(tmp_path_factory):
    """8 frames of a face, 40 black frames (the face is lost), 8 frames of the face again.

    40, not the tracker's 11: on a loaded machine the sender skips frames to keep up."""
    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    path = tmp_path_factory.mktemp("clips") / "gap.mp4"
    with VideoReader(CLIP) as reader:
        faces = [f.image for _, f in zip(range(8), reader, strict=False)]
    height, width = faces[0].shape[:2]
    with VideoWriter(path, 25.0, (width, height)) as writer:
        for image in faces + [np.zeros_like(faces[0])] * 40 + faces:
            writer.write(image)
    return path


def test_late_join_and_face_found_again_bring_keyframes(face_gap_clip):
    loaded = load_weights(None, "tiny")
    runtime = open_runtime(loaded, "torch")

    async def run():
        capture = FileCapture(face_gap_clip)
        pipeline = SendPipeline(loaded, runtime, SenderConfig(), capture.fps)
        pipeline.warm_up()
        session = SenderSession(pipeline, capture)
        receivers = []

        def join(name):
            a, b = memory_pair()
            sink = Recorder()
            core = ReceiverCore(loaded, runtime, sink, lambda m: b.send("control", m))
            b.set_handler(core.on_message)
            session.add_peer(name, a)
            receivers.append((core, sink, asyncio.create_task(core.run())))

        join("early")
        stream = asyncio.create_task(session.run())
        await asyncio.sleep(0.2)  # a few frames in
        join("late")
        await stream
        await asyncio.sleep(0.5)
        for _core, _, task in receivers:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        capture.close()
        return session, receivers

    session, receivers = asyncio.run(run())
    (early, early_sink, _), (late, late_sink, _) = receivers
    assert session.stats.totals.get("frames_without_face", 0) >= 11  # lost: > hold_frames
    # The first face and the face found again: two keyframes for the receiver there from the start.
    assert early.stats.totals.get("keyframes") == 2
    # The late one got the keyframe in use when it joined, then the new one.
    assert late.stats.totals.get("keyframes", 0) >= 1
    for core, sink in ((early, early_sink), (late, late_sink)):
        moving = [f for f in sink.frames if f.sequence is not None]
        assert len(moving) >= 4
        assert core.ended.is_set()
        assert core.stats.totals.get("malformed", 0) == 0
    # The rebuilt frames are the model's output at its size, and they move.
    images = np.stack([f.image for f in early_sink.frames]).astype(np.int16)
    assert images.shape[1:] == (64, 64, 3)
    assert np.abs(np.diff(images, axis=0)).max() > 0


def _record_sends(transport) -> list[tuple[float, str, object]]:
    """Keep (loop time, channel, message) of everything sent through ``transport``."""
    sent: list[tuple[float, str, object]] = []
    loop = asyncio.get_running_loop()
    send = transport.send

    def record(channel, message):
        sent.append((loop.time(), channel, message))
        return send(channel, message)

    transport.send = record
    return sent


async def _report_until(session: SenderSession, receiver_end, report, level: str) -> None:
    """Send ``report`` from the receiver's end ten times a second until its level is ``level``
    (at most 4 s)."""
    from vid2vid.call import control

    for _ in range(40):
        receiver_end.send("control", control.link_message(report))
        await asyncio.sleep(0.1)
        if session.snapshot()["levels"]["r"] == level:
            return


def _frames_per_message(messages: list[bytes]) -> list[int]:
    from vid2vid.call.pack import unpack

    return [len(unpack(m)) if m[:1] == b"P" else 1 for m in messages]


def test_link_reports_step_a_receivers_level_its_packs_and_the_stream_quality():
    """Bad reports step the receiver down to the lowest level (its motion comes packed five
    frames a message, the stream's quantizer drops); clean reports bring it back up."""
    from vid2vid.call import control
    from vid2vid.call.adapt import AdaptationConfig

    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    loaded = load_weights(None, "tiny")
    runtime = open_runtime(loaded, "torch")
    config = AdaptationConfig(start_level=0, down_hold_s=0.2, up_after_s=0.6, probe_s=60)

    async def run():
        capture = FileCapture(CLIP, loop=True)
        pipeline = SendPipeline(loaded, runtime, SenderConfig(), capture.fps)
        session = SenderSession(pipeline, capture, adaptation=config)
        a, b = memory_pair()
        messages = _record_sends(a)  # as the sender sent them
        loop = asyncio.get_running_loop()
        session.add_peer("r", a)
        stream = asyncio.create_task(session.run())
        bad = control.LinkReport(1000.0, 10, 10, 5, 400.0, 5.0)
        good = control.LinkReport(1000.0, 25, 0, 0, 0.0, 8.0)
        seen = {}
        for report, name in ((bad, "minimal"), (good, "full")):
            await _report_until(session, b, report, name)
            seen[name] = (loop.time(), pipeline.encoder.quality)
            await asyncio.sleep(1.0)  # a few packs at this level
        stream.cancel()
        await asyncio.gather(stream, return_exceptions=True)
        capture.close()
        return session, seen, messages

    session, seen, messages = asyncio.run(run())
    levels = [level for _, level, _ in session.peer_levels()["r"]]
    assert levels == [0, 1, 2, 3, 2, 1, 0]  # one step at a time, down and up
    assert set(seen) == {"minimal", "full"}
    assert seen["minimal"][1] < seen["full"][1]  # the motion quantizer followed the level
    start_minimal, start_full = seen["minimal"][0], seen["full"][0]
    packed = _frames_per_message(
        [m for t, channel, m in messages
         if channel == "motion" and start_minimal + 0.3 < t < start_minimal + 1.0]
    )  # fmt: skip
    assert packed and max(packed) == 5  # minimal packs five frames a message
    after = [m for t, channel, m in messages if channel == "motion" and t > start_full + 0.3]
    assert after and all(m[:1] != b"P" for m in after)  # full: one frame a message again


def test_packing_never_adds_more_than_its_latency_bound_at_a_low_frame_rate():
    """At 5 fps the lowest level's five frames a message would hold a frame back 800 ms: the
    pack is cut to what fits MAX_PACK_DELAY_MS (two frames at 200 ms a frame)."""
    from vid2vid.call import control
    from vid2vid.call.adapt import AdaptationConfig
    from vid2vid.sender.session import MAX_PACK_DELAY_MS

    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    loaded = load_weights(None, "tiny")
    runtime = open_runtime(loaded, "torch")
    config = AdaptationConfig(start_level=0, down_hold_s=0.2, up_after_s=30, probe_s=60)

    async def run():
        capture = FileCapture(CLIP, loop=True)
        pipeline = SendPipeline(loaded, runtime, SenderConfig(), 5.0)
        session = SenderSession(pipeline, capture, adaptation=config)
        a, b = memory_pair()
        sent = _record_sends(a)
        session.add_peer("r", a)
        stream = asyncio.create_task(session.run())
        bad = control.LinkReport(1000.0, 10, 10, 5, 400.0, 5.0)
        await _report_until(session, b, bad, "minimal")
        level_reached = session.snapshot()["levels"]["r"]
        sent.clear()
        await asyncio.sleep(1.5)
        stream.cancel()
        await asyncio.gather(stream, return_exceptions=True)
        capture.close()
        return level_reached, [m for _, channel, m in sent if channel == "motion"]

    level, sent = asyncio.run(run())
    assert level == "minimal"
    sizes = _frames_per_message(sent)
    assert sizes and max(sizes) == 1 + int(MAX_PACK_DELAY_MS // 200.0) == 2


def test_a_receiver_on_a_lossy_link_reports_it_and_the_sender_steps_down():
    """The whole loop: a real receiver core counts the gaps of a 45 %-lossy in-memory link,
    reports them on the control channel about once a second, and the sender's policy steps
    that receiver down."""
    from vid2vid.call.adapt import AdaptationConfig
    from vid2vid.call.transport import LossPattern

    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    loaded = load_weights(None, "tiny")
    runtime = open_runtime(loaded, "torch")

    async def run():
        capture = FileCapture(CLIP, loop=True)
        pipeline = SendPipeline(loaded, runtime, SenderConfig(), capture.fps)
        config = AdaptationConfig(start_level=0, down_hold_s=0.5)
        session = SenderSession(pipeline, capture, adaptation=config)
        a, b = memory_pair(LossPattern(loss=0.45, seed=4))
        reports = []

        def to_sender(message: str) -> None:
            reports.append(message)
            b.send("control", message)

        core = ReceiverCore(loaded, runtime, Recorder(), to_sender)
        b.set_handler(core.on_message)
        session.add_peer("r", a)
        tasks = [asyncio.create_task(core.run()), asyncio.create_task(session.run())]
        for _ in range(60):
            await asyncio.sleep(0.1)
            if session.peer_levels()["r"][-1][1] > 0:
                break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        capture.close()
        return session, reports

    session, reports = asyncio.run(run())
    assert any('"type": "link"' in m for m in reports)
    changes = session.peer_levels()["r"]
    assert changes[-1][1] == 1 and changes[-1][2].startswith("loss")
