"""A bad network in user space: seeded loss, bursts, delay, jitter and a rate cap on a call's UDP.

Why here: the kernel on these machines has no ``netem``, and a test or benchmark must be
repeatable, so the impairment is a seeded model between aioice's protocols and their sockets
(the one seam aioice has; :class:`~vid2vid.call.wire.DatagramTap` uses it too). Every datagram
a peer connection sends goes through :class:`LinkModel`, in this order, as through a router
with a shaped uplink and a long path behind it:

1. **loss**: independent (``loss``) or Gilbert–Elliott bursts (:class:`BurstLoss`: a good and a
   bad state, each with its own loss chance, a Markov step per datagram);
2. **rate cap**: a token bucket (``rate_kbps``, ``bucket_bytes``) in front of a drop-tail
   queue that holds at most ``queue_ms`` of waiting (tbf's ``latency``); a datagram that would
   wait longer is dropped. IP and UDP headers count, as they do on a real link. The cap may
   change during a call (``schedule``);
3. **delay and jitter**: ``delay_ms`` plus a normal draw of ``jitter_ms`` standard deviation,
   clipped at zero; like netem, jitter reorders datagrams.

The model is pure (clock passed in, one ``random.Random(seed)``), so tests check its
statistics without a network; :class:`Impairment` puts it on a peer connection and schedules
each datagram's delivery on the event loop. Only what a connection sends is impaired: install
one on each end for both directions (the return path carries SCTP acknowledgements).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any

from vid2vid.call.wire import IP_UDP_HEADER, _dtls_of
from vid2vid.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BurstLoss:
    """Gilbert–Elliott loss: a two-state Markov chain stepped once per datagram.

    ``p_enter`` is the chance to go from the good to the bad state, ``p_leave`` back; in each
    state a datagram is lost with ``loss_good`` / ``loss_bad``. Mean burst (bad-state) length is
    ``1 / p_leave`` datagrams, the long-run share of bad datagrams ``p_enter / (p_enter +
    p_leave)``.
    """

    p_enter: float = 0.02
    p_leave: float = 0.25
    loss_good: float = 0.0
    loss_bad: float = 0.8

    def __post_init__(self) -> None:
        for name in ("p_enter", "p_leave", "loss_good", "loss_bad"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"BurstLoss.{name} must be in [0, 1], got {value}")
        if self.p_leave == 0.0 and self.p_enter > 0.0:
            raise ConfigError("BurstLoss.p_leave must be > 0: a burst must end")

    @property
    def mean_loss(self) -> float:
        """The long-run loss rate of the chain."""
        total = self.p_enter + self.p_leave
        bad = self.p_enter / total if total else 0.0
        return bad * self.loss_bad + (1 - bad) * self.loss_good


@dataclass(frozen=True)
class ImpairmentConfig:
    """One direction of a bad link; see the module docstring. Defaults: a perfect link."""

    loss: float = 0.0
    burst: BurstLoss | None = None
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_kbps: float | None = None
    bucket_bytes: int = 1500  # one full datagram: a burst after idle stays small
    queue_ms: float = 500.0
    #: Rate changes during the call: (seconds after the link starts, new cap in kbit/s or None).
    schedule: tuple[tuple[float, float | None], ...] = ()
    #: Loss applies only to DTLS application data (SCTP): ICE checks and the DTLS handshake
    #: always go through (delay and the rate cap apply to every datagram).
    loss_data_only: bool = True
    ip_version: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise ConfigError(f"loss must be in [0, 1], got {self.loss}")
        if self.burst is not None and self.loss:
            raise ConfigError("give either loss or burst, not both")
        for name in ("delay_ms", "jitter_ms", "queue_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a finite number >= 0, got {value}")
        rates = [self.rate_kbps] + [rate for _, rate in self.schedule]
        for rate in rates:
            if rate is not None and not (math.isfinite(rate) and rate > 0):
                raise ConfigError(f"a rate cap must be a positive kbit/s or None, got {rate}")
        times = [at for at, _ in self.schedule]
        if any(at < 0 for at in times) or times != sorted(times):
            raise ConfigError(f"schedule times must be >= 0 and ascending, got {times}")
        if self.bucket_bytes < 1500:
            raise ConfigError(
                f"bucket_bytes must hold a full datagram (>= 1500), got {self.bucket_bytes}"
            )
        if self.ip_version not in IP_UDP_HEADER:
            raise ConfigError(f"ip_version must be 4 or 6, got {self.ip_version}")

    @property
    def impaired(self) -> bool:
        """Whether this link does anything at all."""
        return bool(
            self.loss or self.burst or self.delay_ms or self.jitter_ms
            or self.rate_kbps is not None or self.schedule
        )  # fmt: skip

    def rate_at(self, seconds: float) -> float | None:
        """The cap in kbit/s ``seconds`` after the link started (None: no cap)."""
        rate = self.rate_kbps
        for at, new in self.schedule:
            if seconds >= at:
                rate = new
        return rate

    @property
    def label(self) -> str:
        """A short human description (table rows, plot legends)."""
        parts = []
        if self.loss:
            parts.append(f"{self.loss:.0%} loss")
        if self.burst is not None:
            parts.append(f"GE bursts ({self.burst.mean_loss:.0%})")
        if self.delay_ms or self.jitter_ms:
            parts.append(f"{self.delay_ms:g}±{self.jitter_ms:g} ms")
        if self.rate_kbps is not None or self.schedule:
            steps = [self.rate_kbps] + [rate for _, rate in self.schedule]
            parts.append("→".join("∞" if r is None else f"{r:g}" for r in steps) + " kbit/s")
        return ", ".join(parts) or "clean"


@dataclass
class Direction:
    """Counters of one impaired direction: datagrams offered, dropped (by loss and by the full
    queue), delivered, and IP-layer bytes delivered per whole second since the start."""

    offered: int = 0
    lost: int = 0
    overflow: int = 0
    delivered: int = 0
    delivered_ip_bytes: int = 0
    per_second: list[int] = field(default_factory=list)

    def add_delivered(self, seconds: float, ip_bytes: int) -> None:
        self.delivered += 1
        self.delivered_ip_bytes += ip_bytes
        slot = max(0, int(seconds))
        if slot >= len(self.per_second):
            self.per_second.extend([0] * (slot + 1 - len(self.per_second)))
        self.per_second[slot] += ip_bytes


class LinkModel:
    """The pure model of one direction: :meth:`admit` says when a datagram arrives, or None.

    Times are seconds on any monotonic clock that starts at ``start_s``.
    """

    def __init__(self, config: ImpairmentConfig, start_s: float = 0.0) -> None:
        self.config = config
        self.start_s = start_s
        self._random = random.Random(config.seed)
        self._bad = False
        self._tokens = float(config.bucket_bytes)
        self._last_departure = start_s
        self.counts = Direction()

    def _lost(self) -> bool:
        burst = self.config.burst
        if burst is None:
            return self.config.loss > 0 and self._random.random() < self.config.loss
        self._bad = (
            self._random.random() >= burst.p_leave
            if self._bad
            else self._random.random() < burst.p_enter
        )
        chance = burst.loss_bad if self._bad else burst.loss_good
        return self._random.random() < chance

    def _departure(self, now_s: float, ip_bytes: int) -> float | None:
        """When the shaper lets ``ip_bytes`` go (token bucket + bounded FIFO); None: dropped."""
        rate_kbps = self.config.rate_at(now_s - self.start_s)
        if rate_kbps is None:
            self._tokens = float(self.config.bucket_bytes)
            self._last_departure = max(self._last_departure, now_s)
            return now_s
        rate = rate_kbps * 1000 / 8  # bytes per second
        begin = max(now_s, self._last_departure)  # FIFO: not before the datagram ahead
        tokens = min(
            float(self.config.bucket_bytes),
            self._tokens + (begin - self._last_departure) * rate,
        )
        departure = begin if tokens >= ip_bytes else begin + (ip_bytes - tokens) / rate
        if departure - now_s > self.config.queue_ms / 1000:
            return None
        self._tokens = tokens + (departure - begin) * rate - ip_bytes
        self._last_departure = departure
        return departure

    def admit(self, now_s: float, size: int, is_data: bool = True) -> float | None:
        """The arrival time of a datagram of ``size`` UDP payload bytes sent at ``now_s``;
        None when it is lost. ``is_data``: whether loss may touch it (see ``loss_data_only``)."""
        counts = self.counts
        counts.offered += 1
        if (is_data or not self.config.loss_data_only) and self._lost():
            counts.lost += 1
            return None
        ip_bytes = size + IP_UDP_HEADER[self.config.ip_version]
        departure = self._departure(now_s, ip_bytes)
        if departure is None:
            counts.overflow += 1
            return None
        delay = self.config.delay_ms
        if self.config.jitter_ms:
            delay = max(0.0, self._random.gauss(delay, self.config.jitter_ms))
        counts.add_delivered(departure - self.start_s, ip_bytes)
        return departure + delay / 1000


#: The first byte of a DTLS application-data record (SCTP rides in those).
_DTLS_APPLICATION_DATA = 23


class _ImpairedTransport:
    """An asyncio datagram transport whose ``sendto`` goes through a :class:`LinkModel`."""

    def __init__(self, inner: Any, owner: Impairment) -> None:
        self._inner = inner
        self._owner = owner

    def sendto(self, data: bytes, addr: Any = None) -> None:
        self._owner._send(self._inner, data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Impairment:
    """A :class:`LinkModel` on everything one aiortc peer connection sends.

    Install it once the connection has gathered its candidates (after ``setLocalDescription``,
    before or after the ICE checks); :meth:`close` cancels datagrams still on their way.
    ``counts`` holds the direction's counters (what reached the other end, per second too).
    """

    def __init__(self, config: ImpairmentConfig) -> None:
        self.config = config
        self._model: LinkModel | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._protocols: set[int] = set()
        self._closed = False

    @property
    def started_s(self) -> float | None:
        """The event loop's time when the link started (its schedule and per-second counts
        count from here); None before :meth:`install`."""
        return None if self._model is None else self._model.start_s

    @property
    def counts(self) -> Direction:
        return self._model.counts if self._model is not None else Direction()

    def install(self, pc: Any) -> Impairment:
        """Impair the datagrams ``pc`` (an ``RTCPeerConnection``) sends from now on."""
        connection = _dtls_of(pc).transport._connection  # RTCIceTransport's aioice Connection
        if self._model is None:
            self._model = LinkModel(self.config, asyncio.get_running_loop().time())
        for protocol in connection._protocols:
            if id(protocol) in self._protocols or getattr(protocol, "transport", None) is None:
                continue
            self._protocols.add(id(protocol))
            protocol.transport = _ImpairedTransport(protocol.transport, self)
        return self

    def _send(self, inner: Any, data: bytes, addr: Any) -> None:
        if self._closed or self._model is None:
            inner.sendto(data, addr)
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        is_data = bool(data) and data[0] == _DTLS_APPLICATION_DATA
        arrival = self._model.admit(now, len(data), is_data)
        if arrival is None:
            return
        if arrival <= now:
            inner.sendto(data, addr)
            return
        handle: asyncio.TimerHandle

        def deliver() -> None:
            self._timers.discard(handle)
            try:
                inner.sendto(data, addr)
            except Exception as exc:  # the socket closed while the datagram was on its way
                log.debug("impaired datagram not delivered: %s", exc)

        handle = loop.call_at(arrival, deliver)
        self._timers.add(handle)

    def close(self) -> None:
        """Drop whatever is still on its way; later datagrams pass unimpaired."""
        self._closed = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
