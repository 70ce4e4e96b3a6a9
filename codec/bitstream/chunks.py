"""Keyframe payloads cut into KEYFRAME_CHUNK packets of at most 64 KiB, and put back together.

Why chunks: a keyframe (tens of KiB as an image, MiBs as a volume) goes over an SCTP data
channel, and aiortc refuses messages over 256 KiB; 64 KiB packets also keep one keyframe from
holding up the channel. Every packet is a :class:`PacketHeader` and then::

    offset  size  field
    8       u16   keyframe id (wraps; newer ids replace older ones)
    10      u16   chunk index, 0 .. count - 1
    12      u16   chunk count, at least 1
    14      u32   CRC-32 of the whole payload (in every chunk, so all chunks must agree)
    18      ...   this chunk's slice of the payload

The CRC rides in every chunk rather than only chunk 0 so that the chunk header is the same for
all chunks and a chunk from a different payload under a reused id shows up at once.
"""

from __future__ import annotations

import struct
import zlib

from vid2vid.codec.bitstream.header import (
    HEADER_SIZE,
    SEQUENCE_MODULUS,
    PacketHeader,
    PacketType,
    sequence_newer,
)
from vid2vid.errors import BitstreamError

CHUNK_HEADER = struct.Struct(">HHHI")
#: Bytes in front of each chunk's data: packet header and chunk header.
OVERHEAD = HEADER_SIZE + CHUNK_HEADER.size  # 18
MAX_PACKET = 64 * 1024
MAX_CHUNKS = 0xFFFF
KEYFRAME_ID_MODULUS = 1 << 16
#: The default cap on an assembled payload, well above a float16 LivePortrait volume (4 MiB).
MAX_PAYLOAD = 32 << 20


def split_keyframe(
    payload: bytes,
    stream_id: int,
    first_sequence: int,
    timestamp_ms: int,
    keyframe_id: int,
    max_packet: int = MAX_PACKET,
) -> list[bytes]:
    """Cut ``payload`` into packets of at most ``max_packet`` bytes each, header included.

    Chunks take consecutive sequence numbers from ``first_sequence`` (wrapping) and share the
    capture timestamp. An empty payload still makes one chunk.
    """
    if not OVERHEAD < max_packet <= MAX_PACKET:
        raise ValueError(f"max_packet must be in {OVERHEAD + 1}..{MAX_PACKET}, got {max_packet}")
    if not 0 <= keyframe_id < KEYFRAME_ID_MODULUS:
        raise BitstreamError(
            f"keyframe id {keyframe_id} is out of range 0..{KEYFRAME_ID_MODULUS - 1}"
        )
    room = max_packet - OVERHEAD
    count = max(1, -(-len(payload) // room))
    if count > MAX_CHUNKS:
        raise BitstreamError(
            f"keyframe payload of {len(payload)} bytes needs {count} chunks, more than {MAX_CHUNKS}"
        )
    crc = zlib.crc32(payload)
    packets = []
    for index in range(count):
        sequence = (first_sequence + index) % SEQUENCE_MODULUS
        header = PacketHeader(PacketType.KEYFRAME_CHUNK, stream_id, sequence, timestamp_ms)
        chunk = CHUNK_HEADER.pack(keyframe_id, index, count, crc)
        packets.append(bytes(header) + chunk + payload[index * room : (index + 1) * room])
    return packets


class KeyframeAssembler:
    """Collects the chunks of one keyframe in any order; ``add`` returns the payload when whole.

    A chunk with a newer keyframe id drops an incomplete older keyframe (the sender has moved
    on); a chunk of an older or the just-finished keyframe is refused. Every refusal raises
    :class:`BitstreamError` and leaves the state as it was, so the caller logs it and goes on,
    except a CRC mismatch, which drops the whole keyframe since no chunk can be trusted.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._max_payload = max_payload
        self._id: int | None = None  # the keyframe being assembled, or the last one finished
        self._done = False
        self._count = 0
        self._crc = 0
        self._chunks: dict[int, bytes] = {}
        self._size = 0

    def add(self, packet: bytes, header: PacketHeader | None = None) -> bytes | None:
        """Take one KEYFRAME_CHUNK packet; the whole payload once its last chunk arrives.

        ``header``: the packet's header when the caller has parsed it already.
        """
        (PacketHeader.parse(packet) if header is None else header).expect(PacketType.KEYFRAME_CHUNK)
        if len(packet) < OVERHEAD:
            raise BitstreamError(f"keyframe chunk is truncated: {len(packet)} of {OVERHEAD} bytes")
        keyframe_id, index, count, crc = CHUNK_HEADER.unpack_from(packet, HEADER_SIZE)
        data = packet[OVERHEAD:]
        where = f"keyframe {keyframe_id} chunk {index}"
        if count == 0:
            raise BitstreamError(f"{where} has a chunk count of 0")
        if index >= count:
            raise BitstreamError(f"{where}: index out of range 0..{count - 1}")
        if keyframe_id != self._id:
            if self._id is not None and not sequence_newer(keyframe_id, self._id):
                raise BitstreamError(f"{where} is stale: keyframe {self._id} came after it")
            self._start(keyframe_id, count, crc)
        elif self._done:
            raise BitstreamError(f"{where} arrived after the keyframe was complete")
        if count != self._count:
            raise BitstreamError(f"{where} says {count} chunks, earlier chunks said {self._count}")
        if crc != self._crc:
            raise BitstreamError(
                f"{where} carries CRC 0x{crc:08x}, earlier chunks carried 0x{self._crc:08x}"
            )
        if index in self._chunks:
            raise BitstreamError(f"{where} arrived twice")
        if self._size + len(data) > self._max_payload:
            raise BitstreamError(
                f"keyframe {keyframe_id} grows past the {self._max_payload}-byte limit"
            )
        self._chunks[index] = data
        self._size += len(data)
        return self._finish() if len(self._chunks) == self._count else None

    def missing(self) -> list[int]:
        """Chunk indices of the keyframe being assembled that have not arrived (sorted)."""
        if self._id is None or self._done:
            return []
        return [i for i in range(self._count) if i not in self._chunks]

    def _start(self, keyframe_id: int, count: int, crc: int) -> None:
        self._id, self._done, self._count, self._crc = keyframe_id, False, count, crc
        self._chunks, self._size = {}, 0

    def _finish(self) -> bytes:
        payload = b"".join(self._chunks[i] for i in range(self._count))
        self._chunks, self._size, self._done = {}, 0, True
        computed = zlib.crc32(payload)
        if computed != self._crc:
            raise BitstreamError(
                f"keyframe {self._id} CRC mismatch: computed 0x{computed:08x}, "
                f"chunks carried 0x{self._crc:08x}"
            )
        return payload
