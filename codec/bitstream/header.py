"""The fixed header every vid2vid packet starts with (big-endian, 20 bytes).

::

    0      2        3      4           8            12                     20
    +------+--------+------+-----------+------------+----------------------+
    | "V2" | version| type | stream id |  sequence  | capture timestamp µs |
    +------+--------+------+-----------+------------+----------------------+
      2 B     u8      u8       u32          u32               u64

Sequence numbers are per stream and wrap around at 2**32; compare them with
:func:`sequence_newer` / :func:`sequence_distance` (RFC 1982 serial arithmetic), never with ``<``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from vid2vid.errors import BitstreamError

MAGIC = b"V2"
#: The wire-format version this module writes and the only one it reads.
VERSION = 1
HEADER_FORMAT = struct.Struct(">2sBBIIQ")
HEADER_SIZE = HEADER_FORMAT.size  # 20
SEQUENCE_MODULUS = 1 << 32
_U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1


class PacketType(IntEnum):
    """What follows the header."""

    KEYFRAME_CHUNK = 1
    MOTION_INTRA = 2
    MOTION_PREDICTED = 3
    CONTROL = 4


_TYPES = frozenset(int(t) for t in PacketType)


def sequence_distance(newer: int, older: int) -> int:
    """How many packets ``newer`` is after ``older``, modulo 2**32 (0 .. 2**32 - 1)."""
    return (newer - older) % SEQUENCE_MODULUS


def sequence_newer(a: int, b: int) -> bool:
    """Whether sequence number ``a`` comes after ``b``, across wraparound (half-range rule)."""
    return 0 < sequence_distance(a, b) < SEQUENCE_MODULUS // 2


def check_u32(name: str, value: int) -> None:
    if not 0 <= value <= _U32_MAX:
        raise BitstreamError(f"{name} {value} is out of range 0..{_U32_MAX}")


@dataclass(frozen=True)
class PacketHeader:
    """The 20-byte header of every packet; ``version`` is always :data:`VERSION`."""

    packet_type: PacketType
    stream_id: int
    sequence: int
    timestamp_us: int

    def __post_init__(self) -> None:
        if int(self.packet_type) not in _TYPES:
            raise BitstreamError(f"unknown packet type {int(self.packet_type)}")
        object.__setattr__(self, "packet_type", PacketType(self.packet_type))
        check_u32("stream id", self.stream_id)
        check_u32("sequence number", self.sequence)
        if not 0 <= self.timestamp_us <= _U64_MAX:
            raise BitstreamError(f"timestamp {self.timestamp_us} is out of range 0..{_U64_MAX}")

    def __bytes__(self) -> bytes:
        return HEADER_FORMAT.pack(
            MAGIC, VERSION, int(self.packet_type), self.stream_id, self.sequence, self.timestamp_us
        )

    @classmethod
    def parse(cls, data: bytes) -> PacketHeader:
        """Read the header at the start of ``data`` (the rest is the payload, not checked here)."""
        if len(data) < HEADER_SIZE:
            raise BitstreamError(f"packet header is truncated: {len(data)} of {HEADER_SIZE} bytes")
        magic, version, type_, stream_id, sequence, timestamp = HEADER_FORMAT.unpack_from(data)
        if magic != MAGIC:
            raise BitstreamError(f"bad magic {magic.hex()}, expected {MAGIC.hex()}")
        if version != VERSION:
            raise BitstreamError(
                f"unsupported format version {version}, this decoder reads {VERSION}"
            )
        if type_ not in _TYPES:
            raise BitstreamError(f"unknown packet type {type_}")
        return cls(PacketType(type_), stream_id, sequence, timestamp)

    def expect(self, *types: PacketType) -> None:
        """Raise unless this header announces one of ``types``."""
        if self.packet_type not in types:
            names = " or ".join(t.name for t in types)
            raise BitstreamError(f"expected a {names} packet, got {self.packet_type.name}")
