"""What a stream costs on the wire, computed exactly from its packets: the packetization model.

Why a model beside the live benchmark (:mod:`vid2vid.bench.wire`): ``vid2vid-bench`` codes each
clip at a dozen rate points, and a real call per point costs its length in wall time. The bytes
on the wire, though, are a pure function of what each end sends and when, because both stacks
are deterministic about framing: every data-channel message is one SCTP DATA chunk in its own
SCTP packet in its own DTLS record in its own UDP datagram (aiortc never bundles chunks), and
every RTP packet is one SRTP datagram. So this module takes the real packets of a clip (the
motion packets the stream encoder made, the x264 access units ffmpeg made) with their capture
times and replays the framing of both stacks, using aiortc's own pieces where the behaviour has
state: its H.264 packetizer, its receive-side bandwidth estimator (which times REMB), our
:class:`~vid2vid.call.pack.Packer` and the delayed-SACK rule of :mod:`vid2vid.call.sack`.

Per datagram, at the IP layer (IPv4)::

    vid2vid DATA     payload (padded to 4) + DATA chunk 16 + SCTP 12 + DTLS 37 + UDP/IP 28
    SCTP SACK        SACK chunk 16 + SCTP 12 + DTLS 37 + UDP/IP 28 = 93
    H.264 RTP        payload + RTP 12 + extensions 12 (abs-send-time, mid) + SRTP tag 16 + 28
    RTCP             compound + SRTCP index 4 + tag 16 + 28: SR + SDES forward, RR and REMB back
    ICE consent      a STUN request and an answer each way every 5 s (aioice), both codecs

DTLS 37 = record header 13 + explicit nonce 8 + GCM tag 16 (ECDHE-ECDSA-AES128-GCM-SHA256,
aiortc's first cipher); SRTP's tag is 16 because aiortc offers AEAD_AES_256_GCM first.
What the model leaves out, and why it is small: retransmissions and NACKs (none without loss),
RTCP's randomized interval (its mean, 1 s, is used), the consent checks' ±20 % jitter (their
mean). :mod:`tests.bench.test_wire_model` holds the model to a real aiortc call on loopback
within a stated tolerance.

The way back carries control messages too: a receiver sends a link report
(:mod:`vid2vid.call.adapt`: 108-110 bytes of JSON) about once a second, which also serves as its
heartbeat (:mod:`vid2vid.call.heartbeat` sends ``{"type": "heartbeat"}`` only when nothing else
went out for a second). Each is a DATA packet back and, reliable data, a SACK of it forward from
the sender; ``report_bytes`` and ``report_s`` model them (None: the replay of the live benchmark,
which runs none).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vid2vid.call.control import LinkReport, link_message
from vid2vid.call.pack import Packer
from vid2vid.call.sack import CALL_POLICY, RFC_POLICY, DelayedAckPolicy
from vid2vid.call.wire import IP_UDP_HEADER
from vid2vid.errors import ConfigError, EngineUnavailableError

__all__ = [
    "ACK_POLICIES",
    "ConsentModel",
    "DataChannelModel",
    "RtpModel",
    "TimedPacket",
    "WireFigures",
    "ack_times",
]

IP_UDP = IP_UDP_HEADER[4]
#: DTLS 1.2 record around SCTP: header 13 + explicit nonce 8 + AES-GCM tag 16.
DTLS_RECORD = 13 + 8 + 16
SCTP_COMMON = 12
SCTP_DATA_CHUNK = 16
SCTP_SACK_CHUNK = 16  # no gap blocks, no duplicates: a loss-free link
#: aiortc's largest DATA payload: (1189 - 12 - 16) // 4 * 4.
SCTP_USERDATA_MAX = 1160
SACK_DATAGRAM = SCTP_SACK_CHUNK + SCTP_COMMON + DTLS_RECORD + IP_UDP  # 93

RTP_HEADER = 12
#: One-byte-header extension block: 4 + abs-send-time (1 + 3) + mid "0" (1 + 1), padded to 4.
RTP_EXTENSIONS = 12
SRTP_TAG = 16  # AEAD_AES_256_GCM
SRTCP_TRAILER = 4 + 16  # SRTCP index + GCM tag
#: aiortc's RTCP compounds: SR 28 + SDES 48 (a 36-character CNAME); RR 32 (one report block);
#: REMB 24 (PSFB 12 + "REMB", exponent/mantissa, one SSRC).
RTCP_SR_SDES = 28 + 48
RTCP_RR = 32
RTCP_REMB = 24
RTCP_INTERVAL_S = 1.0  # aiortc sleeps 0.5 + random() s between reports: mean 1 s

#: The acknowledgement policies a setting may name: aiortc's own (a SACK per packet), RFC 4960's
#: recommendation, and the call's default (past the RFC's SHOULDs, within its MUSTs).
ACK_POLICIES: dict[str, DelayedAckPolicy | None] = {
    "aiortc": None,
    "rfc": RFC_POLICY,
    "lazy": CALL_POLICY,
}
#: The bytes of a receiver's link report, as :func:`vid2vid.call.control.link_message` writes a
#: typical one (a second of 25 packets, none lost or late, a few ms of delay, a few kbit/s).
LINK_REPORT_BYTES = len(link_message(LinkReport(1000.4, 25, 0, 0, 3.4, 5.53)))


def _pad4(n: int) -> int:
    return (n + 3) // 4 * 4


def data_datagram(message_bytes: int) -> int:
    """IP-layer bytes of one data-channel message of at most :data:`SCTP_USERDATA_MAX` bytes."""
    return _pad4(message_bytes) + SCTP_DATA_CHUNK + SCTP_COMMON + DTLS_RECORD + IP_UDP


def message_datagrams(message_bytes: int) -> list[int]:
    """IP-layer bytes of each datagram a message of any size takes (aiortc fragments it)."""
    count = max(1, math.ceil(message_bytes / SCTP_USERDATA_MAX))
    sizes = [SCTP_USERDATA_MAX] * (count - 1) + [message_bytes - SCTP_USERDATA_MAX * (count - 1)]
    return [data_datagram(n) for n in sizes]


@dataclass(frozen=True)
class ConsentModel:
    """ICE consent freshness (RFC 7675) as aioice does it: every ``interval_s`` (mean of
    0.8–1.2 × 5 s) each end sends a STUN binding request and answers the other's. Sizes are STUN
    with USERNAME, PRIORITY, ICE-CONTROLLING/-CONTROLLED, MESSAGE-INTEGRITY and FINGERPRINT
    (request) and XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT (answer), as aioice sends
    them with 4-character ufrags on IPv4; the same both ways."""

    interval_s: float = 5.0
    request_bytes: int = 88
    answer_bytes: int = 64

    def bytes_per_s(self) -> float:
        """IP-layer bytes a second one way (a request and an answer per interval)."""
        return (self.request_bytes + self.answer_bytes + 2 * IP_UDP) / self.interval_s

    def datagrams_per_s(self) -> float:
        return 2 / self.interval_s


@dataclass(frozen=True)
class TimedPacket:
    """One unit a sender hands to its transport: a motion packet or an access unit, and when
    (seconds, the capture clock)."""

    time_s: float
    data: bytes


@dataclass(frozen=True)
class WireFigures:
    """Rates of one stream at the IP layer, both ways, over ``seconds`` of steady streaming, with
    the intra part (keyframe, IDR) spread over the call as the raw-stream rates spread it."""

    seconds: float
    payload_kbps: float
    forward_kbps: float
    return_kbps: float
    forward_datagrams_per_s: float
    return_datagrams_per_s: float
    intra_forward_kbps: float = 0.0
    intra_return_kbps: float = 0.0

    @property
    def total_kbps(self) -> float:
        return self.forward_kbps + self.return_kbps

    @property
    def forward_over_payload(self) -> float | None:
        return self.forward_kbps / self.payload_kbps if self.payload_kbps else None

    def as_dict(self) -> dict:
        return {
            "payload_kbps": self.payload_kbps,
            "forward_kbps": self.forward_kbps,
            "return_kbps": self.return_kbps,
            "total_kbps": self.total_kbps,
            "forward_over_payload": self.forward_over_payload,
            "forward_datagrams_per_s": self.forward_datagrams_per_s,
            "return_datagrams_per_s": self.return_datagrams_per_s,
            "intra_forward_kbps": self.intra_forward_kbps,
            "intra_return_kbps": self.intra_return_kbps,
        }


def ack_times(
    arrivals: Sequence[tuple[float, bool]], policy: DelayedAckPolicy | None
) -> list[float]:
    """When the receiving SCTP end sends SACKs for packets arriving at ``arrivals`` (time,
    ordered), under ``policy`` (None: aiortc's own, a SACK per packet).

    The rule of :class:`~vid2vid.call.sack.DelayedAck` on a loss-free link: a SACK after
    ``every`` packets or ``delay_ms`` after the first unacknowledged one, whichever is first;
    ordered DATA since the last SACK tightens both to RFC 4960's recommendation.
    """
    if policy is None:
        return [t for t, _ in arrivals]
    out: list[float] = []
    owed, ordered, deadline = 0, False, math.inf
    for t, is_ordered in sorted(arrivals):
        if deadline <= t:  # the timer fired before this packet
            out.append(deadline)
            owed, ordered, deadline = 0, False, math.inf
        owed += 1
        ordered = ordered or is_ordered
        every, delay_ms = policy.every, policy.delay_ms
        if ordered:
            every = min(every, RFC_POLICY.every)
            delay_ms = min(delay_ms, RFC_POLICY.delay_ms)
        if owed >= every:
            out.append(t)
            owed, ordered, deadline = 0, False, math.inf
        else:
            deadline = min(deadline, t + delay_ms / 1000)
    if deadline < math.inf:
        out.append(deadline)
    return out


def _window(packets: Sequence[TimedPacket], fps: float) -> float:
    """Seconds a run of packets spans: first capture to one frame after the last."""
    return packets[-1].time_s - packets[0].time_s + 1 / fps


@dataclass(frozen=True)
class DataChannelModel:
    """vid2vid over the WebRTC data channel: motion (unordered, never retransmitted) packed
    ``pack`` per message, SACKs under ``ack`` at the receiver (``CALL_POLICY``, a call's
    default), the keyframe's chunks on the reliable control channel, a control message of
    ``report_bytes`` back every ``report_s`` (the link report; None: none), and ICE consent."""

    pack: int = 1
    ack: DelayedAckPolicy | None = CALL_POLICY
    report_bytes: int | None = LINK_REPORT_BYTES
    report_s: float = 1.0
    consent: ConsentModel = ConsentModel()

    def __post_init__(self) -> None:
        Packer(self.pack)  # checks the range
        if self.report_s <= 0:
            raise ConfigError(f"report_s must be positive, got {self.report_s}")

    def messages(self, packets: Sequence[TimedPacket]) -> list[TimedPacket]:
        """The motion messages and when each goes out (the pack's last packet's time)."""
        packer = Packer(self.pack)
        out = []
        for packet in packets:
            out += [TimedPacket(packet.time_s, m) for m in packer.add(packet.data)]
        if packer.pending:
            out += [TimedPacket(packets[-1].time_s, m) for m in packer.flush()]
        return out

    def figures(
        self,
        motion: Sequence[TimedPacket],
        fps: float,
        keyframe: Sequence[bytes] = (),
        call_seconds: float = 60.0,
    ) -> WireFigures:
        """The wire rates of a motion stream (frames without a face simply have no packet) and
        of its keyframe's chunks spread over ``call_seconds``."""
        if not motion:
            raise ConfigError("no motion packets to put on the wire")
        seconds = _window(motion, fps)
        start = motion[0].time_s
        messages = self.messages(motion)
        fwd_bytes = sum(data_datagram(len(m.data)) for m in messages)
        fwd_count = len(messages)
        arrivals = [(m.time_s, False) for m in messages]
        reports: list[float] = []
        if self.report_bytes is not None:
            count = int(seconds / self.report_s)
            reports = [start + self.report_s * (i + 1) for i in range(count)]
        sacks = ack_times(arrivals, self.ack)
        ret_bytes = len(sacks) * SACK_DATAGRAM
        ret_bytes += len(reports) * data_datagram(self.report_bytes or 0)
        ret_count = len(sacks) + len(reports)
        # The sender's SCTP acknowledges the reports (ordered data, the RFC's timing).
        report_sacks = ack_times([(t, True) for t in reports], RFC_POLICY)
        fwd_bytes += len(report_sacks) * SACK_DATAGRAM
        fwd_count += len(report_sacks)
        consent = self.consent.bytes_per_s()
        intra_fwd = sum(sum(message_datagrams(len(c))) for c in keyframe)
        fragments = sum(len(message_datagrams(len(c))) for c in keyframe)
        intra_ret = len(ack_times([(0.0, True)] * fragments, self.ack)) * SACK_DATAGRAM
        payload = sum(len(p.data) for p in motion)
        return WireFigures(
            seconds=seconds,
            payload_kbps=payload * 8 / seconds / 1000,
            forward_kbps=(fwd_bytes / seconds + consent) * 8 / 1000,
            return_kbps=(ret_bytes / seconds + consent) * 8 / 1000,
            forward_datagrams_per_s=fwd_count / seconds + self.consent.datagrams_per_s(),
            return_datagrams_per_s=ret_count / seconds + self.consent.datagrams_per_s(),
            intra_forward_kbps=intra_fwd * 8 / call_seconds / 1000,
            intra_return_kbps=intra_ret * 8 / call_seconds / 1000,
        )


def _h264_payloads(access_unit: bytes) -> list[bytes]:
    """aiortc's own RTP payloads of one Annex-B access unit (STAP-A, FU-A as it cuts them)."""
    try:
        from aiortc.codecs.h264 import H264Encoder
    except ImportError as error:  # the webrtc extra
        raise EngineUnavailableError(
            "the H.264-over-RTP wire figures need aiortc: pip install 'vid2vid[webrtc]'"
        ) from error
    return H264Encoder._packetize(H264Encoder._split_bitstream(access_unit))


@dataclass(frozen=True)
class RtpModel:
    """H.264 over RTP/SRTP as aiortc sends it: its packetizer, header extensions, SRTP, RTCP
    sender reports forward; receiver reports and REMB (timed by aiortc's own estimator) back.
    This is H.264's cheapest case: a browser adds transport-wide congestion feedback."""

    consent: ConsentModel = ConsentModel()

    def rtp_datagrams(self, access_unit: bytes) -> list[int]:
        """IP-layer bytes of each RTP packet of one access unit."""
        return [
            len(p) + RTP_HEADER + RTP_EXTENSIONS + SRTP_TAG + IP_UDP
            for p in _h264_payloads(access_unit)
        ]

    def figures(
        self,
        frames: Sequence[TimedPacket],
        fps: float,
        intra: bytes = b"",
        call_seconds: float = 60.0,
    ) -> WireFigures:
        """The wire rates of the access units ``frames`` (empty data: a frame x264 skipped),
        with the ``intra`` access unit spread over ``call_seconds``."""
        from aiortc.rate import RemoteBitrateEstimator

        if not frames:
            raise ConfigError("no access units to put on the wire")
        seconds = _window(frames, fps)
        estimator = RemoteBitrateEstimator()
        fwd_bytes = fwd_count = remb = 0
        for frame in frames:
            if not frame.data:
                continue
            arrival_ms = round(frame.time_s * 1000)
            abs_send_time = (round(frame.time_s * (1 << 18))) & 0x00FFFFFF  # 6.18 fixed point
            for payload in _h264_payloads(frame.data):
                fwd_bytes += len(payload) + RTP_HEADER + RTP_EXTENSIONS + SRTP_TAG + IP_UDP
                fwd_count += 1
                if estimator.add(arrival_ms, abs_send_time, len(payload), 1) is not None:
                    remb += 1
        reports = seconds / RTCP_INTERVAL_S
        fwd_bytes += reports * (RTCP_SR_SDES + SRTCP_TRAILER + IP_UDP)
        ret_bytes = reports * (RTCP_RR + SRTCP_TRAILER + IP_UDP)
        ret_bytes += remb * (RTCP_REMB + SRTCP_TRAILER + IP_UDP)
        consent = self.consent.bytes_per_s()
        payload = sum(len(f.data) for f in frames)
        intra_fwd = sum(self.rtp_datagrams(intra)) if intra else 0
        return WireFigures(
            seconds=seconds,
            payload_kbps=payload * 8 / seconds / 1000,
            forward_kbps=(fwd_bytes / seconds + consent) * 8 / 1000,
            return_kbps=(ret_bytes / seconds + consent) * 8 / 1000,
            forward_datagrams_per_s=(fwd_count + reports) / seconds
            + self.consent.datagrams_per_s(),
            return_datagrams_per_s=(reports + remb) / seconds + self.consent.datagrams_per_s(),
            intra_forward_kbps=intra_fwd * 8 / call_seconds / 1000,
        )
