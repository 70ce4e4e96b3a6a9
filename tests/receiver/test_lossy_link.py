"""Sender packets → lossy, reordering in-memory link → the real receiver with the tiny model.

The sender side is the codec's real MotionEncoder and keyframe builder over synthetic talking-
head motion (no camera needed); the receiver is :class:`ReceiverCore` as the CLI runs it.
"""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest
import torch

from support.recorder import Recorder
from vid2vid.bench.synthetic_motion import talking_head
from vid2vid.call.stats import clock_ms
from vid2vid.call.transport import LossPattern, memory_pair
from vid2vid.codec.bitstream.chunks import split_keyframe
from vid2vid.codec.bitstream.header import PacketHeader, wire_timestamp
from vid2vid.codec.bitstream.keyframe import encode_keyframe_payload
from vid2vid.codec.bitstream.motion import MotionDecoder, MotionEncoder
from vid2vid.codec.checkpoint import load_weights
from vid2vid.codec.imageio import tensor_to_frames
from vid2vid.codec.stream import keyframe_features, make_keyframe
from vid2vid.codec.wire import layout_for, params_to_motion
from vid2vid.engines.runtime import TorchRuntime, open_runtime
from vid2vid.receiver.core import ReceiverCore

FPS = 25.0


@pytest.fixture(scope="module")
def tiny():
    return load_weights(None, "tiny")


def _keyframe_chunks(loaded):
    crop = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    keyframe = make_keyframe(TorchRuntime(loaded), loaded.fingerprint, crop)
    return keyframe, split_keyframe(encode_keyframe_payload(keyframe), 0, 0, 0, keyframe_id=1)


async def _call(loaded, pattern: LossPattern, frames: int, send_intra_requests: bool = True):
    """Stream ``frames`` packets at 25 fps over the pattern; returns packets, frames, core."""
    layout = layout_for(loaded.config)
    a, b = memory_pair(pattern)
    sink = Recorder()
    core = ReceiverCore(
        loaded, open_runtime(loaded, "torch"), sink, lambda m: b.send("control", m), hold_ms=30
    )
    b.set_handler(core.on_message)
    encoder = MotionEncoder(layout, stream_id=0, intra_period=25, first_sequence=65500)

    def on_request(channel, message):
        if send_intra_requests and "intra-request" in message:
            encoder.request_intra()

    a.set_handler(on_request)
    render = asyncio.create_task(core.run())
    _, chunks = _keyframe_chunks(loaded)
    for chunk in chunks:
        a.send("control", chunk)
    packets = []
    start = clock_ms()
    for i, params in enumerate(talking_head(layout, frames, FPS, seed=3)):
        packet = encoder.encode(params, wire_timestamp(start + round(i * 1000 / FPS)))
        packets.append(packet)
        a.send("motion", packet)
        await asyncio.sleep(1 / FPS)
    await asyncio.sleep(0.6)  # the last render
    render.cancel()
    await asyncio.gather(render, return_exceptions=True)
    return packets, sink.frames, core


def _reference(packets):
    """What a receiver that got every packet decodes, by sequence number."""
    decoder = MotionDecoder(layout_for(load_weights(None, "tiny").config))
    out = {}
    for packet in packets:
        decoded = decoder.decode(packet)
        out[decoded.header.sequence] = decoded.params
    return out


def _same(a, b) -> bool:
    return (
        (a.yaw, a.pitch, a.roll) == (b.yaw, b.pitch, b.roll)
        and np.array_equal(a.translation, b.translation)
        and np.array_equal(a.deformation, b.deformation)
    )


def test_thirty_percent_loss_never_corrupts_and_resyncs_within_a_second(tiny):
    lossy_until = 30  # packets 0..29 at 30 % random loss (1.2 s), then a clean link
    rng = random.Random(7)
    # Up to 150 ms of jitter against a 30 ms hold: packets overtake each other, some come too late.
    pattern = LossPattern(
        jitter_ms=150.0, seed=7, drop=lambda i: i < lossy_until and rng.random() < 0.3
    )
    packets, frames, core = asyncio.run(_call(tiny, pattern, frames=60))
    frames = [f for f in frames if f.sequence is not None]  # not the keyframe's own pose
    reference = _reference(packets)
    assert frames, "the receiver rendered nothing"
    # No corrupted frame: every rendered pose is exactly the one the sender coded.
    for frame in frames:
        assert _same(frame.params, reference[frame.sequence]), (
            f"frame {frame.sequence} is corrupted"
        )
    # Rendered in order, never backwards (late packets dropped, not rendered).
    sequences = [PacketHeader.parse(p).sequence for p in packets]
    order = {s: i for i, s in enumerate(sequences)}
    indices = [order[f.sequence] for f in frames]
    assert indices == sorted(indices)
    assert core.stats.totals.get("lost", 0) > 0, "the pattern dropped nothing"
    assert core.stats.totals.get("late_or_duplicate", 0) > 0, "no packet came late"
    # Resync: a frame captured within 1 s after the loss stops is rendered, and so is the last.
    end_of_loss = PacketHeader.parse(packets[lossy_until]).timestamp_ms
    after = [f for f in frames if 0 <= f.timestamp_ms - end_of_loss <= 1000]
    assert after, "no frame from the first second after the loss was rendered"
    assert frames[-1].sequence == sequences[-1]
    # The pictures are the model's: a rendered frame equals an offline render of its pose.
    keyframe, _ = _keyframe_chunks(tiny)
    features = keyframe_features(TorchRuntime(tiny), keyframe)
    with torch.inference_mode():
        image = tiny.model.animate(features, params_to_motion([frames[-1].params])).clamp(0, 1)
    assert np.abs(tensor_to_frames(image)[0].astype(int) - frames[-1].image.astype(int)).max() <= 1


def test_a_lost_intra_is_asked_for(tiny):
    # Drop the first intra's successors' reference: packet 25 is the second intra (period 25).
    pattern = LossPattern(drop=lambda i: i == 25, jitter_ms=0.0)
    packets, frames, core = asyncio.run(_call(tiny, pattern, frames=40))
    frames = [f for f in frames if f.sequence is not None]
    assert core.stats.totals.get("missing_intra", 0) >= 1
    assert core.stats.totals.get("intra_requests", 0) >= 1
    reference = _reference(packets)
    for frame in frames:
        assert _same(frame.params, reference[frame.sequence])
    assert frames[-1].sequence == PacketHeader.parse(packets[-1]).sequence


def test_garbage_messages_do_not_stop_the_receiver(tiny):
    async def run():
        a, b = memory_pair()
        sink = Recorder()
        core = ReceiverCore(tiny, open_runtime(tiny, "torch"), sink)
        b.set_handler(core.on_message)
        task = asyncio.create_task(core.run())
        for junk in (
            b"",
            b"V",
            b"\x00" * 40,
            bytes(range(256)),
            "{",
            "[]",
            '{"type": 5}',
            '{"type":"view","yaw":"x"}',
            '{"type":"hello","fps":1e999}',
            "x" * 100000,
        ):
            a.send("control", junk)
            a.send("motion", junk)
        await asyncio.sleep(0.1)
        _, chunks = _keyframe_chunks(tiny)
        for chunk in chunks:
            a.send("control", chunk)
        encoder = MotionEncoder(layout_for(tiny.config))
        params = talking_head(layout_for(tiny.config), 1)[0]
        a.send("motion", encoder.encode(params, 0))
        await asyncio.sleep(1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return sink.frames, core

    frames, core = asyncio.run(run())
    assert core.stats.totals.get("malformed", 0) >= 4
    assert core.stats.totals.get("errors", 0) == 0
    assert [f.sequence for f in frames if f.sequence is not None] == [0]


def test_a_keyframe_of_another_model_is_refused_naming_both(tiny, caplog):
    from vid2vid.codec.checkpoint import untrained_model

    other = untrained_model("tiny", seed=1)
    assert other.fingerprint != tiny.fingerprint

    async def run():
        a, b = memory_pair()
        requests = []
        a.set_handler(lambda channel, message: requests.append(message))
        core = ReceiverCore(tiny, open_runtime(tiny, "torch"), Recorder(),
                            lambda m: b.send("control", m))  # fmt: skip
        b.set_handler(core.on_message)
        task = asyncio.create_task(core.run())
        _, chunks = _keyframe_chunks(other)
        for chunk in chunks:
            a.send("control", chunk)
        encoder = MotionEncoder(layout_for(tiny.config))
        for i, params in enumerate(talking_head(layout_for(tiny.config), 20)):
            a.send("motion", encoder.encode(params, i * 40))
            await asyncio.sleep(0.06)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return core, requests

    core, requests = asyncio.run(run())
    assert core.stats.totals.get("keyframes_refused") == 1
    assert not core.has_keyframe and core.stats.totals.get("frames", 0) == 0
    assert other.fingerprint in core.refused and tiny.fingerprint in core.refused
    assert any(
        other.fingerprint in r.message and tiny.fingerprint in r.message for r in caplog.records
    )
    # Asking again would only bring the same refused model (link reports still go back).
    assert [r for r in requests if '"link"' not in r] == []
