"""Keyframes that do not starve motion: small chunks, paced below the link, one at a time.

Why: aiortc's SCTP moves a data-channel message into its outbound queue whole, and moves the
next message (of any channel) only once that queue is empty. A 25 KB keyframe in one message
therefore holds every motion packet behind it until the last of its ≈ 21 DATA chunks has left,
which on a 32 kbit/s path is over six seconds of frozen face. :func:`rechunk` cuts a keyframe
into chunks that fit one SCTP DATA chunk each (the receiver's assembler takes any chunk size),
and :class:`KeyframePacer` hands them to the control channel at most ``rate_kbps`` and only
when the channel's previous message has left the queue, so a motion message waits behind at
most one chunk. The rate comes from the sender's adaptation level
(:class:`~vid2vid.call.adapt.QualityLevel`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from vid2vid.codec.bitstream.chunks import CHUNK_HEADER, OVERHEAD, split_keyframe
from vid2vid.codec.bitstream.header import HEADER_SIZE, PacketHeader, PacketType
from vid2vid.errors import BitstreamError, ConfigError

log = logging.getLogger(__name__)

#: aiortc's largest DATA chunk payload (1200-byte SCTP packets) is 1172 bytes: a keyframe chunk
#: of at most this many bytes goes out as one datagram.
PACED_CHUNK_BYTES = 1150
#: How often a paced sender looks again while the channel still holds its last chunk.
POLL_S = 0.01


def rechunk(chunks: list[bytes], max_packet: int = PACED_CHUNK_BYTES) -> list[bytes]:
    """The keyframe in ``chunks`` (all of one keyframe, in order) cut into chunks of at most
    ``max_packet`` bytes: same stream, keyframe id, capture stamp and payload CRC, sequence
    numbers from the first chunk's on (receivers do not order chunks by them)."""
    if not chunks:
        return []
    header = PacketHeader.parse(chunks[0])
    header.expect(PacketType.KEYFRAME_CHUNK)
    if len(chunks[0]) < OVERHEAD:
        raise BitstreamError(f"keyframe chunk is truncated: {len(chunks[0])} of {OVERHEAD} bytes")
    keyframe_id, _, count, _ = CHUNK_HEADER.unpack_from(chunks[0], HEADER_SIZE)
    if count != len(chunks):
        raise BitstreamError(f"keyframe {keyframe_id} has {count} chunks, {len(chunks)} given")
    if all(len(chunk) <= max_packet for chunk in chunks):
        return list(chunks)
    payload = b"".join(chunk[OVERHEAD:] for chunk in chunks)
    return split_keyframe(
        payload,
        stream_id=header.stream_id,
        first_sequence=header.sequence,
        timestamp_ms=header.timestamp_ms,
        keyframe_id=keyframe_id,
        max_packet=max_packet,
    )


class KeyframePacer:
    """Sends one receiver's keyframe chunks on its control channel; see the module docstring.

    ``send`` puts one control message on the channel; ``backlog`` says how many bytes the
    channel still holds (aiortc's ``bufferedAmount``; 0 for a transport without one).
    :meth:`push` queues chunks behind those waiting; :meth:`replace` drops the waiting ones first
    (a newer keyframe makes them useless). ``rate_kbps`` may change at any time.
    """

    def __init__(
        self,
        send: Callable[[bytes], object],
        rate_kbps: float,
        backlog: Callable[[], int] = lambda: 0,
    ) -> None:
        self._send = send
        self._backlog = backlog
        self.rate_kbps = rate_kbps
        self._queue: list[bytes] = []
        self._next_s = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.sent_bytes = 0

    @property
    def rate_kbps(self) -> float:
        return self._rate_kbps

    @rate_kbps.setter
    def rate_kbps(self, rate: float) -> None:
        if not rate > 0:
            raise ConfigError(f"rate_kbps must be positive, got {rate}")
        self._rate_kbps = rate

    @property
    def pending(self) -> int:
        """Chunks still waiting to go."""
        return len(self._queue)

    def push(self, chunks: list[bytes]) -> None:
        if self._closed:
            return
        self._queue.extend(chunks)
        self._pump()

    def replace(self, chunks: list[bytes]) -> None:
        self._queue.clear()
        self.push(chunks)

    def _pump(self) -> None:
        self._timer = None
        if self._closed or not self._queue:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now < self._next_s:
            self._schedule(loop, self._next_s - now)
            return
        if self._backlog() > 0:
            self._schedule(loop, POLL_S)
            return
        chunk = self._queue.pop(0)
        self._send(chunk)
        self.sent_bytes += len(chunk)
        self._next_s = max(now, self._next_s) + len(chunk) * 8 / (self._rate_kbps * 1000)
        if self._queue:
            self._schedule(loop, self._next_s - now)

    def _schedule(self, loop: Any, delay_s: float) -> None:
        if self._timer is None:
            self._timer = loop.call_later(max(0.0, delay_s), self._pump)

    def close(self) -> None:
        self._closed = True
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
