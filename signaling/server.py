"""The signaling server: rooms over WebSocket, relay of offers/answers/candidates, the demo page.

One aiohttp application. A client connects to `/ws?room=R&role=ROLE[&name=N][&token=T]`; refusals are
WebSocket close codes (a browser cannot read an HTTP status of a failed upgrade, but it does see
the close code). Before anything else a client passes the Origin allow-list and its address's
connection and message-rate limits (:mod:`vid2vid.signaling.limits`). Media never passes
through here: it imports no torch, aiortc, av or cv2.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from vid2vid.signaling.config import SignalingConfig
from vid2vid.signaling.limits import AddressLimits, LimitError, origin_allowed
from vid2vid.signaling.protocol import (
    CLOSE_BAD_TOKEN,
    CLOSE_GOING_AWAY,
    CLOSE_MALFORMED,
    CLOSE_ORIGIN,
    NAME_PATTERN,
    ROLES,
    ROOM_PATTERN,
)
from vid2vid.signaling.rooms import AdmissionError, Peer, RoomRegistry

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

# The page loads only its own files; WebRTC itself is not governed by CSP.
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; "
        "media-src 'self' blob: mediastream:; img-src 'self' data: blob:"
    ),
    "X-Content-Type-Options": "nosniff",
}


@dataclass
class ServerState:
    """Everything one server instance holds; stored on the app, never at module level."""

    config: SignalingConfig
    registry: RoomRegistry
    limits: AddressLimits
    sockets: set[web.WebSocketResponse] = field(default_factory=set)


STATE = web.AppKey("vid2vid_signaling_state", ServerState)


def create_app(config: SignalingConfig | None = None) -> web.Application:
    """Build the aiohttp application (routes, state, shutdown that closes every socket)."""
    config = config or SignalingConfig()
    app = web.Application()
    app[STATE] = ServerState(
        config=config,
        registry=RoomRegistry(
            max_rooms=config.max_rooms, max_peers_per_room=config.max_peers_per_room
        ),
        limits=AddressLimits(
            max_connections=config.max_connections_per_ip,
            messages_per_s=config.messages_per_s,
            burst=config.message_burst,
        ),
    )
    app.router.add_get("/ws", _websocket)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/", _index)
    app.router.add_get("/room/{room}", _index)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    app.on_shutdown.append(_close_all)
    return app


async def _healthz(request: web.Request) -> web.Response:
    registry = request.app[STATE].registry
    return web.json_response(
        {"status": "ok", "rooms": len(registry.rooms), "peers": registry.peer_count}
    )


async def _index(request: web.Request) -> web.StreamResponse:
    room = request.match_info.get("room")
    if room is not None and not ROOM_PATTERN.fullmatch(room):
        raise web.HTTPBadRequest(text=f"invalid room name: {room!r}\n")
    return web.FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)


async def _close_all(app: web.Application) -> None:
    for ws in list(app[STATE].sockets):
        await ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down")


async def _refuse(ws: web.WebSocketResponse, code: int, message: str) -> web.WebSocketResponse:
    log.info("refused a client: %s (close code %d)", message, code)
    # A close reason may hold at most 123 bytes.
    await ws.close(code=code, message=message.encode()[:123])
    return ws


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    state = request.app[STATE]
    config = state.config
    # aiohttp refuses a message of max_msg_size bytes or more; the limit here is inclusive.
    ws = web.WebSocketResponse(
        max_msg_size=config.max_message_bytes + 1, heartbeat=config.heartbeat_s
    )
    await ws.prepare(request)

    origin = request.headers.get("Origin")
    if not origin_allowed(origin, request.host, config.allowed_origins):
        return await _refuse(ws, CLOSE_ORIGIN, f"origin {origin[:60]!r} is not allowed")
    address = request.remote or "unknown"
    try:
        state.limits.connect(address)
    except LimitError as exc:
        return await _refuse(ws, exc.code, str(exc))
    try:
        return await _admit(state, request, ws, address)
    finally:
        state.limits.release(address)


async def _admit(
    state: ServerState, request: web.Request, ws: web.WebSocketResponse, address: str
) -> web.WebSocketResponse:
    """Check the room, role and token, then serve the peer until it goes."""
    room = request.query.get("room", "")
    role = request.query.get("role", "")
    if not ROOM_PATTERN.fullmatch(room):
        return await _refuse(ws, CLOSE_MALFORMED, "room must be 1-64 of A-Z a-z 0-9 _ . -")
    if role not in ROLES:
        return await _refuse(ws, CLOSE_MALFORMED, f"role must be one of {', '.join(ROLES)}")
    name = request.query.get("name")
    if name is not None and not NAME_PATTERN.fullmatch(name):
        return await _refuse(ws, CLOSE_MALFORMED, "name must be 1-32 of A-Z a-z 0-9 _ . -")
    if not state.config.admits(room, request.query.get("token")):
        return await _refuse(ws, CLOSE_BAD_TOKEN, f"bad or missing token for room {room}")
    try:
        peer = state.registry.join(room, role, ws, name)
    except AdmissionError as exc:
        return await _refuse(ws, exc.code, str(exc))

    state.sockets.add(ws)
    log.info("peer %s (%s) joined room %s", peer.peer_id, role, room)
    try:
        others = state.registry.others(peer)
        await ws.send_json(
            {
                "type": "welcome",
                "peer_id": peer.peer_id,
                "peers": [p.info() for p in others],
            }
        )
        await _broadcast(others, {"type": "peer-joined", **peer.info()})
        await _serve_peer(state, peer, ws, address)
    finally:
        state.sockets.discard(ws)
        remaining = state.registry.leave(peer)
        log.info("peer %s left room %s", peer.peer_id, room)
        await _broadcast(remaining, {"type": "peer-left", "peer_id": peer.peer_id})
    return ws


async def _serve_peer(
    state: ServerState, peer: Peer, ws: web.WebSocketResponse, address: str
) -> None:
    """Relay this peer's messages until it goes; a malformed one closes it with 4000, one over
    its address's rate with 4029."""
    while not ws.closed:
        msg = await ws.receive()
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return
        if msg.type is WSMsgType.ERROR:
            # aiohttp has already closed it (1009 for a message over max_msg_size).
            log.info("peer %s: %s", peer.peer_id, ws.exception() or msg.data)
            return
        try:
            state.limits.message(address)
        except LimitError as exc:
            await _refuse(ws, exc.code, str(exc))
            return
        if msg.type is not WSMsgType.TEXT:
            await _refuse(ws, CLOSE_MALFORMED, "only JSON text frames are accepted")
            return
        problem = await _handle_text(state, peer, msg.data)
        if problem is not None:
            await _refuse(ws, CLOSE_MALFORMED, problem)
            return


async def _handle_text(state: ServerState, peer: Peer, text: str) -> str | None:
    """Act on one message; return what is wrong with it, or None."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        return "message is not valid JSON"
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "message must be a JSON object with a string 'type'"
    if message["type"] != "signal":
        return f"unknown message type: {message['type'][:40]!r}"
    to, data = message.get("to"), message.get("data")
    if not isinstance(to, str) or not isinstance(data, dict):
        return "signal needs a string 'to' and an object 'data'"
    target = state.registry.find(peer.room, to)
    if target is None or target is peer:
        await _send(peer, {"type": "error", "message": f"no peer {to[:40]!r} in room {peer.room}"})
        return None
    relayed = {"type": "signal", "from": peer.peer_id, "role": peer.role, "data": data}
    if peer.name is not None:
        relayed["name"] = peer.name
    await _send(target, relayed)
    return None


async def _send(peer: Peer, message: dict[str, Any]) -> None:
    try:
        await peer.outbox.send_str(json.dumps(message))
    except (ConnectionError, RuntimeError) as exc:
        # The peer is going away; its own handler will announce it.
        log.debug("could not send to peer %s: %s", peer.peer_id, exc)


async def _broadcast(peers: list[Peer], message: dict[str, Any]) -> None:
    for peer in peers:
        await _send(peer, message)
