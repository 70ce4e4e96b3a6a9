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
