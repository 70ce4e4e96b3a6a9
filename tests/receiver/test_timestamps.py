"""A peer's timestamps are checked against the local clock before they steer anything.

The hostile tester's case: valid packets stamped about 2^23 ms ahead blinded the recording
(FileSink dropped every later real frame) and poisoned the statistics (a glass-to-glass p50 of
-4,389,426 ms). Here such packets arrive among a real stream (the codec's real encoder, the
real receiver core, the real file sink): they are dropped and counted, and the recording and
the statistics are the real stream's.
"""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from support.recorder import Recorder
from vid2vid.bench.synthetic_motion import talking_head
from vid2vid.call.stats import clock_ms
from vid2vid.call.transport import memory_pair
from vid2vid.codec.bitstream.chunks import split_keyframe
from vid2vid.codec.bitstream.header import (
    HEADER_SIZE,
    PacketHeader,
    timestamp_distance,
    wire_timestamp,
)
from vid2vid.codec.bitstream.keyframe import encode_keyframe_payload
from vid2vid.codec.bitstream.motion import MotionEncoder
from vid2vid.codec.checkpoint import load_weights
from vid2vid.codec.stream import make_keyframe
from vid2vid.codec.video import VideoReader
from vid2vid.codec.wire import layout_for
from vid2vid.engines.runtime import TorchRuntime, open_runtime
from vid2vid.receiver.core import ReceiverCore
from vid2vid.receiver.sinks import FileSink, Sinks
from vid2vid.receiver.timestamps import PeerClock, plausible_latency

FPS = 25.0
AHEAD = (1 << 23) - 5000  # about what the hostile tester stamped


def test_peer_clock_learns_the_offset_refuses_strays_and_follows_a_real_jump() -> None:
    clock = PeerClock(window_ms=1000, reanchor_after=3)
    now = 50_000_000  # local ms; the peer's clock is 7 s ahead and wraps at 2^24
    peer = (now + 7000) % (1 << 24)
    assert clock.check(peer, now)
    assert clock.check((peer + 40) % (1 << 24), now + 45)
    assert not clock.check((peer + AHEAD) % (1 << 24), now + 80)  # forged
    assert clock.check((peer + 120) % (1 << 24), now + 125)  # and the stream goes on
    assert clock.strays == 1
    jumped = (peer + 3_600_000) % (1 << 24)  # the peer's clock really stepped an hour
    assert [clock.check(jumped + i, now + 200 + i) for i in range(4)] == [
        False, False, True, True,
    ]  # fmt: skip
    assert plausible_latency(30) and plausible_latency(-500)
    assert not plausible_latency(-4_389_426) and not plausible_latency(120_000)


def _forged(packet: bytes) -> bytes:
    header = PacketHeader.parse(packet)
    stamp = (header.timestamp_ms + AHEAD) % (1 << 24)
    return bytes(dataclasses.replace(header, timestamp_ms=stamp)) + packet[HEADER_SIZE:]


@pytest.mark.slow
def test_far_future_stamps_neither_blind_the_recording_nor_poison_the_statistics(tmp_path):
    loaded = load_weights(None, "tiny")
    frames = 50

    async def run():
        a, b = memory_pair()
        file_sink = FileSink(tmp_path / "call.mp4", fps=FPS)
        recorder = Recorder()
        core = ReceiverCore(loaded, open_runtime(loaded, "torch"), Sinks([file_sink, recorder]))
        b.set_handler(core.on_message)
        render = asyncio.create_task(core.run())
        crop = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        payload = encode_keyframe_payload(
            make_keyframe(TorchRuntime(loaded), loaded.fingerprint, crop)
        )
        start = clock_ms()
        for chunk in split_keyframe(payload, 0, 0, wire_timestamp(start), keyframe_id=1):
            a.send("control", chunk)
        layout = layout_for(loaded.config)
        encoder = MotionEncoder(layout, stream_id=0, intra_period=25)
        for i, params in enumerate(talking_head(layout, frames, FPS, seed=3)):
            packet = encoder.encode(params, wire_timestamp(start + round(i * 1000 / FPS)))
            if i >= 5 and i % 3 == 0:  # the forged copy comes first and takes the slot if let in
                a.send("motion", _forged(packet))
            a.send("motion", packet)
            await asyncio.sleep(1 / FPS)
        await asyncio.sleep(0.6)
        render.cancel()
        await asyncio.gather(render, return_exceptions=True)
        file_sink.close()
        return core, recorder

    core, recorder = asyncio.run(run())
    forged = sum(1 for i in range(5, frames) if i % 3 == 0)
    assert core.stats.totals.get("implausible_timestamps") == forged
    g2g = core.stats.all_stages["glass_to_glass"]
    assert g2g and min(g2g) > -1000 and max(g2g) < 60_000
    assert max(core.stats.all_stages["capture_to_arrival"]) < 60_000
    now = wire_timestamp(clock_ms())
    ages = [timestamp_distance(now, f.timestamp_ms) for f in recorder.frames]
    assert ages and all(0 <= age < 60_000 for age in ages)  # only the real stream's frames
    with VideoReader(tmp_path / "call.mp4") as reader:
        written = sum(1 for _ in reader)
    assert frames - 3 <= written <= frames + 2, written  # the real stream's timeline
    snapshot = core.snapshot()
    assert snapshot["latency_ms_p50"] is not None and snapshot["latency_ms_p50"] > -1000
