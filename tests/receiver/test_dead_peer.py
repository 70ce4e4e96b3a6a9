"""A sender that goes silent without a bye is dropped within the heartbeat timeout (5 s); the
receiver holds the last frame, says "reconnecting" (snapshot and --stats), and is live again on
the next call's keyframe.

Real parts: the signaling server on a loopback port, the receiver app with the tiny model, and
a real aiortc peer playing the sender with the codec's real keyframe and motion packets, which
stops sending anything (the heartbeat included) while its connection stays up: a hung process.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from support.recorder import Recorder
from vid2vid.bench.synthetic_motion import talking_head
from vid2vid.call import control
from vid2vid.call.heartbeat import HeartbeatConfig
from vid2vid.call.rtc import accept_answer, create_call_channels, make_offer, new_peer_connection
from vid2vid.call.stats import clock_ms
from vid2vid.call.transport import DataChannelTransport
from vid2vid.codec.bitstream.chunks import split_keyframe
from vid2vid.codec.bitstream.header import wire_timestamp
from vid2vid.codec.bitstream.keyframe import encode_keyframe_payload
from vid2vid.codec.bitstream.motion import MotionEncoder
from vid2vid.codec.checkpoint import load_weights
from vid2vid.codec.stream import make_keyframe
from vid2vid.codec.wire import layout_for
from vid2vid.engines.runtime import TorchRuntime, open_runtime
from vid2vid.receiver.app import ReceiverApp, SignalingOptions
from vid2vid.receiver.room import ReceiverRoom
from vid2vid.signaling.client import SignalingClient

from .test_reconnect import LOOPBACK, _start_server, _until

FPS = 25.0


async def _call(loaded, client: SignalingClient, receiver_id: str, frames: int):
    """Offer, then send hello, a keyframe and ``frames`` motion packets; return the open pc."""
    pc = new_peer_connection(LOOPBACK)
    transport = DataChannelTransport()
    for channel in create_call_channels(pc):
        transport.attach(channel)
    await client.send(receiver_id, await make_offer(pc))
    while True:
        answer = await asyncio.wait_for(client.receive(), 20)
        if answer.type == "signal" and answer.data.get("sdp_type") == "answer":
            break
    await accept_answer(pc, answer.data)
    await asyncio.wait_for(transport.opened.wait(), 20)
    transport.send("control", control.hello_message(FPS, loaded.fingerprint, "tiny"))
    crop = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    start = clock_ms()
    payload = encode_keyframe_payload(make_keyframe(TorchRuntime(loaded), loaded.fingerprint, crop))
    for chunk in split_keyframe(payload, 0, 0, wire_timestamp(start), keyframe_id=1):
        transport.send("control", chunk)
    layout = layout_for(loaded.config)
    encoder = MotionEncoder(layout, stream_id=0, intra_period=25)
    for params in talking_head(layout, frames, FPS, seed=3):
        transport.send("motion", encoder.encode(params, wire_timestamp(clock_ms())))
        await asyncio.sleep(1 / FPS)
    return pc


@pytest.mark.slow
def test_a_silent_sender_is_dropped_within_the_timeout_and_the_call_resumes():
    loaded = load_weights(None, "tiny")
    heartbeat = HeartbeatConfig()  # the default: 5 s

    async def run():
        runner, port = await _start_server()
        url = f"http://127.0.0.1:{port}"
        sinks: list[Recorder] = []
        room = ReceiverRoom(loaded, open_runtime(loaded, "torch"), lambda info: sinks.append(
            Recorder()) or sinks[-1])  # fmt: skip
        app = ReceiverApp(room, SignalingOptions(url, "d"), LOOPBACK, heartbeat=heartbeat)
        task = asyncio.create_task(app.run())
        client = SignalingClient(url, "d", "sender")
        pcs = []
        try:
            await asyncio.sleep(0.3)
            receiver_id = (await client.connect()).peers[0].peer_id
            pcs.append(await _call(loaded, client, receiver_id, frames=25))
            await _until(lambda: sinks and len(sinks[0].frames) >= 5, 20, "frames")
            (participant,) = room.participants
            core, sink = participant.core, sinks[0]
            await _until(lambda: core.call_state == "live", 20, "live")
            silent_from = time.monotonic()  # nothing more is sent; the pc stays up
            states = []

            def reconnecting() -> bool:
                states.append(pcs[0].connectionState)
                return core.call_state == "reconnecting"

            await _until(reconnecting, 15, "reconnecting")
            dropped_after = time.monotonic() - silent_from
            await _until(lambda: app.peers == (), 5, "the drop")
            assert room.participants == (participant,)  # the slot waits for its return
            held = len(sink.frames)
            snapshot = core.snapshot()
            assert states[-2] == "connected"  # ICE alone had not noticed: the heartbeat did
            await asyncio.sleep(1.0)
            assert len(sink.frames) == held  # the last frame stays; nothing new is drawn
            # the sender comes back (a new offer): live again with the next keyframe
            pcs.append(await _call(loaded, client, receiver_id, frames=25))
            await _until(lambda: core.call_state == "live", 20, "live again")
            await _until(lambda: len(sink.frames) >= held + 5, 20, "frames again")
            assert room.participants == (participant,) and len(sinks) == 1  # the same slot
        finally:
            await client.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for pc in pcs:
                await pc.close()
            await runner.cleanup()
        return dropped_after, snapshot, sink

    dropped_after, snapshot, sink = asyncio.run(asyncio.wait_for(run(), 90))
    print(f"silent sender dropped after {dropped_after:.2f} s")
    # The last packet went out at most a frame before `silent_from`; the check runs on time.
    assert heartbeat.timeout_s - 0.5 <= dropped_after <= heartbeat.timeout_s + 1.0
    assert snapshot["call"] == "reconnecting"
    assert len({frame.stream for frame in sink.frames}) == 2
