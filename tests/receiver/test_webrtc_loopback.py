"""Two real aiortc peers on 127.0.0.1: the call's data channels, the receiver core, wire bytes."""

from __future__ import annotations

import asyncio

import pytest

from support.recorder import Recorder
from vid2vid.bench.synthetic_motion import talking_head
from vid2vid.call.rtc import (
    IceConfig,
    accept_answer,
    accept_offer,
    create_call_channels,
    make_offer,
    new_peer_connection,
    restrict_host_candidates,
    wire_bytes,
)
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
from vid2vid.errors import ConfigError
from vid2vid.receiver.core import ReceiverCore

LOOPBACK = IceConfig(hosts=("127.0.0.1",))


async def _connect():
    sender_pc, receiver_pc = new_peer_connection(LOOPBACK), new_peer_connection(LOOPBACK)
    sending, receiving = DataChannelTransport(), DataChannelTransport()
    for channel in create_call_channels(sender_pc):
        sending.attach(channel)
    announced = []

    @receiver_pc.on("datachannel")
    def on_channel(channel):
        announced.append(channel)
        receiving.attach(channel)

    answer = await accept_offer(receiver_pc, await make_offer(sender_pc))
    await accept_answer(sender_pc, answer)
    await asyncio.wait_for(asyncio.gather(sending.opened.wait(), receiving.opened.wait()), 20)
    return sender_pc, receiver_pc, sending, receiving, announced


def test_a_call_over_two_real_peer_connections():
    loaded = load_weights(None, "tiny")
    layout = layout_for(loaded.config)

    async def run():
        sender_pc, receiver_pc, sending, receiving, announced = await _connect()
        sink = Recorder()
        core = ReceiverCore(loaded, open_runtime(loaded, "torch"), sink,
                            lambda m: receiving.send("control", m))  # fmt: skip
        receiving.set_handler(core.on_message)
        requests = []
        sending.set_handler(lambda channel, message: requests.append(message))
        render = asyncio.create_task(core.run())
        # Motion before any keyframe: the receiver asks for one.
        encoder = MotionEncoder(layout)
        motions = talking_head(layout, 30, 25.0)
        sending.send("motion", encoder.encode(motions[0], wire_timestamp(clock_ms())))
        await asyncio.sleep(0.3)
        crop = __import__("numpy").full((64, 64, 3), 100, "uint8")
        payload = encode_keyframe_payload(
            make_keyframe(TorchRuntime(loaded), loaded.fingerprint, crop)
        )
        for chunk in split_keyframe(payload, 0, 0, wire_timestamp(clock_ms()), keyframe_id=3,
                                    max_packet=600):  # fmt: skip
            assert sending.send("control", chunk)
        for params in motions[1:]:
            sending.send("motion", encoder.encode(params, wire_timestamp(clock_ms())))
            await asyncio.sleep(0.04)
        await asyncio.sleep(0.5)
        render.cancel()
        await asyncio.gather(render, return_exceptions=True)
        sent, _ = wire_bytes(sender_pc)
        _, received = wire_bytes(receiver_pc)
        await sender_pc.close()
        await receiver_pc.close()
        return sink, core, requests, announced, sent, received

    sink, core, requests, announced, sent, received = asyncio.run(run())
    assert '{"type": "keyframe-request"}' in requests
    assert core.stats.totals.get("keyframes") == 1
    rendered = [f for f in sink.frames if f.sequence is not None]
    assert rendered and rendered[-1].sequence == 29
    motion = next(c for c in announced if c.label == "motion")
    control = next(c for c in announced if c.label == "control")
    assert (motion.ordered, motion.maxRetransmits) == (False, 0)
    assert control.ordered and control.maxRetransmits is None
    # Bytes on the wire include SCTP and DTLS framing: more than the payloads themselves.
    payload_bytes = core.stats.totals["motion_bytes"] + core.stats.totals["keyframe_bytes"]
    assert received > payload_bytes and sent >= received


def test_ice_hosts_must_be_addresses_and_restriction_is_reversible():
    import aioice.ice

    with pytest.raises(ConfigError, match="--ice-host must be an IP address"):
        IceConfig(hosts=("localhost",))
    restrict_host_candidates(["127.0.0.1", "::1"])
    assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
    assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1", "::1"]
    restrict_host_candidates([])
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(True, False)
