"""Live call statistics: frames, bytes and milliseconds per stage over a sliding window.

Both ends keep one :class:`CallStats`; ``--stats`` prints :meth:`CallStats.line` once a second
and the browser page gets :meth:`CallStats.snapshot` on the control channel. The capture clock
(:func:`clock_ms`) is wall time in ms, so on one machine (or NTP-synced ones) a receiver can
subtract a packet's capture timestamp from "now" to get glass-to-glass latency.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from vid2vid.codec.bitstream.header import TIMESTAMP_MODULUS, timestamp_distance


def clock_ms() -> int:
    """The capture clock: wall time in whole milliseconds."""
    return time.time_ns() // 1_000_000


def age_ms(capture_ms: int, now_ms: int | None = None) -> int:
    """Milliseconds since a header's 24-bit capture timestamp, across its wrap."""
    now = clock_ms() if now_ms is None else now_ms
    return timestamp_distance(now % TIMESTAMP_MODULUS, capture_ms % TIMESTAMP_MODULUS)


#: Samples :attr:`CallStats.all_stages` keeps per stage (about 55 min at 30 fps); the oldest go.
RECORD_LIMIT = 100_000


class _Record(list):
    """A list of the last ``limit`` samples: a whole call's record, bounded for long calls.

    A list (not a deque) so readers can take ``len()`` and slices, as the latency benchmark
    does to skip its warm-up; trimming goes in blocks of a tenth so appends stay O(1)
    amortized. Memory stays under ``1.1 * limit`` samples per stage instead of growing by
    ~17 MB an hour.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._slack = max(limit // 10, 1)

    def append(self, value: float) -> None:
        super().append(value)
        if len(self) > self.limit + self._slack:
            del self[: len(self) - self.limit]


class CallStats:
    """Per-stage timings (ms), frame times and byte counts over the last ``window_s`` seconds;
    :attr:`all_stages` holds each stage's last ``record_limit`` samples for the summaries."""

    def __init__(
        self, window_s: float = 2.0, keep: int = 600, record_limit: int = RECORD_LIMIT
    ) -> None:
        self.window_s = window_s
        self._frames: deque[float] = deque(maxlen=keep)
        self._bytes: dict[str, deque[tuple[float, int]]] = {}
        self._stages: dict[str, deque[tuple[float, float]]] = {}
        self.totals: dict[str, int] = {}
        self.all_stages: dict[str, list[float]] = {}
        self._keep = keep
        self._record_limit = record_limit

    def frame(self) -> None:
        self._frames.append(time.monotonic())
        self.count("frames")

    def count(self, name: str, n: int = 1) -> None:
        self.totals[name] = self.totals.get(name, 0) + n

    def add_bytes(self, kind: str, n: int) -> None:
        self._bytes.setdefault(kind, deque(maxlen=self._keep)).append((time.monotonic(), n))
        self.count(f"{kind}_bytes", n)

    def stage(self, name: str, ms: float, record: bool = True) -> None:
        self._stages.setdefault(name, deque(maxlen=self._keep)).append((time.monotonic(), ms))
        if record:
            record_of = self.all_stages.get(name)
            if record_of is None:
                record_of = self.all_stages[name] = _Record(self._record_limit)
            record_of.append(ms)

    def _recent(self, values: deque) -> list:
        edge = time.monotonic() - self.window_s
        return [v for v in values if (v[0] if isinstance(v, tuple) else v) >= edge]

    def fps(self) -> float:
        recent = self._recent(self._frames)
        if len(recent) < 2:
            return 0.0
        span = max(recent[-1] - recent[0], 1e-6)
        return (len(recent) - 1) / span

    def kbps(self, kind: str) -> float:
        recent = self._recent(self._bytes.get(kind, deque()))
        return sum(n for _, n in recent) * 8 / self.window_s / 1000

    def ms(self, name: str, q: float = 50.0) -> float | None:
        recent = [ms for _, ms in self._recent(self._stages.get(name, deque()))]
        return float(np.percentile(recent, q)) if recent else None

    def snapshot(self) -> dict[str, object]:
        """The window's figures as plain JSON values."""
        return {
            "fps": round(self.fps(), 2),
            "kbps": {kind: round(self.kbps(kind), 3) for kind in sorted(self._bytes)},
            "ms_per_stage": {
                name: round(v, 2)
                for name in sorted(self._stages)
                if (v := self.ms(name)) is not None
            },
            "totals": dict(self.totals),
        }

    def line(self) -> str:
        """One human line: fps, kbit/s per kind, median ms per stage."""
        rates = " ".join(f"{kind} {self.kbps(kind):.2f} kbit/s" for kind in sorted(self._bytes))
        stages = " ".join(
            f"{name} {v:.1f}" for name in sorted(self._stages) if (v := self.ms(name)) is not None
        )
        return f"{self.fps():5.1f} fps | {rates} | ms: {stages}"


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50/p95/mean/count of a stage's full record (for the benchmark and the final summary)."""
    if not values:
        return {"p50": None, "p95": None, "mean": None, "n": 0}
    array = np.asarray(values, dtype=np.float64)
    return {
        "p50": float(np.percentile(array, 50)),
        "p95": float(np.percentile(array, 95)),
        "mean": float(array.mean()),
        "n": int(array.size),
    }
