"""Keyframe chunking: sizes, any-order reassembly, exact errors, and no crash on damage."""

from __future__ import annotations

import contextlib
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vid2vid.codec.bitstream.chunks import (
    MAX_PACKET,
    OVERHEAD,
    KeyframeAssembler,
    split_keyframe,
)
from vid2vid.codec.bitstream.header import PacketHeader, PacketType
from vid2vid.errors import BitstreamError

SMALL = 64  # max_packet for most tests: room for 46 payload bytes a chunk
ROOM = SMALL - OVERHEAD


def split(payload: bytes, keyframe_id: int = 1, max_packet: int = SMALL) -> list[bytes]:
    return split_keyframe(payload, 9, 100, 5000, keyframe_id, max_packet=max_packet)


def assemble(packets: list[bytes]) -> bytes | None:
    assembler = KeyframeAssembler()
    results = [assembler.add(p) for p in packets]
    assert all(r is None for r in results[:-1])
    return results[-1]


def test_layout_of_a_chunk() -> None:
    (packet,) = split(b"abc", keyframe_id=0x1234)
    header = PacketHeader.parse(packet)
    assert header == PacketHeader(PacketType.KEYFRAME_CHUNK, 9, 100, 5000)
    crc = zlib.crc32(b"abc").to_bytes(4, "big").hex()
    assert packet[8:].hex() == "1234" + "0000" + "0001" + crc + b"abc".hex()


@pytest.mark.parametrize(
    ("size", "count"),
    [(0, 1), (1, 1), (ROOM, 1), (ROOM + 1, 2), (3 * ROOM, 3), (3 * ROOM + 1, 4)],
)
def test_chunk_counts_at_the_boundaries(size: int, count: int) -> None:
    packets = split(bytes(size))
    assert len(packets) == count
    assert all(len(p) <= SMALL for p in packets)
    assert assemble(packets) == bytes(size)


def test_full_size_packets_are_exactly_64_kib() -> None:
    room = MAX_PACKET - OVERHEAD
    payload = bytes(range(256)) * (3 * room // 256) + bytes(3 * room % 256)
    packets = split_keyframe(payload, 0, 0, 0, 0)
    assert [len(p) for p in packets] == [MAX_PACKET] * 3
    assert assemble(packets) == payload


def test_sequence_numbers_wrap() -> None:
    packets = split_keyframe(bytes(3 * ROOM), 0, 65535, 0, 0, max_packet=SMALL)
    assert [PacketHeader.parse(p).sequence for p in packets] == [65535, 0, 1]


payload_sizes = st.one_of(
    st.integers(0, 10 * ROOM),
    st.integers(0, 10).map(lambda n: n * ROOM),  # exactly at a chunk boundary
)


@given(payload_sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n)), st.data())
def test_round_trip_in_any_order(payload: bytes, data: st.DataObject) -> None:
    packets = split(payload)
    assert assemble(data.draw(st.permutations(packets))) == payload


def test_missing_lists_what_has_not_arrived() -> None:
    packets = split(bytes(4 * ROOM))
    assembler = KeyframeAssembler()
    assert assembler.missing() == []
    assert assembler.add(packets[2]) is None
    assert assembler.add(packets[0]) is None
    assert assembler.missing() == [1, 3]
    assembler.add(packets[3])
    assert assembler.add(packets[1]) == bytes(4 * ROOM)
    assert assembler.missing() == []


def test_a_newer_keyframe_discards_an_incomplete_older_one() -> None:
    old, new = split(b"o" * 2 * ROOM, keyframe_id=1), split(b"n" * 2 * ROOM, keyframe_id=2)
    assembler = KeyframeAssembler()
    assembler.add(old[0])
    assembler.add(new[1])
    assert assembler.missing() == [0]
    assert assembler.add(new[0]) == b"n" * 2 * ROOM


def test_keyframe_ids_wrap() -> None:
    assembler = KeyframeAssembler()
    assembler.add(split(b"x" * 2 * ROOM, keyframe_id=65535)[0])
    assert assembler.add(split(b"new", keyframe_id=0)[0]) == b"new"


def _error(packets: list[bytes]) -> str:
    assembler = KeyframeAssembler(max_payload=3 * ROOM)
    with pytest.raises(BitstreamError) as caught:
        for packet in packets:
            assembler.add(packet)
    return str(caught.value)


def _patched(packet: bytes, offset: int, value: bytes) -> bytes:
    return packet[:offset] + value + packet[offset + len(value) :]


THREE = split(bytes(range(3 * ROOM)), keyframe_id=5)
CRC = zlib.crc32(bytes(range(3 * ROOM)))
DAMAGED_CRC = zlib.crc32(bytes(range(2 * ROOM)) + b"\xff" + bytes(range(2 * ROOM + 1, 3 * ROOM)))


@pytest.mark.parametrize(
    ("packets", "message"),
    [
        ([THREE[1], THREE[1]], "keyframe 5 chunk 1 arrived twice"),
        (
            [THREE[0], _patched(THREE[1], 12, b"\x00\x04")],
            "keyframe 5 chunk 1 says 4 chunks, earlier chunks said 3",
        ),
        ([_patched(THREE[1], 10, b"\x00\x03")], "keyframe 5 chunk 3: index out of range 0..2"),
        ([_patched(THREE[0], 12, b"\x00\x00")], "keyframe 5 chunk 0 has a chunk count of 0"),
        (
            [THREE[0], _patched(THREE[1], 14, b"\x00\x00\x00\x00")],
            f"keyframe 5 chunk 1 carries CRC 0x00000000, earlier chunks carried 0x{CRC:08x}",
        ),
        (
            [THREE[0], THREE[1], _patched(THREE[2], OVERHEAD, b"\xff")],
            f"keyframe 5 CRC mismatch: computed 0x{DAMAGED_CRC:08x}, chunks carried 0x{CRC:08x}",
        ),
        (THREE + [THREE[0]], "keyframe 5 chunk 0 arrived after the keyframe was complete"),
        (
            [THREE[0], split(b"old", keyframe_id=4)[0]],
            "keyframe 4 chunk 0 is stale: keyframe 5 came after it",
        ),
        ([THREE[0][:17]], "keyframe chunk is truncated: 17 of 18 bytes"),
        ([THREE[0][:5]], "packet header is truncated: 5 of 8 bytes"),
        (
            [bytes(PacketHeader(PacketType.MOTION_INTRA, 0, 0, 0)) + bytes(20)],
            "expected a KEYFRAME_CHUNK packet, got MOTION_INTRA",
        ),
        (split(bytes(3 * ROOM + 1)), "keyframe 1 grows past the 138-byte limit"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_errors(packets: list[bytes], message: str) -> None:
    assert _error(packets) == message


def test_a_refused_chunk_leaves_the_keyframe_assembling() -> None:
    assembler = KeyframeAssembler()
    assembler.add(THREE[0])
    with pytest.raises(BitstreamError):
        assembler.add(THREE[0])
    assembler.add(THREE[1])
    assert assembler.add(THREE[2]) == bytes(range(3 * ROOM))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_packet": OVERHEAD}, ValueError, "max_packet must be in 19..65536, got 18"),
        ({"max_packet": MAX_PACKET + 1}, ValueError, "max_packet must be in 19..65536, got 65537"),
        ({"keyframe_id": 65536}, BitstreamError, "keyframe id 65536 is out of range 0..65535"),
        (
            {"payload": bytes(65536), "max_packet": OVERHEAD + 1},
            BitstreamError,
            "keyframe payload of 65536 bytes needs 65536 chunks, more than 65535",
        ),
    ],
)
def test_split_errors(kwargs: dict, error: type[Exception], message: str) -> None:
    arguments = {"payload": b"x", "keyframe_id": 0, "max_packet": SMALL, **kwargs}
    with pytest.raises(error) as caught:
        split_keyframe(
            arguments["payload"], 0, 0, 0, arguments["keyframe_id"], arguments["max_packet"]
        )
    assert str(caught.value) == message


@settings(max_examples=300)
@given(st.binary(max_size=4 * ROOM), st.data())
def test_damaged_chunks_raise_only_bitstream_error(payload: bytes, data: st.DataObject) -> None:
    packets = [bytearray(p) for p in split(payload)]
    for _ in range(data.draw(st.integers(1, 4))):
        packet = data.draw(st.sampled_from(packets))
        position = data.draw(st.integers(0, len(packet) - 1))
        packet[position] = data.draw(st.integers(0, 255))
    assembler = KeyframeAssembler()
    for packet in data.draw(st.permutations(packets)):
        cut = data.draw(st.integers(0, len(packet)))
        with contextlib.suppress(BitstreamError):  # anything else fails the test
            assembler.add(bytes(packet[:cut]))
