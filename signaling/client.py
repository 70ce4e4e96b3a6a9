"""Client of the signaling server, used by `vid2vid-send` and `vid2vid-recv`.

    client = SignalingClient("http://127.0.0.1:8765", room="demo", role="receiver")
    welcome = await client.connect()          # our peer id and who is already in the room
    await client.send(peer_id, {"sdp": ..., "sdp_type": "offer"})
    message = await client.receive()          # peer-joined / peer-left / signal
    await client.close()

Refusals and drops raise SignalingClosedError (a SignalingError) carrying the close code, so a
caller can tell a wrong token (4001, give up) from a server restart (None/1001, reconnect).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from vid2vid.errors import SignalingClosedError, SignalingError
from vid2vid.signaling.protocol import (
    NAME_PATTERN,
    ROLES,
    PeerInfo,
    SignalMessage,
    Welcome,
    close_reason,
)

__all__ = [
    "PeerInfo",
    "SignalMessage",
    "SignalingClient",
    "SignalingClosedError",
    "Welcome",
    "check_name",
    "websocket_url",
]

log = logging.getLogger(__name__)


def websocket_url(url: str) -> str:
    """The /ws endpoint of a server given by its base URL (http(s)://, ws(s):// or host:port)."""
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise SignalingError(f"signaling URL must be http(s):// or ws(s)://host:port, got {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path = f"{path}/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def check_name(name: str | None) -> None:
    """A display name the server accepts (None: none); raise SignalingError naming the rule."""
    if name is not None and not NAME_PATTERN.fullmatch(name):
        raise SignalingError(f"name must be 1-32 of A-Z a-z 0-9 _ . -, got {name!r}")


def _name(message: dict[str, Any]) -> str | None:
    """The name the server put on a peer, when it is one a server could have admitted."""
    name = message.get("name")
    return name if isinstance(name, str) and NAME_PATTERN.fullmatch(name) else None


class SignalingClient:
    """One membership in one room. Not reusable after close(); make a new one to reconnect."""

    def __init__(
        self, url: str, room: str, role: str, token: str | None = None, name: str | None = None
    ) -> None:
        if role not in ROLES:
            raise SignalingError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        check_name(name)
        self.name = name
        self.url = websocket_url(url)
        self.room = room
        self.role = role
        self._token = token
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.peer_id: str | None = None

    async def __aenter__(self) -> SignalingClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> Welcome:
        """Join the room; raise SignalingClosedError if the server refuses or is unreachable."""
        if self._ws is not None:
            raise SignalingError("SignalingClient.connect() was already called")
        params = {"room": self.room, "role": self.role}
        if self._token is not None:
            params["token"] = self._token
        if self.name is not None:
            params["name"] = self.name
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(self.url, params=params, heartbeat=20.0)
        except (aiohttp.ClientError, OSError) as exc:
            await self.close()
            raise SignalingClosedError(
                f"cannot reach signaling server {self.url}: {exc or type(exc).__name__}"
            ) from exc
        message = await self._next_json()
        if message.get("type") != "welcome" or not isinstance(message.get("peer_id"), str):
            await self.close()
            raise SignalingError(f"signaling server sent {message.get('type')!r}, not a welcome")
        self.peer_id = message["peer_id"]
        peers = tuple(
            PeerInfo(peer_id=str(p["peer_id"]), role=str(p["role"]), name=_name(p))
            for p in message.get("peers", [])
        )
        log.info("joined room %s as %s (%s)", self.room, self.peer_id, self.role)
        return Welcome(peer_id=self.peer_id, peers=peers)

    async def send(self, to: str, data: dict[str, Any]) -> None:
        """Relay `data` to peer `to` of our room."""
        ws = self._require_ws()
        try:
            await ws.send_str(json.dumps({"type": "signal", "to": to, "data": data}))
        except (ConnectionError, RuntimeError) as exc:
            raise SignalingClosedError(f"signaling connection lost: {exc}") from exc

    async def receive(self) -> SignalMessage:
        """The next peer-joined, peer-left or signal; server error notices are logged."""
        while True:
            message = await self._next_json()
            kind = message.get("type")
            if kind == "signal":
                return SignalMessage(
                    type="signal",
                    peer_id=str(message.get("from")),
                    role=message.get("role"),
                    data=message.get("data") or {},
                    name=_name(message),
                )
            if kind == "peer-joined":
                return SignalMessage(
                    type=kind,
                    peer_id=str(message.get("peer_id")),
                    role=message.get("role"),
                    name=_name(message),
                )
            if kind == "peer-left":
                return SignalMessage(type=kind, peer_id=str(message.get("peer_id")), role=None)
            if kind == "error":
                log.warning("signaling server: %s", message.get("message"))
            else:
                log.warning("ignoring signaling message of type %r", kind)

    async def close(self) -> None:
        """Leave the room (idempotent)."""
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def closed(self) -> bool:
        return self._ws is None or self._ws.closed

    def _require_ws(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is None:
            raise SignalingError("SignalingClient.connect() must be called first")
        if self._ws.closed:
            code = self._ws.close_code
            raise SignalingClosedError(
                f"signaling connection closed: {close_reason(code)} (close code {code})", code
            )
        return self._ws

    async def _next_json(self) -> dict[str, Any]:
        ws = self._require_ws()
        msg = await ws.receive()
        if msg.type is aiohttp.WSMsgType.TEXT:
            try:
                message = json.loads(msg.data)
            except ValueError as exc:
                raise SignalingError("signaling server sent invalid JSON") from exc
            if not isinstance(message, dict):
                raise SignalingError("signaling server sent a non-object message")
            return message
        code = ws.close_code
        if msg.type is aiohttp.WSMsgType.CLOSE:
            code = msg.data
        reason = (msg.extra if msg.type is aiohttp.WSMsgType.CLOSE else None) or close_reason(code)
        if not ws.closed:
            await ws.close()
        raise SignalingClosedError(
            f"signaling server closed the connection: {reason} (close code {code})", code
        )
