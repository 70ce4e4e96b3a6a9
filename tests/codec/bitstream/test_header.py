"""The fixed packet header: layout, exact errors, wrapping counters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vid2vid.codec.bitstream.header import (
    HEADER_SIZE,
    PacketHeader,
    PacketType,
    sequence_distance,
    sequence_newer,
    timestamp_distance,
    wire_timestamp,
)
from vid2vid.errors import BitstreamError

HEADER = PacketHeader(PacketType.MOTION_INTRA, stream_id=7, sequence=300, timestamp_ms=1_000_033)


def test_layout_is_big_endian_and_8_bytes() -> None:
    data = bytes(HEADER)
    assert HEADER_SIZE == 8
    assert data.hex() == "561207012c0f4261"
    assert PacketHeader.parse(data + b"payload") == HEADER


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes(HEADER)[:5], "packet header is truncated: 5 of 8 bytes"),
        (b"", "packet header is truncated: 0 of 8 bytes"),
        (b"X" + bytes(HEADER)[1:], "bad magic 0x58, expected 0x56"),
        (b"V\x92" + bytes(HEADER)[2:], "unsupported format version 9, this decoder reads 1"),
        (b"V\x10" + bytes(HEADER)[2:], "unknown packet type 0"),
        (b"V\x15" + bytes(HEADER)[2:], "unknown packet type 5"),
    ],
)
def test_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(BitstreamError) as caught:
        PacketHeader.parse(data)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stream_id": -1}, "stream id -1 is out of range 0..255"),
        ({"stream_id": 256}, "stream id 256 is out of range 0..255"),
        ({"sequence": 1 << 16}, "sequence number 65536 is out of range 0..65535"),
        ({"timestamp_ms": -5}, "timestamp -5 is out of range 0..16777215"),
        ({"packet_type": 9}, "unknown packet type 9"),
    ],
)
def test_out_of_range_fields(kwargs: dict, message: str) -> None:
    fields = {"packet_type": PacketType.CONTROL, "stream_id": 1, "sequence": 2, "timestamp_ms": 3}
    with pytest.raises(BitstreamError) as caught:
        PacketHeader(**{**fields, **kwargs})
    assert str(caught.value) == message


def test_expect_names_the_types() -> None:
    with pytest.raises(BitstreamError) as caught:
        HEADER.expect(PacketType.KEYFRAME_CHUNK)
    assert str(caught.value) == "expected a KEYFRAME_CHUNK packet, got MOTION_INTRA"


def test_sequence_wraparound() -> None:
    assert sequence_newer(0, 2**16 - 1)
    assert not sequence_newer(2**16 - 1, 0)
    assert sequence_distance(3, 2**16 - 2) == 5
    assert not sequence_newer(5, 5)


def test_timestamps_wrap_and_compare_signed() -> None:
    late = wire_timestamp(2**24 + 40)
    assert late == 40
    assert timestamp_distance(late, 2**24 - 10) == 50
    assert timestamp_distance(2**24 - 10, late) == -50


@given(
    st.sampled_from(list(PacketType)),
    st.integers(0, 255),
    st.integers(0, 2**16 - 1),
    st.integers(0, 2**24 - 1),
)
def test_round_trip(packet_type: PacketType, stream: int, sequence: int, timestamp: int) -> None:
    header = PacketHeader(packet_type, stream, sequence, timestamp)
    assert PacketHeader.parse(bytes(header)) == header
