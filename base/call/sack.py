"""Delayed SCTP acknowledgements (RFC 4960 §6.2) for aiortc's data channels.

Why: aiortc's ``RTCSctpTransport`` answers every packet that carries DATA with its own SACK
(``_handle_data`` ends in ``_send_sack``). A motion stream is 25–30 tiny packets a second, so
the receiver sent back as many SACKs as it received packets: ≈ 93 bytes each on the wire
(SACK 16 + SCTP 12 + DTLS 37 + UDP/IPv4 28), 13 kbit/s of acknowledgements for 3 kbit/s of motion.

RFC 4960 §6.2 lets a receiver delay its SACK: it SHOULD acknowledge at least every second packet
and SHOULD do so within 200 ms of the first unacknowledged DATA chunk; the delay MUST NOT exceed
500 ms. It MUST acknowledge at once a packet with duplicate DATA (§6.2), SHOULD do so when it
sees a gap in the TSNs (§6.7, the sender's fast retransmit counts those reports), and when a
packet fills a gap (§6.2). :class:`DelayedAck` is that rule, and nothing else, installed on one
transport instance over the single seam aiortc has for it (the ``_send_sack`` coroutine, which
``_handle_data`` calls once per received packet while a SACK is owed). No fork, no subclass of
aiortc's class: the original method still builds and sends every SACK that goes out.

``every`` above 2 and ``delay_ms`` up to 500 go past the RFC's SHOULDs but stay within its
MUSTs; the wire benchmark measures what each costs (``python -m vid2vid.bench.wire``). They
apply to unordered DATA only (the motion channel: never retransmitted, so a late SACK changes
nothing but the sender's bookkeeping). A packet with ordered DATA (the control channel: keyframe
chunks, requests) is acknowledged by the RFC's recommendation whatever the policy, because the
sender's congestion window grows only with SACKs: a 10 KB keyframe waited seconds behind
500 ms acknowledgements when they applied to it too. Gaps are still reported at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from vid2vid.errors import ConfigError

log = logging.getLogger(__name__)

#: RFC 4960 §6.2: "An implementation MUST NOT allow the maximum delay to be configured to be
#: more than 500 ms."
MAX_DELAY_MS = 500.0
#: The U (unordered) bit of a DATA chunk's flags (RFC 4960 §3.3.1).
_UNORDERED = 0x04


@dataclass(frozen=True)
class DelayedAckPolicy:
    """When a SACK goes out: after ``every`` packets with DATA, or ``delay_ms`` after the first
    unacknowledged one, whichever comes first (gaps and duplicates: at once).

    The default is RFC 4960's recommendation (every second packet, within 200 ms).
    """

    every: int = 2
    delay_ms: float = 200.0

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ConfigError(f"every must be >= 1, got {self.every}")
        if not 0 < self.delay_ms <= MAX_DELAY_MS:
            raise ConfigError(
                f"delay_ms must be in (0, {MAX_DELAY_MS:g}] (RFC 4960 6.2), got {self.delay_ms}"
            )

    @property
    def label(self) -> str:
        return f"every {self.every} / {self.delay_ms:g} ms"


#: RFC 4960's recommendation.
RFC_POLICY = DelayedAckPolicy()
#: What a call uses: a SACK for every 16th motion packet or 500 ms after the first one owed
#: (the RFC's MUST bound), reliable data still by the recommendation (the adapter tightens it).
#: Measured (``python -m vid2vid.bench.wire``): the return path of a 25-30 fps motion stream
#: falls from 9.6-11.4 kbit/s (RFC_POLICY) to 1.7-1.8, at no latency cost: unordered motion is
#: never retransmitted, so a later SACK only moves the sender's bookkeeping, and its
#: retransmission timer (1 s at least) never fires first. Gaps are still reported at once.
CALL_POLICY = DelayedAckPolicy(every=16, delay_ms=MAX_DELAY_MS)


class DelayedAck:
    """The adapter on one ``RTCSctpTransport``; see the module docstring.

    ``sent`` counts SACKs that went out, ``deferred`` the times one was owed and held back.
    """

    def __init__(self, sctp: Any, policy: DelayedAckPolicy = RFC_POLICY) -> None:
        self.policy = policy
        self._sctp = sctp
        self._send_sack_now = sctp._send_sack  # aiortc's own: builds and sends the SACK
        self._owed = 0  # packets received since the last SACK
        self._reported_gap = False  # whether the last SACK carried gap blocks
        self._ordered = False  # ordered DATA arrived since the last SACK
        self._receive_data_chunk = sctp._receive_data_chunk  # aiortc's own
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._task: asyncio.Task | None = None
        self.sent = 0
        self.deferred = 0

    def install(self) -> DelayedAck:
        """Take over the SACK timing of the transport (once; a second install is refused)."""
        if delayed_ack_of(self._sctp) is not None:
            raise ConfigError("this SCTP transport already has a delayed-ack adapter")
        self._sctp._send_sack = self._sack_due
        self._sctp._receive_data_chunk = self._data_chunk
        return self

    async def _data_chunk(self, chunk: Any) -> None:
        if not chunk.flags & _UNORDERED:
            self._ordered = True
        await self._receive_data_chunk(chunk)

    def _irregular(self) -> bool:
        """A gap, a duplicate, or a gap just filled: RFC 4960 wants the SACK now."""
        sctp = self._sctp
        return bool(sctp._sack_misordered) or bool(sctp._sack_duplicates) or self._reported_gap

    async def _sack_due(self) -> None:
        """Called by aiortc once per received packet while a SACK is owed."""
        self._owed += 1
        every, delay_ms = self.policy.every, self.policy.delay_ms
        if self._ordered:  # reliable data: the RFC's recommendation at most
            every, delay_ms = min(every, RFC_POLICY.every), min(delay_ms, RFC_POLICY.delay_ms)
        if self._owed >= every or self._irregular():
            await self._flush()
            return
        self.deferred += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay_ms / 1000
        if self._timer is not None and deadline < self._deadline:
            self._timer.cancel()  # ordered data came: acknowledge sooner than planned
            self._timer = None
        if self._timer is None:
            self._deadline = deadline
            self._timer = loop.call_at(deadline, self._expired)

    def _expired(self) -> None:
        self._timer = None
        if self._sctp._sack_needed and self._sctp.state == "connected":
            self._task = asyncio.get_running_loop().create_task(self._flush_quietly())

    async def _flush_quietly(self) -> None:
        try:
            await self._flush()
        except Exception as exc:  # the association went away between timer and send
            log.debug("delayed SACK not sent: %s", exc)

    async def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._owed = 0
        self._ordered = False
        self._reported_gap = bool(self._sctp._sack_misordered)
        await self._send_sack_now()
        self.sent += 1


def install_delayed_ack(sctp: Any, policy: DelayedAckPolicy = RFC_POLICY) -> DelayedAck:
    """The adapter of ``sctp`` (an aiortc ``RTCSctpTransport``), installed now if it has none."""
    existing = delayed_ack_of(sctp)
    if existing is not None:
        return existing
    return DelayedAck(sctp, policy).install()


def delayed_ack_of(sctp: Any) -> DelayedAck | None:
    """The adapter installed on ``sctp``, if any: the owner of its ``_send_sack`` (the seam it
    took over; nothing else of ours is stored on aiortc's transport)."""
    owner = getattr(getattr(sctp, "_send_sack", None), "__self__", None)
    return owner if isinstance(owner, DelayedAck) else None
