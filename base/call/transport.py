"""The packet-transport seam between sender and receiver, and its in-memory test pair.

A call moves two kinds of messages (DESIGN): keyframe chunks and control JSON on a reliable,
ordered ``"control"`` channel, and motion packets on an unordered ``"motion"`` channel with no
retransmission. :class:`PacketTransport` is that much and no more, so the session code runs
unchanged over a WebRTC peer connection (:class:`DataChannelTransport`, two aiortc data
channels) or over :func:`memory_pair`, which drops, delays and reorders motion packets by a
settable pattern (as aiortc's own tests use ``dummy_connection_pair``). Binary messages are
packets, text messages are control JSON. A binary motion message may also be a pack of several
packets (:mod:`vid2vid.call.pack`, ``--pack N``): both transports unpack it and hand the packets
on one by one at their captured spacing, so a receiver never sees packs. The data-channel
transport delays its SCTP acknowledgements as RFC 4960 allows (:mod:`vid2vid.call.sack`).
This module imports no aiortc: the data channels are duck-typed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from vid2vid.call.pack import PackInbox
from vid2vid.call.sack import CALL_POLICY, DelayedAckPolicy, install_delayed_ack
from vid2vid.call.wire import WireCount, dtls_counts

log = logging.getLogger(__name__)

Channel = Literal["control", "motion"]
Message = bytes | str
#: Called with the channel a message came on and the message itself.
MessageHandler = Callable[[Channel, Message], None]
CHANNELS: tuple[Channel, ...] = ("control", "motion")
#: A motion packet is dropped instead of queued when this much is already waiting to go out:
#: in real time a stale pose is worth nothing, and a queue only adds latency.
MOTION_BACKLOG_BYTES = 16 * 1024


class PacketTransport(Protocol):
    """Both directions of one sender-receiver link."""

    @property
    def is_open(self) -> bool:
        """Whether both channels can carry messages now."""

    def send(self, channel: Channel, message: Message) -> bool:
        """Queue ``message`` on ``channel``; False when it was dropped (closed or congested)."""

    def set_handler(self, handler: MessageHandler) -> None:
        """Call ``handler`` for every message that arrives (on the event loop)."""

    def close(self) -> None:
        """Stop sending and receiving; idempotent."""


@dataclass(frozen=True)
class LossPattern:
    """What the in-memory link does to motion packets (control stays reliable, like SCTP).

    ``loss`` is the chance a packet is dropped; ``drop`` (when given) decides instead, from the
    packet's index on the link. Each packet is delayed ``delay_ms`` plus up to ``jitter_ms``
    more, drawn at random, so packets overtake each other (reordering). ``seed`` fixes the draws.
    """

    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    seed: int = 0
    drop: Callable[[int], bool] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError(f"loss must be in [0, 1], got {self.loss}")
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise ValueError("delay_ms and jitter_ms must be >= 0")


class MemoryTransport:
    """One end of :func:`memory_pair`; delivers on the running event loop."""

    def __init__(self, pattern: LossPattern) -> None:
        self._pattern = pattern
        self._random = random.Random(pattern.seed)
        self._peer: MemoryTransport | None = None
        self._handler: MessageHandler | None = None
        self._open = True
        self._motion_index = 0
        self._timers: set[asyncio.TimerHandle] = set()
        self._inbox = PackInbox(lambda packet: self._hand_on("motion", packet))
        self.sent = {channel: 0 for channel in CHANNELS}
        self.dropped = 0

    @property
    def is_open(self) -> bool:
        return self._open and self._peer is not None and self._peer._open

    def set_handler(self, handler: MessageHandler) -> None:
        self._handler = handler

    def send(self, channel: Channel, message: Message) -> bool:
        if not self.is_open:
            return False
        assert self._peer is not None
        self.sent[channel] += 1
        loop = asyncio.get_running_loop()
        if channel == "control":
            loop.call_soon(self._peer._deliver, channel, message)
            return True
        index, self._motion_index = self._motion_index, self._motion_index + 1
        pattern = self._pattern
        lost = pattern.drop(index) if pattern.drop else self._random.random() < pattern.loss
        if lost:
            self.dropped += 1
            return True  # lost on the way, as a datagram would be: the sender cannot tell
        delay = (pattern.delay_ms + self._random.random() * pattern.jitter_ms) / 1000
        peer = self._peer
        handle: asyncio.TimerHandle

        def deliver() -> None:
            self._timers.discard(handle)
            peer._deliver(channel, message)

        handle = loop.call_later(delay, deliver)
        self._timers.add(handle)
        return True

    def _deliver(self, channel: Channel, message: Message) -> None:
        if channel == "motion" and isinstance(message, bytes):
            self._inbox.receive(message)
        else:
            self._hand_on(channel, message)

    def _hand_on(self, channel: Channel, message: Message) -> None:
        if self._open and self._handler is not None:
            self._handler(channel, message)

    def close(self) -> None:
        self._open = False
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._inbox.close()


def memory_pair(pattern: LossPattern | None = None) -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected transports; ``pattern`` applies to motion sent from the first to the second.

    The way back (keyframe and intra requests, views) is reliable and immediate.
    """
    a, b = MemoryTransport(pattern or LossPattern()), MemoryTransport(LossPattern())
    a._peer, b._peer = b, a
    return a, b


class DataChannelTransport:
    """The two data channels of one peer connection as a :class:`PacketTransport`.

    The sender creates the channels (``"control"`` reliable and ordered, ``"motion"`` with
    ``ordered=False, maxRetransmits=0``); the receiver attaches them as they are announced.
    Handlers survive a channel being replaced. Messages on other channels are ignored.
    ``ack`` is the delayed-acknowledgement policy installed on the channels' SCTP transport
    (None: aiortc's SACK for every packet).
    """

    def __init__(self, ack: DelayedAckPolicy | None = CALL_POLICY) -> None:
        self._channels: dict[str, Any] = {}
        self._handler: MessageHandler | None = None
        self._closed = False
        self._ack = ack
        self._inbox = PackInbox(lambda packet: self._hand_on("motion", packet))
        self.bytes_sent = {channel: 0 for channel in CHANNELS}
        self.opened = asyncio.Event()

    def attach(self, channel: Any) -> None:
        """Take an aiortc ``RTCDataChannel`` named ``control`` or ``motion``."""
        label = channel.label
        if label not in CHANNELS:
            log.warning("ignoring unknown data channel %r", label)
            return
        self._channels[label] = channel
        sctp = getattr(channel, "transport", None)
        if self._ack is not None and hasattr(sctp, "_send_sack"):
            install_delayed_ack(sctp, self._ack)

        @channel.on("message")
        def on_message(message: Message) -> None:
            if label == "motion" and isinstance(message, bytes):
                self._inbox.receive(message)
            else:
                self._hand_on(label, message)

        @channel.on("open")
        def on_open() -> None:
            self._check_open()

        self._check_open()

    def _hand_on(self, channel: Channel, message: Message) -> None:
        if self._handler is not None and not self._closed:
            self._handler(channel, message)

    def _check_open(self) -> None:
        if self.is_open:
            self.opened.set()

    @property
    def is_open(self) -> bool:
        return (
            not self._closed
            and all(c in self._channels for c in CHANNELS)
            and all(self._channels[c].readyState == "open" for c in CHANNELS)
        )

    def set_handler(self, handler: MessageHandler) -> None:
        self._handler = handler

    def wire(self) -> tuple[WireCount, WireCount] | None:
        """(sent, received) on the wire so far, IP/UDP headers in; None before a channel."""
        channel = next(iter(self._channels.values()), None)
        dtls = getattr(getattr(channel, "transport", None), "transport", None)
        if dtls is None or not hasattr(dtls, "_get_stats"):
            return None
        return dtls_counts(dtls)

    def buffered(self, channel: Channel) -> int:
        """Bytes ``channel`` holds that SCTP has not taken yet (0 before it exists); the
        keyframe pacer (:mod:`vid2vid.call.pacing`) waits for 0."""
        target = self._channels.get(channel)
        return 0 if target is None else int(target.bufferedAmount)

    def send(self, channel: Channel, message: Message) -> bool:
        target = self._channels.get(channel)
        if self._closed or target is None or target.readyState != "open":
            return False
        if channel == "motion" and target.bufferedAmount > MOTION_BACKLOG_BYTES:
            return False
        try:
            target.send(message)
        except Exception as exc:  # aiortc raises InvalidStateError et al. on a closing channel
            log.debug("send on %s failed: %s", channel, exc)
            return False
        self.bytes_sent[channel] += len(message)
        return True

    def close(self) -> None:
        self._closed = True
        self._inbox.close()
        for channel in self._channels.values():
            try:
                channel.close()
            except Exception as exc:  # closing a half-dead channel must never raise
                log.debug("closing %s: %s", channel.label, exc)
