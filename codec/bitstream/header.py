"""The fixed header every vid2vid packet starts with (big-endian, 8 bytes).

::

    0     1              2           3            5                        8
    +-----+--------------+-----------+------------+------------------------+
    | "V" | version|type | stream id |  sequence  | capture timestamp, ms  |
    +-----+--------------+-----------+------------+------------------------+
      u8     u4  |  u4       u8          u16            u24

Why so small: at 30 motion packets a second every header byte costs 240 bit/s, and the whole
motion stream must stay under 10 kbit/s; a 20-byte header alone would spend half of it.
So the counters are short and wrap: sequence numbers at 2**16 (36 minutes at 30 fps),
timestamps at 2**24 ms (4.6 hours). Compare them only with :func:`sequence_newer` /
:func:`sequence_distance` and :func:`timestamp_distance` (RFC 1982 serial arithmetic), never
with ``<``; a receiver only ever compares packets seconds apart.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from vid2vid.errors import BitstreamError

MAGIC = 0x56  # "V"
#: The wire-format version this module writes and the only one it reads (4 bits).
VERSION = 1
HEADER_FORMAT = struct.Struct(">BBBH3s")
HEADER_SIZE = HEADER_FORMAT.size  # 8
SEQUENCE_MODULUS = 1 << 16
TIMESTAMP_MODULUS = 1 << 24
STREAM_ID_MAX = 0xFF


class PacketType(IntEnum):
    """What follows the header."""

    KEYFRAME_CHUNK = 1
    MOTION_INTRA = 2
    MOTION_PREDICTED = 3
    CONTROL = 4


_TYPES = frozenset(int(t) for t in PacketType)


def sequence_distance(newer: int, older: int) -> int:
    """How many packets ``newer`` is after ``older``, modulo 2**16 (0 .. 2**16 - 1)."""
    return (newer - older) % SEQUENCE_MODULUS


def sequence_newer(a: int, b: int) -> bool:
    """Whether sequence number ``a`` comes after ``b``, across wraparound (half-range rule)."""
    return 0 < sequence_distance(a, b) < SEQUENCE_MODULUS // 2


def timestamp_distance(newer_ms: int, older_ms: int) -> int:
    """Signed milliseconds from ``older_ms`` to ``newer_ms`` across the 2**24 ms wrap."""
    d = (newer_ms - older_ms) % TIMESTAMP_MODULUS
    return d - TIMESTAMP_MODULUS if d >= TIMESTAMP_MODULUS // 2 else d


def wire_timestamp(timestamp_ms: int) -> int:
    """A capture clock in ms (any non-negative int) as the header carries it."""
    return timestamp_ms % TIMESTAMP_MODULUS


def _check_range(name: str, value: int, top: int) -> None:
    if not 0 <= value <= top:
        raise BitstreamError(f"{name} {value} is out of range 0..{top}")


@dataclass(frozen=True)
class PacketHeader:
    """The 8-byte header of every packet; ``version`` is always :data:`VERSION`."""

    packet_type: PacketType
    stream_id: int
    sequence: int
    timestamp_ms: int

    def __post_init__(self) -> None:
        if int(self.packet_type) not in _TYPES:
            raise BitstreamError(f"unknown packet type {int(self.packet_type)}")
        object.__setattr__(self, "packet_type", PacketType(self.packet_type))
        _check_range("stream id", self.stream_id, STREAM_ID_MAX)
        _check_range("sequence number", self.sequence, SEQUENCE_MODULUS - 1)
        _check_range("timestamp", self.timestamp_ms, TIMESTAMP_MODULUS - 1)

    def __bytes__(self) -> bytes:
        return HEADER_FORMAT.pack(
            MAGIC,
            VERSION << 4 | int(self.packet_type),
            self.stream_id,
            self.sequence,
            self.timestamp_ms.to_bytes(3, "big"),
        )

    @classmethod
    def parse(cls, data: bytes) -> PacketHeader:
        """Read the header at the start of ``data`` (the rest is the payload, not checked here)."""
        if len(data) < HEADER_SIZE:
            raise BitstreamError(f"packet header is truncated: {len(data)} of {HEADER_SIZE} bytes")
        magic, version_type, stream_id, sequence, timestamp = HEADER_FORMAT.unpack_from(data)
        if magic != MAGIC:
            raise BitstreamError(f"bad magic 0x{magic:02x}, expected 0x{MAGIC:02x}")
        version, type_ = version_type >> 4, version_type & 0x0F
        if version != VERSION:
            raise BitstreamError(
                f"unsupported format version {version}, this decoder reads {VERSION}"
            )
        if type_ not in _TYPES:
            raise BitstreamError(f"unknown packet type {type_}")
        return cls(PacketType(type_), stream_id, sequence, int.from_bytes(timestamp, "big"))

    def expect(self, *types: PacketType) -> None:
        """Raise unless this header announces one of ``types``."""
        if self.packet_type not in types:
            names = " or ".join(t.name for t in types)
            raise BitstreamError(f"expected a {names} packet, got {self.packet_type.name}")
