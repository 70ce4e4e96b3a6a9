"""An application heartbeat on the control channel: a peer that goes silent is dropped in seconds.

ICE notices a dead peer only when its consent checks fail (tens of seconds), and a peer whose
process hangs, or whose network drops without a "bye", keeps its connection state "connected"
all that while. So each end of a call sends ``{"type":"heartbeat"}`` on the reliable control
channel when it has sent nothing else for ``interval_s`` (a streaming sender's motion packets
are proof enough, so only the quiet direction pays: about 100 bytes a second on the wire), and
calls ``on_silent`` once when nothing at all (heartbeat, control or motion) arrived from the
other end for ``timeout_s``.

:class:`HeartbeatTransport` wraps a :class:`~vid2vid.call.transport.PacketTransport`, so the
session code above it is unchanged: heartbeats are sent and swallowed here, every other
message passes on. The clock starts when the transport opens (connecting is ICE's business)
and stops when it closes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vid2vid.call import control
from vid2vid.call.transport import Channel, Message, MessageHandler
from vid2vid.errors import ConfigError

log = logging.getLogger(__name__)

_HEARTBEAT = control.heartbeat_message()


@dataclass(frozen=True)
class HeartbeatConfig:
    """timeout_s: the longest silence tolerated before the peer is dropped (the issue's 5 s);
    interval_s: how often we say we are here; a third of the timeout at most, so two lost or
    late heartbeats in a row do not drop a live peer."""

    timeout_s: float = 5.0
    interval_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s must be positive, got {self.timeout_s}")
        if not 0 < self.interval_s <= self.timeout_s / 3:
            raise ConfigError(
                f"interval_s must be in (0, timeout_s / 3], got {self.interval_s} "
                f"for a timeout of {self.timeout_s}"
            )

    @classmethod
    def with_timeout(cls, timeout_s: float) -> HeartbeatConfig:
        """The timeout, with a heartbeat every second (more often for timeouts under 3 s)."""
        return cls(timeout_s=timeout_s, interval_s=min(1.0, timeout_s / 3))


class HeartbeatTransport:
    """See the module docstring. ``on_silent`` is called at most once, on the event loop."""

    def __init__(
        self,
        inner: Any,
        config: HeartbeatConfig,
        on_silent: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.config = config
        self._on_silent = on_silent
        self._clock = clock
        self._handler: MessageHandler | None = None
        self._last_seen = clock()
        self._last_sent = -1e18
        self._closed = False
        self.silent = False
        inner.set_handler(self._on_message)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="heartbeat")

    # -- PacketTransport -----------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.inner.is_open

    def send(self, channel: Channel, message: Message) -> bool:
        sent = self.inner.send(channel, message)
        if sent:
            self._last_sent = self._clock()
        return sent

    def set_handler(self, handler: MessageHandler) -> None:
        self._handler = handler

    def close(self) -> None:
        self._closed = True
        self._task.cancel()
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # opened, bytes_sent, attach: the inner's
        return getattr(self.inner, name)

    # -- the heartbeat -------------------------------------------------------------------------
    @property
    def silence_s(self) -> float:
        """Seconds since anything arrived from the peer."""
        return self._clock() - self._last_seen

    def _on_message(self, channel: Channel, message: Message) -> None:
        self._last_seen = self._clock()
        if channel == "control" and message == _HEARTBEAT:
            return
        if self._handler is not None:
            self._handler(channel, message)

    async def _run(self) -> None:
        opened = getattr(self.inner, "opened", None)
        if isinstance(opened, asyncio.Event):
            await opened.wait()
        self._last_seen = self._clock()
        while not self._closed:
            now = self._clock()
            if now - self._last_seen >= self.config.timeout_s:
                self._fire()
                return
            due = now - self._last_sent >= self.config.interval_s
            if due and not self.send("control", _HEARTBEAT):
                self._last_sent = now  # closing or congested: try again an interval on
            next_beat = self._last_sent + self.config.interval_s
            deadline = self._last_seen + self.config.timeout_s
            await asyncio.sleep(max(0.0, min(next_beat, deadline) - now))

    def _fire(self) -> None:
        self.silent = True
        log.warning(
            "the peer sent nothing for %.1f s (limit %.1f s): dropping it",
            self.silence_s,
            self.config.timeout_s,
        )
        try:
            self._on_silent()
        except Exception:  # the caller's bug must not end the heartbeat task silently
            log.exception("on_silent failed")


def add_heartbeat_argument(parser: argparse.ArgumentParser) -> None:
    """``--peer-timeout S`` for both call commands (one definition)."""
    parser.add_argument(
        "--peer-timeout",
        type=float,
        default=HeartbeatConfig().timeout_s,
        metavar="S",
        help="drop the other end of a call after this many seconds without a word from it "
        "(each end sends a heartbeat when it has been quiet for a second); the receiver then "
        "holds the last frame and says 'reconnecting' until a new keyframe (default: "
        "%(default)s)",
    )
