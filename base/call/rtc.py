"""WebRTC plumbing shared by sender and receiver: ICE settings, data channels, SDP, wire bytes.

- ``--ice-host ADDR`` restricts the ICE host candidates to given local addresses. aioice
  gathers one host candidate per local address but leaves 127.0.0.1 out, and there is no STUN
  server on these machines, so a call on loopback needs ``--ice-host 127.0.0.1``; on a machine
  with several interfaces it also keeps a call off networks it must not use. aioice has no
  setting for it, so :func:`restrict_host_candidates` replaces its address lookup
  (``aioice.ice.get_host_addresses``) for the whole process: that is the one seam aioice has.
- With no ``--stun``/``--turn`` the configuration has ``iceServers=[]`` (aiortc would otherwise
  try Google's public STUN server).
- uvloop, where installed, cuts data-channel burst latency from ~140 ms to ~6 ms here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vid2vid.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class IceConfig:
    """ICE settings from the command line: host addresses to use, STUN/TURN servers."""

    hosts: tuple[str, ...] = ()
    stun: tuple[str, ...] = ()
    turn: tuple[str, ...] = ()
    turn_username: str | None = None
    turn_password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import ipaddress

        for host in self.hosts:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ConfigError(f"--ice-host must be an IP address, got {host!r}") from None
        for url in self.stun:
            if not url.startswith("stun:"):
                raise ConfigError(f"--stun must be a stun: URL, got {url!r}")
        for url in self.turn:
            if not url.startswith(("turn:", "turns:")):
                raise ConfigError(f"--turn must be a turn: or turns: URL, got {url!r}")


def restrict_host_candidates(hosts: Sequence[str]) -> None:
    """Gather ICE host candidates on ``hosts`` only (process-wide); empty: aioice's default."""
    import aioice.ice

    # aioice's own lookup, also after an earlier call replaced it (ours keep it as __wrapped__;
    # nothing is stored on aioice's module but the one function it looks up).
    current = aioice.ice.get_host_addresses
    original = getattr(current, "__wrapped__", current)
    if not hosts:
        aioice.ice.get_host_addresses = original
        return
    chosen = list(hosts)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [h for h in chosen if (":" in h and use_ipv6) or (":" not in h and use_ipv4)]

    get_host_addresses.__wrapped__ = original  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = get_host_addresses
    log.info("ICE host candidates restricted to %s", ", ".join(chosen))


def rtc_configuration(ice: IceConfig):
    """The RTCConfiguration of ``ice`` (``iceServers=[]`` without STUN/TURN)."""
    from aiortc import RTCConfiguration, RTCIceServer

    servers = [RTCIceServer(urls=url) for url in ice.stun]
    servers += [
        RTCIceServer(urls=url, username=ice.turn_username, credential=ice.turn_password)
        for url in ice.turn
    ]
    return RTCConfiguration(iceServers=servers)


def new_peer_connection(ice: IceConfig):
    from aiortc import RTCPeerConnection

    restrict_host_candidates(ice.hosts)
    return RTCPeerConnection(configuration=rtc_configuration(ice))


def create_call_channels(pc) -> tuple[Any, Any]:
    """The sender's two channels: reliable ordered "control", unordered no-retransmit "motion"."""
    control = pc.createDataChannel("control", ordered=True)
    motion = pc.createDataChannel("motion", ordered=False, maxRetransmits=0)
    return control, motion


async def make_offer(pc) -> dict[str, str]:
    from aiortc import RTCSessionDescription  # noqa: F401  (import check for the extra)

    await pc.setLocalDescription(await pc.createOffer())
    return {"sdp": pc.localDescription.sdp, "sdp_type": pc.localDescription.type}


async def accept_offer(pc, data: dict[str, Any]) -> dict[str, str]:
    """Apply a remote offer and return our answer (aiortc puts all candidates in the SDP)."""
    from aiortc import RTCSessionDescription

    await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return {"sdp": pc.localDescription.sdp, "sdp_type": pc.localDescription.type}


async def accept_answer(pc, data: dict[str, Any]) -> None:
    from aiortc import RTCSessionDescription

    await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="answer"))


async def add_remote_candidate(pc, data: dict[str, Any]) -> None:
    """A trickled candidate from a browser ({"candidate": "candidate:…", "sdpMid": …})."""
    from aiortc.sdp import candidate_from_sdp

    text = data.get("candidate")
    if not isinstance(text, str) or not text:
        return  # end of candidates
    candidate = candidate_from_sdp(text.removeprefix("candidate:"))
    candidate.sdpMid = data.get("sdpMid")
    candidate.sdpMLineIndex = data.get("sdpMLineIndex")
    await pc.addIceCandidate(candidate)


def is_sdp(data: Any, kind: str) -> bool:
    return (
        isinstance(data, dict)
        and data.get("sdp_type") == kind
        and isinstance(data.get("sdp"), str)
        and len(data["sdp"]) < 256 * 1024
    )


def wire_bytes(pc) -> tuple[int, int]:
    """Bytes sent and received by the DTLS transport of the data channels (SCTP and DTLS
    overhead included, UDP/IP headers not); (0, 0) before it exists.

    aiortc's ``getStats()`` reports RTP senders and receivers only, so this reads the DTLS
    transport's own counters (``RTCDtlsTransport._get_stats``).
    """
    sctp = getattr(pc, "sctp", None)
    if sctp is None:
        return 0, 0
    for stats in sctp.transport._get_stats().values():
        if getattr(stats, "type", "") == "transport":
            return int(stats.bytesSent), int(stats.bytesReceived)
    return 0, 0


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run`` on uvloop where available."""
    try:
        import uvloop

        return uvloop.run(main())
    except ImportError:
        return asyncio.run(main())


async def connect_in_process(ice: IceConfig, timeout_s: float = 20.0, ack: Any = "rfc"):
    """A sender and a receiver peer connection in this process, wired without signaling.

    For the latency benchmark and tests: the same channels and transports as a real call,
    the SDP handed over directly. ``ack`` is the :class:`~vid2vid.call.sack.DelayedAckPolicy`
    of both ends (``"rfc"``: RFC 4960's recommendation; None: aiortc's SACK per packet; a call's
    transports default to :data:`~vid2vid.call.sack.CALL_POLICY`).
    Returns ``(sender_pc, receiver_pc, sending, receiving)``.
    """
    from vid2vid.call.sack import RFC_POLICY
    from vid2vid.call.transport import DataChannelTransport

    policy = RFC_POLICY if ack == "rfc" else ack
    sender_pc, receiver_pc = new_peer_connection(ice), new_peer_connection(ice)
    sending, receiving = DataChannelTransport(policy), DataChannelTransport(policy)
    for channel in create_call_channels(sender_pc):
        sending.attach(channel)
    receiver_pc.on("datachannel", receiving.attach)
    await accept_answer(sender_pc, await accept_offer(receiver_pc, await make_offer(sender_pc)))
    await asyncio.wait_for(
        asyncio.gather(sending.opened.wait(), receiving.opened.wait()), timeout_s
    )
    return sender_pc, receiver_pc, sending, receiving
