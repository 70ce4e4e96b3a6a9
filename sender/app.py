"""The sender's side of the call: signaling, one peer connection per receiver, viewers.

The sender offers to every peer of the room that receives (``vid2vid-recv``, and every
``vid2vid-call`` participant: :data:`~vid2vid.signaling.protocol.RECEIVING_ROLES`), those there
when it joins and each that joins later, with the two data channels of the call. A viewer (the browser page) offers to
the sender; the answer carries the camera preview when ``--preview`` is on, and the viewer's
"control" channel gets the sender's stats once a second. When the signaling server goes away
the calls in progress go on and the sender rejoins (:func:`~vid2vid.call.peers.stay_in_room`).

Every offer carries this process's call key, a random secret that signaling relays only to the
receiver: after a signaling reconnect (a new peer id) the receiver knows its sender by it and
no other room member can claim its slot. A receiver whose room is full answers
``{"busy": true}``; the sender then waits until that receiver sends ``{"offer-request": true}``.
Each call runs a heartbeat (:mod:`vid2vid.call.heartbeat`): a receiver silent for the timeout
is dropped and, while it is still in the room, offered a new call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from vid2vid.call.heartbeat import HeartbeatConfig
from vid2vid.call.media import LatestFrameTrack
from vid2vid.call.peers import SignalingOptions, Viewers, close_peer
from vid2vid.call.rtc import (
    IceConfig,
    accept_answer,
    create_call_channels,
    is_sdp,
    make_offer,
    new_peer_connection,
)
from vid2vid.call.signaling_peer import SignalingPeer
from vid2vid.call.transport import DataChannelTransport
from vid2vid.errors import SignalingError
from vid2vid.sender.session import SenderSession
from vid2vid.signaling.protocol import RECEIVING_ROLES

log = logging.getLogger(__name__)

__all__ = ["SenderApp", "SignalingOptions"]


class SenderApp(SignalingPeer):
    """Runs the session and keeps it reachable through the signaling server."""

    role = "sender"
    remote_role = "receiver"

    def __init__(
        self,
        session: SenderSession,
        signaling: SignalingOptions,
        ice: IceConfig,
        preview: bool = False,
        heartbeat: HeartbeatConfig | None = None,
    ) -> None:
        track = LatestFrameTrack(session.pipeline.fps) if preview else None
        super().__init__(signaling, ice, Viewers(ice, session.snapshot, track), heartbeat)
        self.session = session
        self.call_key = secrets.token_urlsafe(16)
        self._receivers: set[str] = set()  # receivers in the room, by signaling
        if track is not None:
            session.on_frame(lambda frame: track.push(frame.image))
        self._pcs: dict[str, Any] = {}

    # -- SignalingPeer -------------------------------------------------------------------------
    def work(self) -> dict:
        return {"stream": self.session.run()}

    async def finished(self) -> None:
        await asyncio.sleep(0.5)  # let the "end" message and the last packets go out

    def call_pc(self, peer_id: str) -> Any | None:
        return self._pcs.get(peer_id)

    def call_peers(self) -> list[str]:
        return list(self._pcs)

    async def drop_call(self, peer_id: str) -> None:
        self.session.remove_peer(peer_id)
        await close_peer(self._pcs.pop(peer_id, None))

    async def on_join(self, client, welcome) -> None:
        self._receivers = {p.peer_id for p in welcome.peers if p.role in RECEIVING_ROLES}
        for peer_id in self._receivers:
            await self._offer(client, peer_id)

    async def on_room_message(self, client, message) -> None:
        if message.type == "peer-joined" and message.role in RECEIVING_ROLES:
            self._receivers.add(message.peer_id)
            await self._offer(client, message.peer_id)

    def on_peer_left(self, peer_id: str) -> None:
        self._receivers.discard(peer_id)

    async def on_signal(self, client, message) -> bool:
        peer_id, data = message.peer_id, message.data
        if data.get("busy") and peer_id in self._pcs:
            log.info("receiver %s has no free slot; waiting for one", peer_id)
            await self.drop(peer_id)
        elif data.get("offer-request") and message.role in RECEIVING_ROLES:
            log.info("receiver %s is free and asks for an offer", peer_id)
            await self._offer(client, peer_id)
        elif is_sdp(data, "answer") and peer_id in self._pcs:
            await accept_answer(self._pcs[peer_id], data)
        else:
            return False
        return True

    async def on_call_lost(self, peer_id: str, reason: str, silent: bool) -> None:
        """Drop the receiver, and offer again while it is in the room: it may have hung for a
        while, or its network came back, or it hung up on us because *we* hung (a SIGSTOPped
        sender sees either the receiver's silence or its hang-up first, a race; both mean "offer
        again"). A receiver that leaves says bye first, and a dropped call is not lost again."""
        await self.drop(peer_id)
        client = self.client
        if peer_id in self._receivers and client is not None:
            with contextlib.suppress(SignalingError):
                await self._offer(client, peer_id)

    # -- the calls -----------------------------------------------------------------------------
    async def _offer(self, client, peer_id: str) -> None:
        await self.drop(peer_id)
        pc = new_peer_connection(self.ice)
        channels = DataChannelTransport()
        for channel in create_call_channels(pc):
            channels.attach(channel)
        self._pcs[peer_id] = pc
        self.session.add_peer(peer_id, self.call_transport(peer_id, pc, channels))
        self.watch_call(peer_id, pc)
        await client.send(peer_id, {**await make_offer(pc), "call": self.call_key})
        log.info("offered the call to receiver %s", peer_id)
