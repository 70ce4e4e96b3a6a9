"""What a peer connection costs on the wire: every UDP datagram its ICE sockets send or receive.

Why here and not ``getStats``: aiortc reports RTP only, and the DTLS transport's own counters
(:func:`vid2vid.call.rtc.wire_bytes`) leave out the UDP/IP headers and ICE's consent checks
(a STUN request and answer every 4–6 s each way), which at a few kbit/s are no rounding error.
:class:`DatagramTap` sits between aioice's protocols and their sockets (the one seam aioice
has), so it sees exactly what goes out and comes in, and adds the IP and UDP headers the kernel
puts around each datagram. It can also drop datagrams on purpose, seeded, which is how tests
impair a call in user space (the kernel here has no netem).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Bytes of IP and UDP header around each datagram (IPv4 20 + UDP 8; IPv6 40 + UDP 8).
IP_UDP_HEADER = {4: 28, 6: 48}
#: The first byte of a DTLS application-data record (SCTP rides in those).
DTLS_APPLICATION_DATA = 23


@dataclass(frozen=True)
class WireCount:
    """Datagrams and UDP payload bytes one way; :attr:`ip_bytes` adds the IP/UDP headers."""

    datagrams: int = 0
    payload_bytes: int = 0
    ip_header: int = IP_UDP_HEADER[4]

    @property
    def ip_bytes(self) -> int:
        """Bytes on the wire at the IP layer (what a link is billed for, minus link framing)."""
        return self.payload_bytes + self.datagrams * self.ip_header

    def __sub__(self, other: WireCount) -> WireCount:
        return WireCount(
            self.datagrams - other.datagrams,
            self.payload_bytes - other.payload_bytes,
            self.ip_header,
        )

    def kbps(self, seconds: float) -> float:
        """IP-layer kbit/s over ``seconds``."""
        return self.ip_bytes * 8 / seconds / 1000 if seconds > 0 else 0.0


#: Decides from (direction, index of the datagram that way, its bytes) whether to drop it.
DropRule = Callable[[str, int, bytes], bool]


def seeded_loss(loss: float, seed: int, directions: tuple[str, ...] = ("out",)) -> DropRule:
    """Drop each DTLS application-data datagram going ``directions`` with chance ``loss``.

    Only SCTP's datagrams are touched: ICE checks and the DTLS handshake go through, as a test
    of the data path wants. Seeded, so a test sees the same losses every run.
    """
    draws = random.Random(seed)

    def drop(direction: str, index: int, data: bytes) -> bool:
        if direction not in directions or not data or data[0] != DTLS_APPLICATION_DATA:
            return False
        return draws.random() < loss

    return drop


class _CountingTransport:
    """An asyncio datagram transport that counts (and may drop) what is sent through it."""

    def __init__(self, inner: Any, tap: DatagramTap) -> None:
        self._inner = inner
        self._tap = tap

    def sendto(self, data: bytes, addr: Any = None) -> None:
        if self._tap._passes("out", data):
            self._inner.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RateMeter:
    """kbit/s between successive readings of a growing byte total (the live stats: once a
    second); None on the first reading."""

    def __init__(self) -> None:
        self._last: tuple[float, int] | None = None

    def kbps(self, total_bytes: int, now_s: float) -> float | None:
        last, self._last = self._last, (now_s, total_bytes)
        if last is None or now_s <= last[0]:
            return None
        return max(0, total_bytes - last[1]) * 8 / (now_s - last[0]) / 1000


def dtls_counts(dtls: Any, ip_version: int = 4) -> tuple[WireCount, WireCount]:
    """(sent, received) of an aiortc ``RTCDtlsTransport`` from its own counters, with the IP/UDP
    header of each datagram added. Live calls read this (a tap must be installed at set-up);
    unlike :class:`DatagramTap` it leaves out ICE's consent checks (≈ 0.3 kbit/s each way)."""
    header = IP_UDP_HEADER[ip_version]
    for stats in dtls._get_stats().values():
        if getattr(stats, "type", "") == "transport":
            return (
                WireCount(int(stats.packetsSent), int(stats.bytesSent), header),
                WireCount(int(stats.packetsReceived), int(stats.bytesReceived), header),
            )
    return WireCount(0, 0, header), WireCount(0, 0, header)


def _dtls_of(pc: Any) -> Any:
    """The (bundled) DTLS transport of ``pc``."""
    if pc.sctp is not None:
        return pc.sctp.transport
    for transceiver in pc.getTransceivers():
        if transceiver.sender.transport is not None:
            return transceiver.sender.transport
    raise ValueError("this peer connection has no transport yet (tap it after the offer/answer)")


class DatagramTap:
    """Counts every datagram of one aiortc peer connection's ICE sockets, both ways.

    Install it once the connection has gathered its candidates (after the offer/answer);
    ``drop`` (see :func:`seeded_loss`) makes it a lossy link. Dropped datagrams are not counted
    as sent or received: they never made it onto (or off) the wire.
    """

    def __init__(self, ip_version: int = 4, drop: DropRule | None = None) -> None:
        self.ip_header = IP_UDP_HEADER[ip_version]
        self.drop = drop
        self._counts = {"out": [0, 0], "in": [0, 0]}
        self._seen = {"out": 0, "in": 0}
        self.dropped = {"out": 0, "in": 0}
        self._protocols: set[int] = set()

    def install(self, pc: Any) -> DatagramTap:
        """Tap the sockets of ``pc`` (an ``RTCPeerConnection`` after its offer/answer: data
        channels, media or both; they share one bundled transport)."""
        connection = _dtls_of(pc).transport._connection  # RTCIceTransport's aioice Connection
        for protocol in connection._protocols:
            if id(protocol) in self._protocols or getattr(protocol, "transport", None) is None:
                continue
            self._protocols.add(id(protocol))
            protocol.transport = _CountingTransport(protocol.transport, self)
            received = protocol.datagram_received

            def datagram_received(data: bytes, addr: Any, received=received) -> None:
                if self._passes("in", data):
                    received(data, addr)

            protocol.datagram_received = datagram_received
        return self

    def _passes(self, direction: str, data: bytes) -> bool:
        index = self._seen[direction]
        self._seen[direction] = index + 1
        if self.drop is not None and self.drop(direction, index, data):
            self.dropped[direction] += 1
            return False
        count = self._counts[direction]
        count[0] += 1
        count[1] += len(data)
        return True

    @property
    def sent(self) -> WireCount:
        return WireCount(*self._counts["out"], self.ip_header)

    @property
    def received(self) -> WireCount:
        return WireCount(*self._counts["in"], self.ip_header)
