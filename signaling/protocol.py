"""The signaling wire protocol: message shapes, roles and close codes (standard library only).

Shared by the server and the client so that both spell every field the same way. The protocol
itself is described in the README: JSON text frames with a "type"; the server relays "signal"
messages between the peers of one room and tells each peer who joins and leaves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

Role = Literal["sender", "receiver", "participant", "viewer"]
#: A participant both sends and receives (``vid2vid-call``): it offers its stream to every
#: peer that receives and answers every peer that sends.
ROLES: Final = ("sender", "receiver", "participant", "viewer")
#: Roles whose peers send a motion stream, and roles whose peers render the streams they get.
SENDING_ROLES: Final = frozenset({"sender", "participant"})
RECEIVING_ROLES: Final = frozenset({"receiver", "participant"})

# Close codes: 4000-4999 are free for applications (RFC 6455 §7.4.2); 1009 is the standard one.
CLOSE_MALFORMED: Final = 4000
CLOSE_BAD_TOKEN: Final = 4001
CLOSE_ROOM_FULL: Final = 4003
CLOSE_TOO_MANY_ROOMS: Final = 4004
CLOSE_ORIGIN: Final = 4005
CLOSE_TOO_MANY_CONNECTIONS: Final = 4008
CLOSE_TOO_MANY_MESSAGES: Final = 4029
CLOSE_TOO_BIG: Final = 1009
CLOSE_GOING_AWAY: Final = 1001

CLOSE_REASONS: Final = {
    CLOSE_MALFORMED: "malformed message",
    CLOSE_BAD_TOKEN: "bad or missing token",
    CLOSE_ROOM_FULL: "room full",
    CLOSE_TOO_MANY_ROOMS: "too many rooms",
    CLOSE_ORIGIN: "origin not allowed",
    CLOSE_TOO_MANY_CONNECTIONS: "too many connections from this address",
    CLOSE_TOO_MANY_MESSAGES: "too many messages from this address",
    CLOSE_TOO_BIG: "message too big",
    CLOSE_GOING_AWAY: "server shutting down",
}

# Room names go into URLs and logs: keep them short and plain.
ROOM_PATTERN: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# A participant's display name labels its tiles and files: short, plain, no path separators.
NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9_.\-]{1,32}")


@dataclass(frozen=True)
class PeerInfo:
    """Another peer in the room."""

    peer_id: str
    role: str
    name: str | None = None  # what it called itself (``--name``); None: not given


@dataclass(frozen=True)
class Welcome:
    """What the server tells us right after it accepted us: our id and who is already there."""

    peer_id: str
    peers: tuple[PeerInfo, ...]


@dataclass(frozen=True)
class SignalMessage:
    """One event from the room.

    type is "peer-joined", "peer-left" or "signal"; peer_id is the other peer (the sender of a
    "signal"); role is that peer's role (None for "peer-left"); name is the name it joined
    with (None when it gave none, and for "peer-left"); data is the relayed payload
    ({"sdp", "sdp_type"}, {"candidate", ...} or {"bye": true}), empty for joins and leaves.
    The server sets peer_id, role and name: a peer cannot claim another's.
    """

    type: str
    peer_id: str
    role: str | None
    data: dict[str, Any] = field(default_factory=dict)
    name: str | None = None


def close_reason(code: int | None) -> str:
    """A few words for a close code, for error messages."""
    if code is None:
        return "connection dropped"
    return CLOSE_REASONS.get(code, "closed")
