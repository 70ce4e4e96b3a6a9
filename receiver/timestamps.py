"""A peer's capture timestamps, checked against the local clock before they steer anything.

Every motion packet carries the sender's capture time (24-bit ms). The receiver orders frames,
places them in a recording and measures glass-to-glass latency with it, so a forged or broken
stamp (a peer that stamps 2^23 ms ahead, a clock that jumps) must not reach any of those: a
hostile tester blinded a recording and showed a latency of -4,389,426 ms that way.

:class:`PeerClock` learns a stream's offset from the local clock on its first packet (the two
machines' clocks need not agree) and then admits a packet only when its stamp lies within
``window_ms`` of where that offset says it should. A sender's clock may really jump (an NTP
step): after ``reanchor_after`` strays in a row the clock re-learns its offset, so a stream
recovers while a few forged packets among real ones change nothing. One PeerClock per stream:
each peer's stamps are judged only against its own history.
"""

from __future__ import annotations

from dataclasses import dataclass

from vid2vid.codec.bitstream.header import TIMESTAMP_MODULUS, timestamp_distance

#: Latencies outside this range are not statistics but clocks that disagree: not recorded.
PLAUSIBLE_LATENCY_MS = (-1_000, 60_000)


def plausible_latency(ms: float) -> bool:
    """Whether a capture-to-now difference can be a latency (clocks agree within a second)."""
    low, high = PLAUSIBLE_LATENCY_MS
    return low <= ms <= high


@dataclass
class PeerClock:
    """See the module docstring; ``now_ms`` is the local capture clock (any int, ms)."""

    window_ms: int = 10_000
    reanchor_after: int = 30
    offset_ms: int | None = None  # the peer's clock minus ours, signed 24-bit
    strays_in_a_row: int = 0
    strays: int = 0

    def _offset_of(self, timestamp_ms: int, now_ms: int) -> int:
        return timestamp_distance(timestamp_ms, now_ms % TIMESTAMP_MODULUS)

    def plausible(self, timestamp_ms: int, now_ms: int) -> bool:
        """Within the window of the learned offset (anything is, before the first packet)."""
        if self.offset_ms is None:
            return True
        offset = self._offset_of(timestamp_ms, now_ms)
        return abs(timestamp_distance(offset, self.offset_ms)) <= self.window_ms

    def check(self, timestamp_ms: int, now_ms: int) -> bool:
        """Admit or refuse one packet's stamp, learning and re-learning the offset."""
        if self.offset_ms is None or self.plausible(timestamp_ms, now_ms):
            if self.offset_ms is None:
                self.offset_ms = self._offset_of(timestamp_ms, now_ms)
            self.strays_in_a_row = 0
            return True
        self.strays += 1
        self.strays_in_a_row += 1
        if self.strays_in_a_row >= self.reanchor_after:
            self.offset_ms = self._offset_of(timestamp_ms, now_ms)
            self.strays_in_a_row = 0
            return True
        return False

    def expected(self, now_ms: int) -> int:
        """Where the peer's clock should be now (the local clock before the first packet)."""
        return (now_ms + (self.offset_ms or 0)) % TIMESTAMP_MODULUS
