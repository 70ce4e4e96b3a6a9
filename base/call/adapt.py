"""Adapting a call to its path: the receiver reports how motion arrives, the sender steps levels.

Receiver side, :class:`LinkReporter`: fed with every motion packet that arrives, it sends a
:class:`~vid2vid.call.control.LinkReport` about once a second: packets received and lost
(sequence gaps), the kbit/s received, and lateness. Lateness is the queuing delay: each
packet's transit (arrival on the local clock minus the sender's capture stamp) above the
smallest transit of the last ``base_window_s``; the report carries the interval's smallest
queuing delay (a queue at a bottleneck delays every packet, while a busy CPU at either end
delays only some: on this 2-core machine under load the median of a clean loopback call
reached 170 ms, its minimum stays near 0) and how many packets were late. The two
clocks need not agree (their offset cancels), and a queue building up at a bottleneck shows as
lateness before it overflows.

Sender side, :class:`AdaptationPolicy` (one per receiver): a ladder of :class:`QualityLevel`
(motion quantizer, frames per data-channel message, the keyframe's form and quality, the rate
keyframes are paced at). Why these knobs: at these rates most of the wire is per-message
framing (≈ 93 bytes a message, :mod:`vid2vid.call.pack`), so packing frames is what saves the
most, then the keyframe; the motion quantizer saves a few bytes a packet. The policy steps down
at once (at most once per ``down_hold_s``) on congestion: loss over the last few reports while
packets queue, one very lossy report, lateness that lasts two reports in a row, or reports that
stop coming. Loss without queueing is a lossy link, not a full one: sending less would not
help it, and bigger packs would make each loss cost more frames, so the level holds (every
motion packet is decodable after any loss). and steps up one level only after ``up_after_s`` of clean reports. That
gap is the hysteresis: a link that flaps between good and bad stays on the lower level. A step
up that is followed by a step down within ``probe_s`` failed, and doubles the wait before the
next try (up to ``max_up_after_s``), so a link at its limit is not probed every few seconds.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from vid2vid.call.control import LinkReport
from vid2vid.codec.bitstream.header import SEQUENCE_MODULUS, TIMESTAMP_MODULUS, sequence_distance
from vid2vid.codec.bitstream.motion import DEFAULT_QUALITY
from vid2vid.codec.stream import (
    DEFAULT_IMAGE_QUALITY,
    DEFAULT_KEYFRAME,
    KEYFRAME_KINDS,
    KeyframeForm,
)
from vid2vid.errors import ConfigError

log = logging.getLogger(__name__)


# -- the receiver's reports -----------------------------------------------------------------------
class LinkReporter:
    """Counts one stream's motion arrivals and makes a :class:`LinkReport` every ``interval_s``.

    :meth:`motion` returns the report when one is due (the caller sends it on the control
    channel), else None. Packets older than the newest seen (reordered, duplicated) are counted
    as received but move nothing. One reporter per stream: a new stream gets a new one.
    """

    def __init__(
        self, interval_s: float = 1.0, late_ms: float = 150.0, base_window_s: float = 10.0
    ) -> None:
        if interval_s <= 0 or late_ms <= 0 or base_window_s <= 0:
            raise ConfigError("interval_s, late_ms and base_window_s must be positive")
        self.interval_s = interval_s
        self.late_ms = late_ms
        self.base_window_s = base_window_s
        self._newest: int | None = None
        self._start_s: float | None = None
        self._received = 0
        self._expected = 0  # packets the newest sequence says were sent this interval
        self._credit = 0  # packets counted lost in an earlier interval that came after all
        self._bytes = 0
        self._queued: list[float] = []
        self._transits: deque[tuple[float, float]] = deque()  # (arrival s, transit ms)

    def _transit_ms(self, timestamp_ms: int, now_s: float) -> float:
        """Arrival minus capture stamp, on 24-bit wire timestamps (offset of the clocks in)."""
        return float((round(now_s * 1000) - timestamp_ms) % TIMESTAMP_MODULUS)

    def _queuing_ms(self, transit: float, now_s: float) -> float:
        window = self._transits
        while window and window[0][0] < now_s - self.base_window_s:
            window.popleft()
        # Keep the window's minimum cheap: drop entries no smaller than the new one.
        while window and window[-1][1] >= transit:
            window.pop()
        window.append((now_s, transit))
        return transit - window[0][1]

    def motion(
        self, sequence: int, timestamp_ms: int, size: int, now_s: float
    ) -> LinkReport | None:
        """One motion packet arrived at ``now_s`` (seconds, monotonic)."""
        if self._start_s is None:
            self._start_s = now_s
        if self._newest is None:
            self._newest = sequence
            self._expected += 1
        else:
            step = sequence_distance(sequence, self._newest)
            if 0 < step < SEQUENCE_MODULUS // 2:
                self._expected += step
                self._newest = sequence
        self._received += 1
        self._bytes += size
        self._queued.append(self._queuing_ms(self._transit_ms(timestamp_ms, now_s), now_s))
        if now_s - self._start_s < self.interval_s:
            return None
        return self._report(now_s)

    def _report(self, now_s: float) -> LinkReport:
        assert self._start_s is not None
        seconds = now_s - self._start_s
        queued = np.asarray(self._queued)
        # A packet reordered across the end of an interval was counted lost in the one before:
        # it pays back here (the cumulative count of RFC 3550, kept per interval).
        lost = self._expected - self._received - self._credit
        self._credit = max(0, -lost)
        report = LinkReport(
            interval_ms=seconds * 1000,
            received=self._received,
            lost=max(0, lost),
            late=int((queued > self.late_ms).sum()),
            delay_ms=float(queued.min()) if queued.size else 0.0,
            kbps=self._bytes * 8 / seconds / 1000 if seconds > 0 else 0.0,
        )
        self._start_s = now_s
        self._received, self._expected, self._bytes, self._queued = 0, 0, 0, []
        return report


# -- the sender's levels and policy --------------------------------------------------------------
@dataclass(frozen=True)
class QualityLevel:
    """One rung of the ladder; see the module docstring."""

    name: str
    motion_quality: int
    pack: int
    keyframe: KeyframeForm
    keyframe_quality: int
    keyframe_kbps: float

    def __post_init__(self) -> None:
        if not 1 <= self.motion_quality <= 100:
            raise ConfigError(f"motion_quality must be in 1..100, got {self.motion_quality}")
        if not 1 <= self.pack <= 15:
            raise ConfigError(f"pack must be in 1..15, got {self.pack}")
        if self.keyframe not in KEYFRAME_KINDS or KEYFRAME_KINDS[self.keyframe].is_volume:
            raise ConfigError(f"keyframe must be an image form, got {self.keyframe!r}")
        if not 0 <= self.keyframe_quality <= 100:
            raise ConfigError(f"keyframe_quality must be in 0..100, got {self.keyframe_quality}")
        if not self.keyframe_kbps > 0:
            raise ConfigError(f"keyframe_kbps must be positive, got {self.keyframe_kbps}")


def default_levels(
    quality: int = DEFAULT_QUALITY,
    pack: int = 1,
    keyframe: KeyframeForm = DEFAULT_KEYFRAME,
    image_quality: int = DEFAULT_IMAGE_QUALITY,
) -> tuple[QualityLevel, ...]:
    """The ladder under a sender's own settings (its level 0), best first.

    Sized on the default model at 25–30 fps (``bench/reports/wire-lite256-loopback``): pack 1
    costs ≈ 27–33 kbit/s forward, pack 2 ≈ 17–21, pack 3 ≈ 13–17, pack 5 ≈ 11–14; a 512 px
    key image is ≈ 25 KB as JPEG q90, 7.5 KB as WebP q80, 4.9 KB at q60, 3.7 KB at q40. So
    ``full`` (by default WebP q80, the sender's own key image) fits a 64 kbit/s path with its
    keyframe paced at 32 (2 s for the key image, 6 s for a JPEG q90 one, sent behind a smaller
    one the receiver already shows), ``good`` 48, ``low`` 32, ``minimal`` 24.
    """
    return (
        QualityLevel("full", quality, pack, keyframe, image_quality, 32.0),
        QualityLevel("good", min(quality, 30), max(pack, 2), "webp", 80, 24.0),
        QualityLevel("low", min(quality, 24), max(pack, 3), "webp", 60, 10.0),
        QualityLevel("minimal", min(quality, 18), max(pack, 5), "webp", 40, 6.0),
    )


@dataclass(frozen=True)
class AdaptationConfig:
    """Thresholds and times of :class:`AdaptationPolicy` (module docstring)."""

    start_level: int = 1
    degrade_loss: float = 0.10
    #: Loss is judged on the mean of this many reports (a report holds ≈ 25 packets, or a few
    #: packs: one lost message is already 8 % of it); a single report this lossy steps at once.
    loss_reports: int = 3
    heavy_loss: float = 0.50
    degrade_delay_ms: float = 200.0
    #: Lateness must last this many reports in a row: a queue at a bottleneck persists, a
    #: second in which a busy CPU held every packet back does not.
    delay_reports: int = 2
    recover_loss: float = 0.03
    recover_delay_ms: float = 80.0
    down_hold_s: float = 2.0
    up_after_s: float = 5.0
    max_up_after_s: float = 40.0
    probe_s: float = 10.0
    report_timeout_s: float = 3.0

    def __post_init__(self) -> None:
        if (
            self.delay_reports < 1
            or self.loss_reports < 1
            or not self.degrade_loss <= self.heavy_loss <= 1
        ):
            raise ConfigError(
                "need delay_reports >= 1, loss_reports >= 1 and degrade_loss <= heavy_loss <= 1"
            )
        if self.start_level < 0:
            raise ConfigError(f"start_level must be >= 0, got {self.start_level}")
        if not 0 <= self.recover_loss < self.degrade_loss <= 1:
            raise ConfigError(
                f"need 0 <= recover_loss < degrade_loss <= 1, got {self.recover_loss} "
                f"and {self.degrade_loss}"
            )
        if not 0 <= self.recover_delay_ms < self.degrade_delay_ms:
            raise ConfigError(
                f"need 0 <= recover_delay_ms < degrade_delay_ms, got {self.recover_delay_ms} "
                f"and {self.degrade_delay_ms}"
            )
        for name in ("down_hold_s", "up_after_s", "probe_s", "report_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_up_after_s < self.up_after_s:
            raise ConfigError("max_up_after_s must be >= up_after_s")


@dataclass(frozen=True)
class LevelChange:
    """A step of the policy: when, to which level, and why (for logs and plots)."""

    at_s: float
    level: int
    reason: str


@dataclass
class AdaptationPolicy:
    """Chooses one receiver's level from its reports; see the module docstring.

    Times are seconds on the caller's monotonic clock. :meth:`on_report` and :meth:`tick`
    return the new level when it changed, else None.
    """

    levels: tuple[QualityLevel, ...]
    config: AdaptationConfig = field(default_factory=AdaptationConfig)
    now_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.levels:
            raise ConfigError("an adaptation policy needs at least one level")
        self.level = min(self.config.start_level, len(self.levels) - 1)
        self.history: list[LevelChange] = [LevelChange(self.now_s, self.level, "start")]
        self._changed_s = self.now_s
        self._clean_since: float | None = None
        self._last_report_s: float | None = None
        self._up_after_s = self.config.up_after_s
        self._last_up_s: float | None = None
        self._losses: deque[tuple[int, int]] = deque(maxlen=self.config.loss_reports)
        self._delays: deque[float] = deque(maxlen=self.config.delay_reports)

    @property
    def current(self) -> QualityLevel:
        return self.levels[self.level]

    def _step(self, level: int, now_s: float, reason: str) -> int:
        down = level > self.level
        if down and self._last_up_s is not None and now_s - self._last_up_s < self.config.probe_s:
            # The last step up did not hold: wait longer before the next one.
            self._up_after_s = min(self._up_after_s * 2, self.config.max_up_after_s)
        self._last_up_s = None if down else now_s
        self.level = level
        self._changed_s = now_s
        self._clean_since = None
        self._losses.clear()  # judge the new level on its own reports
        self._delays.clear()
        self.history.append(LevelChange(now_s, level, reason))
        log.info("link level %d (%s): %s", level, self.levels[level].name, reason)
        return level

    def _down(self, now_s: float, reason: str) -> int | None:
        if self.level == len(self.levels) - 1:
            return None
        # A failed step up is undone sooner than a step down is repeated.
        stepped_up = len(self.history) > 1 and self.history[-1].level < self.history[-2].level
        hold = self.config.down_hold_s / 2 if stepped_up else self.config.down_hold_s
        if now_s - self._changed_s < hold:
            return None  # the last change has not had time to show its effect
        return self._step(self.level + 1, now_s, reason)

    def on_report(self, report: LinkReport, now_s: float) -> int | None:
        """Take one receiver report; the new level, if it changed."""
        self._last_report_s = now_s
        config = self.config
        self._losses.append((report.lost, report.received + report.lost))
        lost, total = (sum(column) for column in zip(*self._losses, strict=True))
        loss = lost / total if total else 0.0
        queued = report.delay_ms > config.recover_delay_ms
        if (loss >= config.degrade_loss and queued) or report.loss >= config.heavy_loss:
            self._clean_since = None
            return self._down(now_s, f"loss {max(loss, report.loss):.0%}")
        self._delays.append(report.delay_ms)
        # Right after a step up, one late report ends the probe: the step up caused it.
        probing = self._last_up_s is not None and now_s - self._last_up_s < config.probe_s
        needed = 1 if probing else config.delay_reports
        recent = list(self._delays)[-needed:]
        late = len(recent) == needed and min(recent) >= config.degrade_delay_ms
        if report.delay_ms >= config.degrade_delay_ms:
            self._clean_since = None
            return self._down(now_s, f"queuing delay {report.delay_ms:.0f} ms") if late else None
        clean = report.loss <= config.recover_loss and report.delay_ms <= config.recover_delay_ms
        if not clean:
            self._clean_since = None  # between the thresholds: hold
            return None
        if self._clean_since is None:
            self._clean_since = now_s
        if self._last_up_s is not None and now_s - self._last_up_s >= config.probe_s:
            self._up_after_s = config.up_after_s  # the last step up held: forget old failures
        if self.level == 0:
            return None
        waited = now_s - max(self._clean_since, self._changed_s)
        if waited >= self._up_after_s:
            return self._step(self.level - 1, now_s, f"clean for {waited:.0f} s")
        return None

    def tick(self, now_s: float) -> int | None:
        """Called often by the sender: silence from the receiver for longer than the report
        timeout (after its first report) counts as a bad report."""
        last = self._last_report_s
        if last is None or now_s - last < self.config.report_timeout_s:
            return None
        self._last_report_s = now_s  # one step per timeout, not one per tick
        self._clean_since = None
        return self._down(now_s, f"no report for {now_s - last:.1f} s")
