"""Delayed SACKs over two real aiortc peers on 127.0.0.1: fewer acknowledgements, same data.

The datagram tap counts what each end puts on the wire; its seeded loss drops SCTP's datagrams
in user space (the kernel here has no netem).
"""

from __future__ import annotations

import asyncio

import pytest

from vid2vid.call.rtc import IceConfig, connect_in_process
from vid2vid.call.sack import (
    CALL_POLICY,
    DelayedAck,
    DelayedAckPolicy,
    delayed_ack_of,
    install_delayed_ack,
)
from vid2vid.call.wire import DatagramTap, seeded_loss
from vid2vid.errors import ConfigError

LOOPBACK = IceConfig(hosts=("127.0.0.1",))
MOTION = b"V" + bytes(20)  # a motion-sized message; the channels do not parse it


async def _stream(ack, messages: int, loss: float = 0.0, control: int = 0):
    """Send ``messages`` motion messages (and ``control`` reliable ones) 10 ms apart."""
    sender_pc, receiver_pc, sending, receiving = await connect_in_process(LOOPBACK, ack=ack)
    try:
        forward = DatagramTap(drop=seeded_loss(loss, seed=1)).install(sender_pc)
        back = DatagramTap(drop=seeded_loss(loss, seed=2)).install(receiver_pc)
        got = {"motion": [], "control": []}
        receiving.set_handler(lambda channel, message: got[channel].append(message))
        for i in range(max(messages, control)):
            if i < messages:
                sending.send("motion", MOTION)
            if i < control:
                sending.send("control", f"c{i}")
            await asyncio.sleep(0.01)
        for _ in range(150):  # reliable data lost near the end waits for a retransmission timer
            if len(got["control"]) >= control:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.6)  # past the longest SACK delay
        adapter = delayed_ack_of(receiver_pc.sctp)
        return got, forward, back, adapter
    finally:
        await sender_pc.close()
        await receiver_pc.close()


def test_every_packet_is_acknowledged_without_the_adapter_and_every_second_with_it():
    got, forward, back, adapter = asyncio.run(_stream(None, 60))
    assert adapter is None and len(got["motion"]) == 60
    per_packet = back.sent.datagrams
    got, forward, back, adapter = asyncio.run(_stream(DelayedAckPolicy(), 60))
    assert len(got["motion"]) == 60 and adapter is not None
    delayed = back.sent.datagrams
    assert per_packet >= 58  # aiortc: one SACK for each of the 60 packets (± consent checks)
    assert delayed <= 60 // 2 + 4, f"{delayed} datagrams back for 60 packets"
    assert adapter.sent <= 31 and adapter.deferred >= 29


def test_a_longer_delay_acknowledges_less_within_rfc_bounds():
    got, _, back, adapter = asyncio.run(_stream(DelayedAckPolicy(every=8, delay_ms=500), 60))
    assert len(got["motion"]) == 60
    assert back.sent.datagrams <= 60 // 8 + 4


def test_ordered_data_is_acknowledged_every_second_packet_whatever_the_policy():
    # Control messages (keyframe chunks) grow the sender's window only with SACKs: a lazy
    # policy for motion must not slow them down.
    got, _, back, adapter = asyncio.run(
        _stream(DelayedAckPolicy(every=16, delay_ms=500), 0, control=40)
    )
    assert got["control"] == [f"c{i}" for i in range(40)]
    assert back.sent.datagrams >= 40 // 2 - 1


def test_data_still_flows_under_loss_both_ways():
    # 15 % of SCTP's datagrams lost each way: DATA forward, SACKs back.
    got, forward, back, adapter = asyncio.run(
        _stream(DelayedAckPolicy(), 100, loss=0.15, control=60)
    )
    assert forward.dropped["out"] > 0 and back.dropped["out"] > 0
    # Reliable, ordered control data: all of it, in order (retransmitted where lost).
    assert got["control"] == [f"c{i}" for i in range(60)]
    # Unreliable motion: what was not lost arrives, nothing is retransmitted.
    assert 60 <= len(got["motion"]) < 100
    # Gaps are reported at once (for fast retransmit), so loss costs some SACKs, not all.
    assert adapter.sent < forward.sent.datagrams


def test_policy_bounds_follow_rfc_4960():
    with pytest.raises(ConfigError, match=r"delay_ms must be in \(0, 500\]"):
        DelayedAckPolicy(delay_ms=600)
    with pytest.raises(ConfigError, match="every must be >= 1, got 0"):
        DelayedAckPolicy(every=0)


def test_one_adapter_per_transport_found_through_the_seam_it_took():
    class Transport:  # the two coroutines of aiortc's RTCSctpTransport the adapter takes over
        async def _send_sack(self) -> None: ...

        async def _receive_data_chunk(self, chunk) -> None: ...

    sctp = Transport()
    assert delayed_ack_of(sctp) is None
    adapter = install_delayed_ack(sctp)
    assert delayed_ack_of(sctp) is adapter and install_delayed_ack(sctp) is adapter
    with pytest.raises(ConfigError, match="already has a delayed-ack adapter"):
        DelayedAck(sctp).install()
    assert set(vars(sctp)) == {"_send_sack", "_receive_data_chunk"}  # nothing else stored on it


def test_a_calls_transports_default_to_the_call_policy():
    """The apps build DataChannelTransport() with no policy: motion is acknowledged every 16th
    packet or 500 ms (the return path of a motion stream falls below 2 kbit/s)."""
    from vid2vid.call.rtc import (
        accept_answer,
        accept_offer,
        create_call_channels,
        make_offer,
        new_peer_connection,
    )
    from vid2vid.call.transport import DataChannelTransport

    async def run():
        sender_pc, receiver_pc = new_peer_connection(LOOPBACK), new_peer_connection(LOOPBACK)
        sending, receiving = DataChannelTransport(), DataChannelTransport()
        try:
            for channel in create_call_channels(sender_pc):
                sending.attach(channel)
            receiver_pc.on("datachannel", receiving.attach)
            offer = await make_offer(sender_pc)
            await accept_answer(sender_pc, await accept_offer(receiver_pc, offer))
            await asyncio.wait_for(
                asyncio.gather(sending.opened.wait(), receiving.opened.wait()), 20
            )
            back = DatagramTap().install(receiver_pc)
            got = []
            receiving.set_handler(lambda channel, message: got.append(message))
            for _ in range(64):
                sending.send("motion", MOTION)
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.6)
            return got, back.sent.datagrams, delayed_ack_of(receiver_pc.sctp)
        finally:
            await sender_pc.close()
            await receiver_pc.close()

    got, back, adapter = asyncio.run(run())
    assert len(got) == 64 and adapter is not None and adapter.policy == CALL_POLICY
    assert back <= 64 // 16 + 3, f"{back} datagrams back for 64 packets"
