"""The one packet dispatcher: bytes from a file or the network to what they are.

Every reader of a stream (the offline decoder, the live receiver, the benchmarks) hands each
packet to :meth:`PacketDispatcher.read`, which parses the header once and routes by type:
keyframe chunks are assembled, and a complete keyframe is decoded and checked against this
model's fingerprint; motion packets come back with their parsed header, still coded, because
the live receiver orders them in its jitter buffer before decoding. Anything else is returned
as :class:`OtherPacket` for the caller to count.

Errors are types: :class:`~vid2vid.errors.BitstreamError` for malformed bytes,
:class:`~vid2vid.errors.ModelMismatchError` for a keyframe of another model.
"""

from __future__ import annotations

from dataclasses import dataclass

from vid2vid.codec.bitstream.chunks import KeyframeAssembler
from vid2vid.codec.bitstream.header import PacketHeader, PacketType
from vid2vid.codec.bitstream.keyframe import Keyframe, check_fingerprint, decode_keyframe_payload


@dataclass(frozen=True)
class KeyframeChunk:
    """A keyframe chunk; ``keyframe`` is set when it completed one (checked, of this model)."""

    header: PacketHeader
    keyframe: Keyframe | None = None
    payload_bytes: int = 0  # the whole keyframe's payload, when complete


@dataclass(frozen=True)
class MotionPacket:
    """A motion packet, not yet decoded (it may still wait for reordering)."""

    header: PacketHeader
    data: bytes


@dataclass(frozen=True)
class OtherPacket:
    """A well-formed packet of a type a media decoder does not take."""

    header: PacketHeader


Packet = KeyframeChunk | MotionPacket | OtherPacket

MOTION_TYPES = (PacketType.MOTION_INTRA, PacketType.MOTION_PREDICTED)


class PacketDispatcher:
    """Parses and routes the packets of one stream; see the module docstring."""

    def __init__(self, fingerprint: str) -> None:
        self._fingerprint = bytes.fromhex(fingerprint)
        self._assembler = KeyframeAssembler()

    @property
    def assembling(self) -> bool:
        """Whether a keyframe is arriving chunk by chunk (some chunks in, some missing)."""
        return bool(self._assembler.missing())

    def read(self, packet: bytes) -> Packet:
        header = PacketHeader.parse(packet)
        if header.packet_type is PacketType.KEYFRAME_CHUNK:
            payload = self._assembler.add(packet, header)
            if payload is None:
                return KeyframeChunk(header)
            keyframe = decode_keyframe_payload(payload)
            check_fingerprint(keyframe, self._fingerprint)
            return KeyframeChunk(header, keyframe, len(payload))
        if header.packet_type in MOTION_TYPES:
            return MotionPacket(header, packet)
        return OtherPacket(header)
