"""Configuration of the signaling server: where it listens, who may join, how much it accepts."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from vid2vid.errors import ConfigError
from vid2vid.signaling.limits import normalize_origin
from vid2vid.signaling.protocol import ROOM_PATTERN


@dataclass(frozen=True)
class SignalingConfig:
    """Limits keep one misbehaving client from eating the server's memory.

    token: shared secret for every room without its own entry in room_tokens (None: open).
    room_tokens: per-room secrets; they replace `token` for that room.
    max_message_bytes: largest message accepted, inclusive (an aiortc SDP with candidates is
        ~3-6 KB).
    allowed_origins: browser origins admitted besides the server's own ("*": any); see
        :func:`vid2vid.signaling.limits.origin_allowed`.
    max_connections_per_ip: WebSockets open at once from one address (the demo on one
        machine uses 3 + one per browser tab; tests open many from 127.0.0.1).
    messages_per_s, message_burst: sustained and burst rate of messages (joins included) per
        address; signaling needs a few per call, a browser trickling ICE a dozen at once.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    room_tokens: Mapping[str, str] = field(default_factory=dict)
    max_message_bytes: int = 64 * 1024
    max_peers_per_room: int = 8
    max_rooms: int = 100
    heartbeat_s: float = 20.0
    allowed_origins: tuple[str, ...] = ()
    max_connections_per_ip: int = 32
    messages_per_s: float = 20.0
    message_burst: int = 100

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")
        for name in (
            "max_message_bytes",
            "max_peers_per_room",
            "max_rooms",
            "max_connections_per_ip",
            "message_burst",
        ):
            value = getattr(self, name)
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if self.max_message_bytes < 1024:
            raise ConfigError(
                f"max_message_bytes must be at least 1024, got {self.max_message_bytes}"
            )
        if not self.messages_per_s > 0:
            raise ConfigError(f"messages_per_s must be positive, got {self.messages_per_s}")
        object.__setattr__(
            self, "allowed_origins", tuple(normalize_origin(o) for o in self.allowed_origins)
        )
        if self.heartbeat_s <= 0:
            raise ConfigError(f"heartbeat_s must be positive, got {self.heartbeat_s}")
        if self.token == "":
            raise ConfigError("token must not be empty")
        for room, token in self.room_tokens.items():
            if not ROOM_PATTERN.fullmatch(room):
                raise ConfigError(f"room_tokens has an invalid room name: {room!r}")
            if not token:
                raise ConfigError(f"room_tokens has an empty token for room {room!r}")
        object.__setattr__(self, "room_tokens", MappingProxyType(dict(self.room_tokens)))

    def token_for(self, room: str) -> str | None:
        """The secret a client must present to join `room`, or None when the room is open."""
        return self.room_tokens.get(room, self.token)

    def admits(self, room: str, token: str | None) -> bool:
        """Whether `token` opens `room` (constant-time comparison)."""
        expected = self.token_for(room)
        if expected is None:
            return True
        if token is None:
            return False
        return hmac.compare_digest(expected.encode(), token.encode())


def parse_room_token(text: str) -> tuple[str, str]:
    """Parse a `ROOM=TOKEN` command-line value."""
    room, sep, token = text.partition("=")
    if not sep or not room or not token:
        raise ConfigError(f"--room-token must be ROOM=TOKEN, got {text!r}")
    return room, token
