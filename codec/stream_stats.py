"""Where a stream's bits go: keyframe, motion payloads and headers, as kbit/s at the stream's fps.

The encoder prints this table so users see what they pay for; the rate-distortion benchmark
reads the same numbers. Pure bookkeeping over packet bytes, no model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vid2vid.codec.bitstream.header import HEADER_SIZE, PacketHeader, PacketType

#: The DESIGN's budget spreads one keyframe over a minute of call.
AMORTIZE_SECONDS = 60.0


@dataclass
class StreamStats:
    """Byte counts of one encoded stream (packets only; the ``.v2v`` container is apart)."""

    fps: float
    keyframe_packets: int = 0
    keyframe_bytes: int = 0
    intra_packets: int = 0
    intra_bytes: int = 0
    predicted_packets: int = 0
    predicted_bytes: int = 0

    def add(self, packet: bytes) -> None:
        """Count one packet by its header's type (bytes include the header)."""
        kind = PacketHeader.parse(packet).packet_type
        if kind is PacketType.KEYFRAME_CHUNK:
            self.keyframe_packets += 1
            self.keyframe_bytes += len(packet)
        elif kind is PacketType.MOTION_INTRA:
            self.intra_packets += 1
            self.intra_bytes += len(packet)
        elif kind is PacketType.MOTION_PREDICTED:
            self.predicted_packets += 1
            self.predicted_bytes += len(packet)

    @property
    def frames(self) -> int:
        return self.intra_packets + self.predicted_packets

    @property
    def motion_bytes(self) -> int:
        return self.intra_bytes + self.predicted_bytes

    @property
    def motion_header_bytes(self) -> int:
        return HEADER_SIZE * self.frames

    def _kbps(self, total_bytes: float) -> float:
        return total_bytes * 8 * self.fps / max(self.frames, 1) / 1000

    @property
    def motion_kbps(self) -> float:
        """Motion packets with their headers, at the stream's frame rate."""
        return self._kbps(self.motion_bytes)

    @property
    def keyframe_kbps(self) -> float:
        """The keyframe spread over :data:`AMORTIZE_SECONDS` (the DESIGN's all-in budget)."""
        return self.keyframe_bytes * 8 / AMORTIZE_SECONDS / 1000

    @property
    def total_kbps(self) -> float:
        return self.motion_kbps + self.keyframe_kbps

    def table(self) -> str:
        def mean(total: int, count: int) -> float:
            return total / count if count else 0.0

        rows = [
            ("keyframe", f"{self.keyframe_bytes} B in {self.keyframe_packets} chunk(s)",
             f"{self.keyframe_kbps:.2f} (over {AMORTIZE_SECONDS:.0f} s)"),
            ("intra packets", f"{self.intra_packets} x {mean(self.intra_bytes, self.intra_packets):.1f} B", ""),
            ("predicted packets",
             f"{self.predicted_packets} x {mean(self.predicted_bytes, self.predicted_packets):.1f} B", ""),
            ("motion per frame", f"{mean(self.motion_bytes, self.frames):.1f} B "
             f"({HEADER_SIZE} B header)", f"{self.motion_kbps:.2f}"),
            ("headers", f"{self.motion_header_bytes} B", f"{self._kbps(self.motion_header_bytes):.2f}"),
            ("all-in", f"{self.frames} frames at {self.fps:g} fps", f"{self.total_kbps:.2f}"),
        ]  # fmt: skip
        lines = [f"{'':<18} {'bytes':<28} kbit/s", "-" * 60]
        lines += [f"{name:<18} {size:<28} {rate}" for name, size, rate in rows]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, float | int]:
        return {
            **asdict(self),
            "frames": self.frames,
            "motion_kbps": self.motion_kbps,
            "keyframe_kbps_amortized": self.keyframe_kbps,
            "total_kbps": self.total_kbps,
        }
