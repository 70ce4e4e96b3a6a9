"""A receiver's room: every participant's stream on its own, all rendered in one batched decode.

Real parts: the tiny model, the codec's real keyframes and motion packets, the receiver cores
and the shared renderer; a runtime wrapper only counts the decoder calls.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from vid2vid.bench.synthetic_motion import talking_head
from vid2vid.call.stats import clock_ms
from vid2vid.codec.bitstream.chunks import split_keyframe
from vid2vid.codec.bitstream.header import wire_timestamp
from vid2vid.codec.bitstream.keyframe import encode_keyframe_payload
from vid2vid.codec.bitstream.motion import MotionEncoder
from vid2vid.codec.checkpoint import load_weights
from vid2vid.codec.keypoints import FreeView
from vid2vid.codec.stream import StreamDecoder, make_keyframe
from vid2vid.codec.wire import layout_for
from vid2vid.engines.runtime import TorchRuntime, open_runtime
from vid2vid.receiver.render import Pose, render_batch
from vid2vid.receiver.room import participant_path

from .rooms import recording_room


@pytest.fixture(scope="module")
def tiny():
    return load_weights(None, "tiny")


class CountingRuntime:
    """The real runtime; counts ``decode`` calls and the batch of each."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.batches: list[int] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def decode(self, volume, source, driving):
        self.batches.append(int(volume.shape[0]))
        return self.inner.decode(volume, source, driving)


def _keyframe(loaded, seed: int):
    crop = np.random.default_rng(seed).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    return make_keyframe(TorchRuntime(loaded), loaded.fingerprint, crop)


def _stream(loaded, seed: int, frames: int) -> tuple[list[bytes], list[bytes]]:
    """A sender's keyframe chunks and ``frames`` motion packets stamped now."""
    payload = encode_keyframe_payload(_keyframe(loaded, seed))
    chunks = split_keyframe(payload, 0, 0, wire_timestamp(clock_ms()), keyframe_id=seed)
    layout = layout_for(loaded.config)
    encoder = MotionEncoder(layout, stream_id=0, intra_period=25)
    motion = [
        encoder.encode(params, wire_timestamp(clock_ms()))
        for params in talking_head(layout, frames, 25.0, seed=seed)
    ]
    return chunks, motion


def test_the_batched_render_equals_rendering_each_stream_alone(tiny):
    runtime = open_runtime(tiny, "torch")
    decoder = StreamDecoder(tiny, runtime)
    layout = layout_for(tiny.config)
    poses = []
    for seed, view in ((1, FreeView()), (2, FreeView(yaw=20.0)), (3, FreeView(pitch=-10.0))):
        keyframe = _keyframe(tiny, seed)
        params = talking_head(layout, 3, 25.0, seed=seed)[-1]
        poses.append(Pose(decoder.load(keyframe), params, view))
    together = render_batch(tiny, runtime, poses)
    alone = [decoder.render(p.features, p.params, p.view) for p in poses]
    for a, b in zip(together, alone, strict=True):
        assert a.shape == b.shape
        difference = np.abs(a.astype(int) - b.astype(int))
        # Batched convolutions may sum in another order: a rounding step here and there.
        assert difference.max() <= 4 and difference.mean() < 0.05
    assert not np.array_equal(together[0], together[1])  # three faces, not one


def test_two_streams_of_a_tick_go_through_one_decode_and_stay_apart(tiny):
    runtime = CountingRuntime(open_runtime(tiny, "torch"))

    async def run():
        room, sinks = recording_room(tiny, runtime)
        alice, bob = room.join("alice"), room.join("bob")
        assert (alice.info.tile, bob.info.tile) == (0, 1)
        streams = {"alice": _stream(tiny, 1, 6), "bob": _stream(tiny, 2, 6)}
        for participant in (alice, bob):
            for chunk in streams[participant.info.label][0]:
                participant.core.on_message("control", chunk)
        render = asyncio.create_task(room.run())
        try:
            for _ in range(200):  # both faces loaded and their keyframe poses rendered
                shown = all(sinks.by_label[n].frames for n in ("alice", "bob"))
                if shown and not any(p.core.busy for p in (alice, bob)):
                    break
                await asyncio.sleep(0.02)
            # One pose each, both queued before the renderer's next tick: one decode of 2.
            runtime.batches.clear()
            for participant in (alice, bob):
                participant.core.on_message("motion", streams[participant.info.label][1][0])
            for _ in range(200):
                if sinks.frames() == 2:
                    break
                await asyncio.sleep(0.02)
            batches = list(runtime.batches)
            # Only alice's packets from here on: bob's stream, stats and sink do not move.
            bob_before = (len(sinks.by_label["bob"].frames), dict(bob.core.stats.totals))
            for packet in streams["alice"][1][1:]:
                alice.core.on_message("motion", packet)
                await asyncio.sleep(0.04)
            await asyncio.sleep(0.3)
            bob_after = (len(sinks.by_label["bob"].frames), dict(bob.core.stats.totals))
            snapshot = room.snapshot()
            room.leave(bob.info.slot)
            carol = room.join("carol")
        finally:
            render.cancel()
            await asyncio.gather(render, return_exceptions=True)
        return batches, bob_before, bob_after, snapshot, sinks, carol, room

    batches, bob_before, bob_after, snapshot, sinks, carol, room = asyncio.run(
        asyncio.wait_for(run(), 30)
    )
    assert batches == [2]  # one decoder call rebuilt both participants' frames
    assert bob_before == bob_after
    alice_frames = [f for f in sinks.by_label["alice"].frames if f.sequence is not None]
    assert len(alice_frames) >= 5
    assert [p["name"] for p in snapshot["participants"]] == ["alice", "bob"]
    assert snapshot["participants"][0]["frames"] >= 5 and snapshot["participants"][1]["frames"] == 1
    assert snapshot["frames"] == sum(p["frames"] for p in snapshot["participants"])
    # bob left: his sink is closed, his slot and tile are free for the next one
    assert sinks.by_label["bob"].closed and not sinks.by_label["alice"].closed
    assert [i.label for i in room.left] == ["bob"]
    assert carol.info.tile == 1 and carol.info.slot == 2


def test_each_participant_gets_its_own_file_name():
    taken: set[Path] = set()
    out = Path("rec/call.mp4")
    assert participant_path(out, "alice", taken) == Path("rec/call-alice.mp4")
    assert participant_path(out, "peer-0a1b2c3d", taken) == Path("rec/call-peer-0a1b2c3d.mp4")
    assert participant_path(out, "alice", taken) == Path("rec/call-alice-2.mp4")  # never lost
