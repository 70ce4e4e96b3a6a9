"""Motion packs: exact round trips, exact errors, the packer's boundaries, packs under loss."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vid2vid.bench.synthetic_motion import talking_head
from vid2vid.call.pack import (
    MAX_PLAYOUT_SPAN_MS,
    PACK_MAGIC,
    Packer,
    PackInbox,
    PackingTransport,
    is_pack,
    pack_packets,
    unpack,
)
from vid2vid.call.transport import LossPattern, memory_pair
from vid2vid.codec.bitstream.header import PacketHeader, wire_timestamp
from vid2vid.codec.bitstream.motion import MotionDecoder, MotionEncoder
from vid2vid.codec.bitstream.motion_params import MotionLayout
from vid2vid.errors import BitstreamError, ConfigError

LAYOUT = MotionLayout(num_kp=10, has_scale=False)
FPS = 25.0


def _packets(
    n: int, first_sequence: int = 65530, intra_period: int = 10, start_ms: int = 0, fps=FPS
):
    """``n`` real motion packets of lively synthetic motion, 1/fps apart (sequence wraps)."""
    encoder = MotionEncoder(LAYOUT, intra_period=intra_period, first_sequence=first_sequence)
    return [
        encoder.encode(params, wire_timestamp(start_ms + round(i * 1000 / fps)))
        for i, params in enumerate(talking_head(LAYOUT, n, FPS, seed=5))
    ]


@pytest.mark.parametrize("size", [2, 3, 6, 15])
def test_a_pack_rebuilds_every_packet_byte_for_byte_and_is_smaller(size):
    packets = _packets(size, start_ms=(1 << 24) - 50)  # sequence and timestamp both wrap
    message = pack_packets(packets)
    assert is_pack(message) and message[0] == PACK_MAGIC
    out = unpack(message)
    assert [u.packet for u in out] == packets
    assert [u.offset_ms for u in out] == [round(i * 1000 / FPS) for i in range(size)]
    # One 8-byte header for all, then 3 bytes per packet instead of 8.
    assert len(message) == 8 + sum(len(p) - 8 + 3 for p in packets)


def test_the_packer_fills_packs_and_starts_a_new_one_where_a_packet_cannot_join():
    packets = _packets(7)
    packer = Packer(3)
    out = [packer.add(p) for p in packets]
    assert [len(o) for o in out] == [0, 0, 1, 0, 0, 1, 0]
    assert [u.packet for u in unpack(out[2][0])] == packets[:3]
    assert packer.pending == 1
    assert packer.flush() == [packets[6]]  # a pack of one goes bare
    # A sequence jump (another encoder) closes the pending pack first.
    other = _packets(2, first_sequence=1000)
    assert packer.add(packets[0]) == []
    sent = packer.add(other[0])
    assert sent == [packets[0]] and packer.pending == 1
    # Size 1 sends every packet as it is.
    assert Packer(1).add(packets[0]) == [packets[0]]


def test_pack_arguments_are_checked():
    with pytest.raises(ConfigError, match="pack must be in 1..15, got 16"):
        Packer(16)
    with pytest.raises(ConfigError, match="a pack holds 1..15 packets, got 0"):
        pack_packets([])
    a, b = _packets(2)
    with pytest.raises(ConfigError, match="cannot follow"):
        pack_packets([b, a])


def test_malformed_packs_raise_exact_errors():
    message = pack_packets(_packets(3))
    cases = {
        message[:5]: "motion pack header is truncated: 5 of 8 bytes",
        bytes([PACK_MAGIC, 0x20])
        + message[2:]: "unsupported pack version 2, this receiver reads 1",
        bytes([PACK_MAGIC, 0x10]) + message[2:]: "motion pack holds no packets",
        message[:8]: "motion pack is truncated: 0 of 3 packets",
        message + b"\x00": "motion pack has 1 bytes after its packets",
        message[:9]: "motion pack is truncated in the timestamp step of a packet",
        bytes([PACK_MAGIC, 0x12]) + message[2:8] + b"\x01": "sequence step 1 at packet 0",
    }
    for bad, text in cases.items():
        with pytest.raises(BitstreamError, match=text):
            unpack(bad)


def test_every_cut_of_a_pack_is_refused_with_a_bitstream_error():
    message = pack_packets(_packets(4))
    for end in range(len(message)):
        with pytest.raises(BitstreamError):
            unpack(message[:end])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_packs_never_raise_anything_but_bitstream_errors(tail):
    try:
        for item in unpack(bytes([PACK_MAGIC]) + tail):
            PacketHeader.parse(item.packet)
    except BitstreamError:
        pass


def test_the_inbox_plays_a_pack_out_at_its_captured_spacing():
    async def run():
        loop = asyncio.get_running_loop()
        got = []
        inbox = PackInbox(lambda packet: got.append((loop.time(), packet)))
        packets = _packets(3)
        start = loop.time()
        inbox.receive(pack_packets(packets))
        assert [p for _, p in got] == packets[:1]  # the first at once
        await asyncio.sleep(0.2)
        inbox.receive(b"V-bare")  # bare packets pass untouched
        inbox.receive(bytes([PACK_MAGIC, 0x13]))  # malformed: counted, dropped
        return start, got, packets, inbox

    start, got, packets, inbox = asyncio.run(run())
    assert [p for _, p in got] == [*packets, b"V-bare"]
    offsets = [t - start for t, _ in got[:3]]
    assert offsets[1] >= 0.039 and offsets[2] >= 0.079  # never before its captured spacing
    assert inbox.packs == 1 and inbox.malformed == 1


def test_a_peer_cannot_hold_packets_back_longer_than_the_playout_cap():
    async def run():
        loop = asyncio.get_running_loop()
        got = []
        inbox = PackInbox(lambda packet: got.append(loop.time()))
        packets = _packets(2)
        late = PacketHeader.parse(packets[1])
        late = PacketHeader(late.packet_type, late.stream_id, late.sequence, 1_000_000)
        packets[1] = bytes(late) + packets[1][8:]  # captured 1000 s after the first
        start = loop.time()
        inbox.receive(pack_packets(packets))
        await asyncio.sleep(MAX_PLAYOUT_SPAN_MS / 1000 + 0.3)
        inbox.close()
        return start, got

    start, got = asyncio.run(run())
    assert len(got) == 2 and got[1] - start < MAX_PLAYOUT_SPAN_MS / 1000 + 0.25


async def _packed_link(size: int, frames: int, drop, intra_period: int = 10, fps: float = 100.0):
    """``frames`` packets at ``fps`` through a packing sender over a lossy memory pair
    (100 fps by default: the test runs 4x faster than a call, timestamps and pace alike)."""
    a, b = memory_pair(LossPattern(drop=drop))
    sender = PackingTransport(a, size, max_wait_ms=60_000)  # packs fill; no timer in the way
    got: list[bytes] = []
    b.set_handler(lambda channel, message: got.append(message))
    packets = _packets(frames, intra_period=intra_period, start_ms=5_000, fps=fps)
    for packet in packets:
        sender.send("motion", packet)
        await asyncio.sleep(1 / fps)
    sender.flush()
    await asyncio.sleep(size / fps + 0.1)
    sender.close()
    b.close()
    return packets, got, a


@pytest.mark.parametrize("size", [2, 3, 5])
def test_after_any_lost_pack_every_predicted_packet_whose_intra_came_decodes(size):
    rng = random.Random(size)
    packets, got, link = asyncio.run(_packed_link(size, 120, drop=lambda i: rng.random() < 0.3))
    assert link.dropped > 0, "the pattern lost no pack"
    sent_messages = link.sent["motion"]
    assert sent_messages == -(-120 // size)  # packs really went out as packs
    # Arrivals are exactly the sent packets, in order, whole packs missing.
    index = {p: i for i, p in enumerate(packets)}
    arrived = [index[p] for p in got]
    assert arrived == sorted(arrived) and len(arrived) < len(packets)
    lost = set(range(len(packets))) - set(arrived)
    assert all(i // size * size in lost for i in lost)  # whole packs were lost, never a part
    assert {i // size for i in lost} == {i // size for i in lost if i % size == 0}
    # Decoding: a predicted packet decodes exactly when its intra arrived; none is corrupted.
    full = MotionDecoder(LAYOUT)
    expected = {p: full.decode(p).params for p in packets}
    decoder = MotionDecoder(LAYOUT)
    arrived_set = set(got)
    for packet in got:
        header = PacketHeader.parse(packet)
        intra_index = index[packet] - index[packet] % 10  # intra period 10 from packet 0
        if packets[intra_index] in arrived_set:
            decoded = decoder.decode(packet)
            assert _same(decoded.params, expected[packet]), f"packet {header.sequence} is corrupted"
        else:
            with pytest.raises(BitstreamError, match="does not have"):
                decoder.decode(packet)


def _same(a, b) -> bool:
    return (
        (a.yaw, a.pitch, a.roll, a.scale) == (b.yaw, b.pitch, b.roll, b.scale)
        and np.array_equal(a.translation, b.translation)
        and np.array_equal(a.deformation, b.deformation)
    )


def test_a_packing_transport_passes_control_and_flushes_a_partial_pack_in_time():
    async def run():
        a, b = memory_pair()
        sender = PackingTransport(a, 4, max_wait_ms=60)
        got = []
        b.set_handler(lambda channel, message: got.append((channel, message)))
        packets = _packets(2)
        for packet in packets:
            assert sender.send("motion", packet)
        assert sender.send("control", "hello")
        await asyncio.sleep(0.01)
        before = list(got)
        await asyncio.sleep(0.2)  # the 60 ms timer sends the two pending packets as one pack
        return before, got, packets, a, sender

    before, got, packets, link, sender = asyncio.run(run())
    assert before == [("control", "hello")]
    assert got[1:] == [("motion", p) for p in packets]
    assert link.sent["motion"] == 1 and sender.packs_sent == 1
