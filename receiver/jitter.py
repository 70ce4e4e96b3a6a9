"""The reorder/jitter buffer: motion packets in any order, out in sequence order or not at all.

Motion travels on an unordered channel without retransmission, so packets arrive late, twice,
out of order, or never. This buffer releases them strictly in sequence order: a packet waits at
most ``hold_ms`` for the ones before it; then the gap is skipped (the receiver holds the last
pose) and a packet from before the gap, should it still come, is late and dropped, never
rendered out of order. Sequence numbers compare with serial arithmetic across the 16-bit wrap.
A jump of more than ``restart_distance`` is a restarted sender: the buffer starts over there.
Pure state, no clock of its own: callers pass ``now_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from vid2vid.codec.bitstream.header import SEQUENCE_MODULUS, sequence_distance

#: What the buffer holds per sequence number: raw bytes, or the stream layer's parsed packet
#: (so its header is not parsed again when it leaves).
P = TypeVar("P")


@dataclass(frozen=True)
class Released(Generic[P]):
    """A packet leaving the buffer; ``skipped`` packets before it never came in time."""

    sequence: int
    packet: P
    skipped: int
    arrival_ms: float


class JitterBuffer(Generic[P]):
    """See the module docstring. ``capacity`` bounds the packets held while waiting: a push
    beyond it drops the serially oldest held packet (counted in ``overflowed``), so a peer
    flooding sequence numbers cannot grow the buffer."""

    def __init__(self, hold_ms: float = 30.0, capacity: int = 64, restart_distance: int = 1000):
        if hold_ms < 0 or capacity < 1:
            raise ValueError("hold_ms must be >= 0 and capacity >= 1")
        self.hold_ms = hold_ms
        self.capacity = capacity
        self.restart_distance = restart_distance
        self._next: int | None = None
        self._held: dict[int, tuple[P, float]] = {}
        self.late = 0
        self.duplicates = 0
        self.skipped = 0
        self.overflowed = 0

    def reset(self) -> None:
        self._next = None
        self._held.clear()

    def push(self, sequence: int, packet: P, now_ms: float) -> bool:
        """Hold ``packet``; False when it is late or a duplicate (and so dropped)."""
        if self._next is not None:
            ahead = sequence_distance(sequence, self._next)
            behind = SEQUENCE_MODULUS - ahead
            if ahead < SEQUENCE_MODULUS // 2:
                if ahead > self.restart_distance:
                    self.reset()  # far ahead: a restarted sender, not a gap to wait for
            elif behind > self.restart_distance:
                self.reset()  # far behind: likewise
            else:
                self.late += 1
                return False
        if sequence in self._held:
            self.duplicates += 1
            return False
        self._held[sequence] = (packet, now_ms)
        while len(self._held) > self.capacity:
            del self._held[self._oldest()]
            self.overflowed += 1
        return True

    def pop_ready(self, now_ms: float) -> list[Released[P]]:
        """Every packet that may leave now, in sequence order."""
        out: list[Released[P]] = []
        while self._held:
            if self._next is None:
                self._next = self._oldest()
            if self._next in self._held:
                packet, arrival = self._held.pop(self._next)
                out.append(Released(self._next, packet, 0, arrival))
                self._next = (self._next + 1) % SEQUENCE_MODULUS
                continue
            oldest = self._oldest()
            waited = now_ms - min(arrival for _, arrival in self._held.values())
            if waited < self.hold_ms and len(self._held) < self.capacity:
                break
            skipped = sequence_distance(oldest, self._next)
            self.skipped += skipped
            packet, arrival = self._held.pop(oldest)
            out.append(Released(oldest, packet, skipped, arrival))
            self._next = (oldest + 1) % SEQUENCE_MODULUS
        return out

    def deadline_ms(self) -> float | None:
        """When the oldest waiting packet stops waiting (None when nothing waits)."""
        if not self._held:
            return None
        return min(arrival for _, arrival in self._held.values()) + self.hold_ms

    def _oldest(self) -> int:
        """The held sequence closest after ``_next`` (or the serially oldest when none)."""
        if self._next is not None:
            reference = self._next
        else:  # half a wrap before any held packet: every held one is after it
            reference = (next(iter(self._held)) - SEQUENCE_MODULUS // 2) % SEQUENCE_MODULUS
        return min(self._held, key=lambda s: sequence_distance(s, reference))
