"""Who may open a WebSocket and how fast it may talk: the Origin allow-list and per-address limits.

No I/O, standard library only (the server imports no media parts). The server asks
:func:`origin_allowed` and :class:`AddressLimits` before it admits a client or acts on a
message, and closes the socket with the close code of the refusal.

Why an Origin check: a browser lets any page open a WebSocket to any server and sends the
user's network position along, so without it a page on another site could join rooms on a
server the user can reach (a LAN or a loopback demo). Browsers always send ``Origin`` on a
WebSocket handshake and scripts cannot forge it; programs (``vid2vid-send``, ``vid2vid-recv``)
send none, and they are not the threat, so a missing Origin is admitted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from vid2vid.errors import ConfigError
from vid2vid.signaling.protocol import CLOSE_TOO_MANY_CONNECTIONS, CLOSE_TOO_MANY_MESSAGES

#: Per-address state of addresses with no connection is swept once there are this many.
SWEEP_ABOVE = 1024


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, as browsers send it; ConfigError otherwise."""
    if origin == "*":
        return origin
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"an allowed origin must be http(s)://host[:port] or *, got {origin!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigError(f"an allowed origin has no path, query or user: got {origin!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(origin: str | None, host: str | None, allowed: Iterable[str]) -> bool:
    """Whether a handshake with this ``Origin`` header may join.

    None (not a browser) is admitted; so is the server's own origin, the page it serves: an
    origin whose host[:port] is the request's ``Host`` (http or https, since a TLS proxy may
    sit in front); and anything in ``allowed`` ("*" admits every origin). ``null`` (a sandboxed
    frame or a file:// page) is refused unless "*" is allowed.
    """
    if origin is None:
        return True
    allowed = set(allowed)
    if "*" in allowed:
        return True
    origin = origin.strip().rstrip("/").lower()
    if host and origin in (f"http://{host.lower()}", f"https://{host.lower()}"):
        return True
    return origin in allowed


class LimitError(Exception):
    """A client over a per-address limit; ``code`` is the WebSocket close code to use."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class TokenBucket:
    """``rate`` tokens a second up to ``burst``: a sustained rate with room for a short burst."""

    rate: float
    burst: float
    tokens: float = -1.0  # -1: start full
    stamp: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self, now: float, n: float = 1.0) -> bool:
        """Spend ``n`` tokens if there are that many (refilled up to ``now``)."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < n:
            return False
        self.tokens -= n
        return True

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.stamp) * self.rate >= self.burst


@dataclass
class _Address:
    connections: int
    bucket: TokenBucket


@dataclass
class AddressLimits:
    """Concurrent connections and messages per second of each client address.

    Joining costs one message, so reconnecting in a loop is bounded by the same rate. An
    address's state stays while it is connected and until its bucket has refilled (forgetting
    it earlier would hand a fresh burst to a client that reconnects), so memory follows the
    number of recently active addresses. Behind a reverse proxy every client has the proxy's
    address: raise the limits there or limit in the proxy.
    """

    max_connections: int
    messages_per_s: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _addresses: dict[str, _Address] = field(default_factory=dict)

    def connect(self, address: str) -> None:
        """Admit one more connection from ``address`` or raise LimitError (nothing counted)."""
        now = self.clock()
        if len(self._addresses) > SWEEP_ABOVE:
            self._sweep(now)
        state = self._addresses.get(address)
        if state is None:
            state = self._addresses[address] = _Address(
                0, TokenBucket(self.messages_per_s, self.burst, stamp=now)
            )
        if state.connections >= self.max_connections:
            raise LimitError(
                CLOSE_TOO_MANY_CONNECTIONS,
                f"too many connections from your address: the limit is {self.max_connections}",
            )
        if not state.bucket.take(now):
            raise LimitError(CLOSE_TOO_MANY_MESSAGES, self._rate_message())
        state.connections += 1

    def release(self, address: str) -> None:
        """One connection of ``address`` closed."""
        state = self._addresses.get(address)
        if state is not None and state.connections > 0:
            state.connections -= 1

    def message(self, address: str) -> None:
        """Count one message from ``address``; LimitError when it is over its rate."""
        state = self._addresses.get(address)
        if state is not None and not state.bucket.take(self.clock()):
            raise LimitError(CLOSE_TOO_MANY_MESSAGES, self._rate_message())

    def connections(self, address: str) -> int:
        state = self._addresses.get(address)
        return state.connections if state else 0

    def _rate_message(self) -> str:
        return (
            f"too many messages from your address: the limit is {self.messages_per_s:g} a second "
            f"(bursts of {self.burst})"
        )

    def _sweep(self, now: float) -> None:
        for address in [
            a for a, s in self._addresses.items() if s.connections == 0 and s.bucket.full(now)
        ]:
            del self._addresses[address]
