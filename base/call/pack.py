"""Several motion packets in one data-channel message (``--pack N``), and back.

Why: every data-channel message costs ≈ 93 bytes on the wire before its payload (SCTP DATA
chunk 16 + SCTP header 12 + DTLS record 37 + UDP/IPv4 28; aiortc never bundles chunks), against
motion packets of 10–40 bytes. Sending N frames per message divides that by N. The price is
latency: the first frame of a pack waits for the other N − 1 to be captured, and the receiver
plays the pack out at the spacing it was captured with (:class:`PackInbox`), so every frame
arrives (N − 1) / fps later than it would alone: 40 ms for N = 2 at 25 fps, 33 ms at 30 fps.

The pack also drops the header fields the channel makes redundant. Every packet of a pack
shares the magic, format version and stream id (the data channel already names the stream),
and consecutive packets step their sequence number and capture timestamp by small amounts, so
a pack carries one 8-byte header and 3 bytes per packet instead of 8::

    0     1                 2           3            5                        8
    +-----+-----------------+-----------+------------+------------------------+
    | "P" | version | count | stream id | sequence   | capture timestamp, ms  |  of packet 0
    +-----+-----------------+-----------+------------+------------------------+
      u8      u4   |  u4        u8          u16            u24

    then per packet:  u8  predicted << 7 | sequence step (0 for packet 0, else 1..127)
                      LEB128 timestamp step in ms (0 for packet 0; 1–3 bytes)
                      LEB128 body length (1–2 bytes), then the body: the packet after its header

:func:`unpack` rebuilds the original packets byte for byte, so everything after the transport
(jitter buffer, decoder) is the same road as for single packets, and a receiver reads bare
packets and packs alike whatever the sender chose. Loss stays a per-packet matter: a lost pack
is N lost packets, and each predicted packet still refers only to its intra (or the keyframe),
never to the packet before it; the packer only groups packets, it never reorders or recodes them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vid2vid.codec.bitstream.header import (
    HEADER_SIZE,
    SEQUENCE_MODULUS,
    TIMESTAMP_MODULUS,
    PacketHeader,
    PacketType,
    sequence_distance,
)
from vid2vid.errors import BitstreamError, ConfigError

log = logging.getLogger(__name__)

PACK_MAGIC = 0x50  # "P"; a bare packet starts with "V" (0x56)
PACK_VERSION = 1
PACK_HEADER = struct.Struct(">BBBH3s")
PACK_HEADER_SIZE = PACK_HEADER.size  # 8
#: The count is 4 bits.
MAX_PACK = 15
MAX_SEQUENCE_STEP = 0x7F
MAX_TIMESTAMP_STEP_MS = (1 << 21) - 1  # three LEB128 bytes
MAX_BODY = (1 << 14) - 1  # two LEB128 bytes
#: A receiver never holds a packet of a pack back longer than this, whatever the steps say.
MAX_PLAYOUT_SPAN_MS = 1000.0
_PREDICTED = 0x80
_MOTION = (PacketType.MOTION_INTRA, PacketType.MOTION_PREDICTED)


def _leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_leb128(data: bytes, pos: int, max_bytes: int, what: str) -> tuple[int, int]:
    value = 0
    for i in range(max_bytes):
        if pos + i >= len(data):
            raise BitstreamError(f"motion pack is truncated in the {what} of a packet")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise BitstreamError(f"motion pack has a {what} longer than {max_bytes} bytes")


def is_pack(message: bytes) -> bool:
    """Whether a motion-channel message is a pack (else it is a bare packet)."""
    return len(message) > 0 and message[0] == PACK_MAGIC


@dataclass(frozen=True)
class _Entry:
    header: PacketHeader
    body: bytes


def _entry(packet: bytes) -> _Entry:
    header = PacketHeader.parse(packet)
    header.expect(*_MOTION)
    return _Entry(header, packet[HEADER_SIZE:])


def _fits_after(previous: _Entry, entry: _Entry) -> bool:
    """Whether ``entry`` can follow ``previous`` in one pack (same stream, small forward steps)."""
    if entry.header.stream_id != previous.header.stream_id or len(entry.body) > MAX_BODY:
        return False
    step = sequence_distance(entry.header.sequence, previous.header.sequence)
    ts_step = (entry.header.timestamp_ms - previous.header.timestamp_ms) % TIMESTAMP_MODULUS
    return 1 <= step <= MAX_SEQUENCE_STEP and ts_step <= MAX_TIMESTAMP_STEP_MS


def _encode(entries: list[_Entry]) -> bytes:
    first = entries[0].header
    out = bytearray(
        PACK_HEADER.pack(
            PACK_MAGIC,
            PACK_VERSION << 4 | len(entries),
            first.stream_id,
            first.sequence,
            first.timestamp_ms.to_bytes(3, "big"),
        )
    )
    previous = first
    for entry in entries:
        header = entry.header
        step = sequence_distance(header.sequence, previous.sequence)
        ts_step = (header.timestamp_ms - previous.timestamp_ms) % TIMESTAMP_MODULUS
        predicted = _PREDICTED if header.packet_type is PacketType.MOTION_PREDICTED else 0
        out.append(predicted | step)
        out += _leb128(ts_step)
        out += _leb128(len(entry.body))
        out += entry.body
        previous = header
    return bytes(out)


def pack_packets(packets: list[bytes]) -> bytes:
    """One pack of 1..15 motion packets of one stream, in sending order (steps 1..127)."""
    if not 1 <= len(packets) <= MAX_PACK:
        raise ConfigError(f"a pack holds 1..{MAX_PACK} packets, got {len(packets)}")
    entries = [_entry(p) for p in packets]
    for previous, entry in zip(entries, entries[1:], strict=False):
        if not _fits_after(previous, entry):
            raise ConfigError(
                f"packet {entry.header.sequence} cannot follow {previous.header.sequence} "
                "in one pack (other stream, a step back or too far)"
            )
    return _encode(entries)


@dataclass(frozen=True)
class Unpacked:
    """A packet rebuilt from a pack, and its capture time after the pack's first (ms)."""

    packet: bytes
    offset_ms: int


def unpack(message: bytes) -> list[Unpacked]:
    """The packets of a pack, byte for byte as the sender's encoder made them.

    Raises :class:`~vid2vid.errors.BitstreamError` with an exact message on anything malformed.
    """
    if len(message) < PACK_HEADER_SIZE:
        raise BitstreamError(
            f"motion pack header is truncated: {len(message)} of {PACK_HEADER_SIZE} bytes"
        )
    magic, version_count, stream_id, sequence, timestamp = PACK_HEADER.unpack_from(message)
    if magic != PACK_MAGIC:
        raise BitstreamError(f"bad pack magic 0x{magic:02x}, expected 0x{PACK_MAGIC:02x}")
    version, count = version_count >> 4, version_count & 0x0F
    if version != PACK_VERSION:
        raise BitstreamError(
            f"unsupported pack version {version}, this receiver reads {PACK_VERSION}"
        )
    if count == 0:
        raise BitstreamError("motion pack holds no packets")
    timestamp_ms = int.from_bytes(timestamp, "big")
    pos, offset, out = PACK_HEADER_SIZE, 0, []
    for index in range(count):
        if pos >= len(message):
            raise BitstreamError(f"motion pack is truncated: {index} of {count} packets")
        flags = message[pos]
        step = flags & MAX_SEQUENCE_STEP
        if (step == 0) != (index == 0):
            raise BitstreamError(f"motion pack has sequence step {step} at packet {index}")
        ts_step, pos = _read_leb128(message, pos + 1, 3, "timestamp step")
        if index == 0 and ts_step:
            raise BitstreamError(f"motion pack has timestamp step {ts_step} at packet 0")
        length, pos = _read_leb128(message, pos, 2, "length")
        if pos + length > len(message):
            raise BitstreamError(
                f"motion pack is truncated: packet {index} needs {length} bytes, "
                f"{len(message) - pos} left"
            )
        sequence = (sequence + step) % SEQUENCE_MODULUS
        timestamp_ms = (timestamp_ms + ts_step) % TIMESTAMP_MODULUS
        offset += ts_step
        packet_type = PacketType.MOTION_PREDICTED if flags & _PREDICTED else PacketType.MOTION_INTRA
        header = PacketHeader(packet_type, stream_id, sequence, timestamp_ms)
        out.append(Unpacked(bytes(header) + message[pos : pos + length], offset))
        pos += length
    if pos != len(message):
        raise BitstreamError(f"motion pack has {len(message) - pos} bytes after its packets")
    return out


class Packer:
    """Collects motion packets of one stream into packs of ``size`` (state over :func:`_encode`).

    :meth:`add` returns the messages to send now: nothing while a pack fills, the pack when it is
    full, and the pending pack first when the new packet cannot join it (another stream, a
    sequence jump). A pack of one goes out as the bare packet: 3 bytes cheaper. ``size`` 1 sends
    every packet as it is.
    """

    def __init__(self, size: int) -> None:
        if not 1 <= size <= MAX_PACK:
            raise ConfigError(f"pack must be in 1..{MAX_PACK}, got {size}")
        self.size = size
        self._pending: list[tuple[_Entry, bytes]] = []

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, packet: bytes) -> list[bytes]:
        if self.size == 1:
            return [packet]
        entry = _entry(packet)
        out = []
        if self._pending and not _fits_after(self._pending[-1][0], entry):
            out += self.flush()
        self._pending.append((entry, packet))
        if len(self._pending) >= self.size:
            out += self.flush()
        return out

    def flush(self) -> list[bytes]:
        """The pending packets as one message (none when nothing is pending)."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        if len(pending) == 1:
            return [pending[0][1]]
        return [_encode([entry for entry, _ in pending])]


class PackingTransport:
    """A :class:`~vid2vid.call.transport.PacketTransport` that packs motion before sending.

    Control messages pass straight through. A partly filled pack goes out after ``max_wait_ms``
    (a frame without a face, the end of a stream), so the latency cost stays bounded by the pack
    size even when the packets stop coming. Everything else (``opened``, counters) is the inner
    transport's.
    """

    def __init__(self, inner: Any, size: int, max_wait_ms: float) -> None:
        if max_wait_ms <= 0:
            raise ConfigError(f"max_wait_ms must be positive, got {max_wait_ms}")
        self.inner = inner
        self._packer = Packer(size)
        self._max_wait_s = max_wait_ms / 1000
        self._timer: asyncio.TimerHandle | None = None
        self.packs_sent = 0

    @property
    def is_open(self) -> bool:
        return self.inner.is_open

    def set_handler(self, handler: Callable[[str, bytes | str], None]) -> None:
        self.inner.set_handler(handler)

    def send(self, channel: str, message: bytes | str) -> bool:
        if channel != "motion" or not isinstance(message, bytes) or self._packer.size == 1:
            return self.inner.send(channel, message)
        if not self.inner.is_open:
            return False
        sent = True
        for ready in self._packer.add(message):
            sent = self._send_ready(ready) and sent
        if self._packer.pending and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._max_wait_s, self.flush)
        elif not self._packer.pending:
            self._cancel_timer()
        return sent

    @property
    def size(self) -> int:
        """Frames per message now."""
        return self._packer.size

    def resize(self, size: int, max_wait_ms: float) -> None:
        """Pack ``size`` frames per message from the next packet on (the sender's adaptation
        changes it); the pending pack goes out first."""
        if max_wait_ms <= 0:
            raise ConfigError(f"max_wait_ms must be positive, got {max_wait_ms}")
        packer = Packer(size)  # checks the size
        self.flush()
        self._packer, self._max_wait_s = packer, max_wait_ms / 1000

    def _send_ready(self, message: bytes) -> bool:
        if is_pack(message):
            self.packs_sent += 1
        return self.inner.send("motion", message)

    def flush(self) -> None:
        """Send whatever is pending now."""
        self._cancel_timer()
        for ready in self._packer.flush():
            self._send_ready(ready)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self._cancel_timer()
        self._packer.flush()  # dropped: nobody is listening any more
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


#: How many malformed packs a receiver logs before it only counts them.
_LOGGED_MALFORMED = 10


class PackInbox:
    """The receiving end: bare packets pass at once, a pack's packets are played out at the
    spacing they were captured with (the first at once), so a receiver that renders the newest
    pose sees every frame of a pack, not only its last. Offsets are capped at
    :data:`MAX_PLAYOUT_SPAN_MS`: a peer's timestamps never hold packets longer than that.
    """

    def __init__(self, deliver: Callable[[bytes], None]) -> None:
        self._deliver = deliver
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._keys = itertools.count()
        self.packs = 0
        self.malformed = 0

    def receive(self, message: bytes) -> None:
        if not is_pack(message):
            self._deliver(message)
            return
        try:
            packets = unpack(message)
        except BitstreamError as exc:
            self.malformed += 1
            if self.malformed <= _LOGGED_MALFORMED:
                log.warning("dropped a motion pack: %s", exc)
            return
        self.packs += 1
        loop = asyncio.get_running_loop()
        for item in packets:
            delay_ms = min(float(item.offset_ms), MAX_PLAYOUT_SPAN_MS)
            if delay_ms <= 0:
                self._deliver(item.packet)
                continue
            key = next(self._keys)
            self._timers[key] = loop.call_later(delay_ms / 1000, self._fire, key, item.packet)

    def _fire(self, key: int, packet: bytes) -> None:
        self._timers.pop(key, None)
        self._deliver(packet)

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
