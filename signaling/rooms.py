"""Rooms and the peers in them, with the limits on both. No I/O: the server sends."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

from vid2vid.signaling.protocol import CLOSE_ROOM_FULL, CLOSE_TOO_MANY_ROOMS


class Outbox(Protocol):
    """Where messages for a peer go (an aiohttp WebSocketResponse on the server)."""

    async def send_str(self, data: str, compress: int | None = None) -> None: ...


@dataclass(eq=False)
class Peer:
    """One connected client. Identity is the object: ids are unique per registry anyway."""

    peer_id: str
    role: str
    room: str
    outbox: Outbox
    name: str | None = None

    def info(self) -> dict[str, Any]:
        info = {"peer_id": self.peer_id, "role": self.role}
        if self.name is not None:
            info["name"] = self.name
        return info


class AdmissionError(Exception):
    """A join refused by a limit; `code` is the WebSocket close code to use."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class RoomRegistry:
    """All rooms of one server. A room exists while it has a peer."""

    max_rooms: int
    max_peers_per_room: int
    rooms: dict[str, dict[str, Peer]] = field(default_factory=dict)

    def join(self, room: str, role: str, outbox: Outbox, name: str | None = None) -> Peer:
        """Add a peer, or raise AdmissionError when the room is full or there are too many rooms."""
        members = self.rooms.get(room)
        if members is None:
            if len(self.rooms) >= self.max_rooms:
                raise AdmissionError(
                    CLOSE_TOO_MANY_ROOMS, f"too many rooms: the limit is {self.max_rooms}"
                )
            members = self.rooms[room] = {}
        elif len(members) >= self.max_peers_per_room:
            raise AdmissionError(
                CLOSE_ROOM_FULL,
                f"room {room} is full: the limit is {self.max_peers_per_room} peers",
            )
        peer_id = secrets.token_hex(4)
        while peer_id in members:
            peer_id = secrets.token_hex(4)
        peer = Peer(peer_id=peer_id, role=role, room=room, outbox=outbox, name=name)
        members[peer_id] = peer
        return peer

    def leave(self, peer: Peer) -> list[Peer]:
        """Remove a peer; return the ones still in its room (the room goes when empty)."""
        members = self.rooms.get(peer.room, {})
        if members.get(peer.peer_id) is peer:
            del members[peer.peer_id]
        if not members:
            self.rooms.pop(peer.room, None)
        return list(members.values())

    def others(self, peer: Peer) -> list[Peer]:
        return [p for p in self.rooms.get(peer.room, {}).values() if p is not peer]

    def find(self, room: str, peer_id: str) -> Peer | None:
        return self.rooms.get(room, {}).get(peer_id)

    @property
    def peer_count(self) -> int:
        return sum(len(members) for members in self.rooms.values())
