"""The fixed packet header: layout, exact errors, sequence arithmetic."""

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
)
from vid2vid.errors import BitstreamError

HEADER = PacketHeader(PacketType.MOTION_INTRA, stream_id=7, sequence=300, timestamp_us=1_000_033)


def test_layout_is_big_endian_and_20_bytes() -> None:
    data = bytes(HEADER)
    assert HEADER_SIZE == 20
    assert data.hex() == "56320102000000070000012c00000000000f4261"
    assert PacketHeader.parse(data + b"payload") == HEADER


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes(HEADER)[:12], "packet header is truncated: 12 of 20 bytes"),
        (b"", "packet header is truncated: 0 of 20 bytes"),
        (b"XY" + bytes(HEADER)[2:], "bad magic 5859, expected 5632"),
        (
            bytes(HEADER)[:2] + b"\x09" + bytes(HEADER)[3:],
            "unsupported format version 9, this decoder reads 1",
        ),
        (bytes(HEADER)[:3] + b"\x00" + bytes(HEADER)[4:], "unknown packet type 0"),
        (bytes(HEADER)[:3] + b"\x05" + bytes(HEADER)[4:], "unknown packet type 5"),
    ],
)
def test_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(BitstreamError) as caught:
        PacketHeader.parse(data)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stream_id": -1}, "stream id -1 is out of range 0..4294967295"),
        ({"sequence": 1 << 32}, "sequence number 4294967296 is out of range 0..4294967295"),
        ({"timestamp_us": -5}, "timestamp -5 is out of range 0..18446744073709551615"),
        ({"packet_type": 9}, "unknown packet type 9"),
    ],
)
def test_out_of_range_fields(kwargs: dict, message: str) -> None:
    fields = {"packet_type": PacketType.CONTROL, "stream_id": 1, "sequence": 2, "timestamp_us": 3}
    with pytest.raises(BitstreamError) as caught:
        PacketHeader(**{**fields, **kwargs})
    assert str(caught.value) == message


def test_expect_names_the_types() -> None:
    with pytest.raises(BitstreamError) as caught:
        HEADER.expect(PacketType.KEYFRAME_CHUNK)
    assert str(caught.value) == "expected a KEYFRAME_CHUNK packet, got MOTION_INTRA"


def test_sequence_wraparound() -> None:
    assert sequence_newer(0, 2**32 - 1)
    assert not sequence_newer(2**32 - 1, 0)
    assert sequence_distance(3, 2**32 - 2) == 5
    assert not sequence_newer(5, 5)


@given(
    st.sampled_from(list(PacketType)),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**64 - 1),
)
def test_round_trip(packet_type: PacketType, stream: int, sequence: int, timestamp: int) -> None:
    header = PacketHeader(packet_type, stream, sequence, timestamp)
    assert PacketHeader.parse(bytes(header)) == header
