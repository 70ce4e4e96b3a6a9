"""The sender's side of the call: signaling, one peer connection per receiver, viewers.

The sender offers to every receiver of the room (those there when it joins, and each that
joins later), with the two data channels of the call. A viewer (the browser page) offers to
the sender; the answer carries the camera preview when ``--preview`` is on, and the viewer's
"control" channel gets the sender's stats once a second. When the signaling server goes away
the calls in progress go on and the sender rejoins (:func:`~vid2vid.call.peers.stay_in_room`).

Every offer carries this process's call key, a random secret that signaling relays only to the
receiver: after a signaling reconnect (a new peer id) the receiver knows its sender by it and
no other room member can claim its call. A receiver in a call with another sender answers
``{"busy": true}``; the sender then waits until that receiver sends ``{"offer-request": true}``.
Each call runs a heartbeat (:mod:`vid2vid.call.heartbeat`): a receiver silent for the timeout
is dropped and, while it is still in the room, offered a new call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from vid2vid.call.heartbeat import HeartbeatConfig, HeartbeatTransport
from vid2vid.call.media import LatestFrameTrack
from vid2vid.call.peers import SignalingOptions, Viewers, close_peer, stay_in_room
from vid2vid.call.rtc import (
    IceConfig,
    accept_answer,
    add_remote_candidate,
    create_call_channels,
    is_sdp,
    make_offer,
    new_peer_connection,
)
from vid2vid.call.transport import DataChannelTransport
from vid2vid.errors import SignalingError
from vid2vid.sender.session import SenderSession

log = logging.getLogger(__name__)

__all__ = ["SenderApp", "SignalingOptions"]


class SenderApp:
    """Runs the session and keeps it reachable through the signaling server."""

    def __init__(
        self,
        session: SenderSession,
        signaling: SignalingOptions,
        ice: IceConfig,
        preview: bool = False,
        heartbeat: HeartbeatConfig | None = None,
    ) -> None:
        self.session = session
        self.signaling = signaling
        self.ice = ice
        self.heartbeat = heartbeat or HeartbeatConfig()
        self.call_key = secrets.token_urlsafe(16)
        self._receivers: set[str] = set()  # receivers in the room, by signaling
        track = LatestFrameTrack(session.pipeline.fps) if preview else None
        if track is not None:
            session.frame_listeners.append(lambda frame: track.push(frame.image))
        self.viewers = Viewers(ice, session.snapshot, track)
        self._pcs: dict[str, object] = {}
        self._client = None

    async def run(self) -> None:
        """Stream until the source ends; a fatal signaling refusal or a capture error raises."""
        signaling = asyncio.create_task(
            stay_in_room(
                self.signaling,
                "sender",
                self._on_join,
                self._on_message,
                self._keep,
                on_bad_peer=self._drop,
            ),
            name="signaling",
        )
        stats = asyncio.create_task(self.viewers.send_stats(), name="viewer-stats")
        stream = asyncio.create_task(self.session.run(), name="stream")
        try:
            done, _ = await asyncio.wait({signaling, stream}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            await asyncio.sleep(0.5)  # let the "end" message and the last packets go out
        finally:
            for task in (signaling, stats, stream):
                task.cancel()
            await asyncio.gather(signaling, stats, stream, return_exceptions=True)
            await self.close()

    def _keep(self, client) -> None:
        self._client = client

    async def close(self) -> None:
        """Say bye to every peer and close the connections."""
        if self._client is not None and not self._client.closed:
            for peer_id in [*self._pcs, *self.viewers]:
                with contextlib.suppress(SignalingError):
                    await self._client.send(peer_id, {"bye": True})
        for peer_id in list(self._pcs):
            await self._drop(peer_id)
        await self.viewers.close()
        if self._client is not None:
            await self._client.close()

    async def _on_join(self, client, welcome) -> None:
        self._receivers = {p.peer_id for p in welcome.peers if p.role == "receiver"}
        for peer_id in self._receivers:
            await self._offer(client, peer_id)

    async def _on_message(self, client, message) -> None:
        peer_id, data = message.peer_id, message.data
        if message.type == "peer-joined" and message.role == "receiver":
            self._receivers.add(peer_id)
            await self._offer(client, peer_id)
        elif message.type == "peer-left":
            self._receivers.discard(peer_id)
            pc = self._pcs.get(peer_id)
            if pc is not None and pc.connectionState == "connected":
                # Gone from signaling, not necessarily from the call (the server may have
                # restarted): the call goes on until the peer says bye or ICE fails.
                log.info("receiver %s left signaling; the call goes on while connected", peer_id)
            else:
                await self._drop(peer_id)
        elif message.type != "signal":
            return
        elif data.get("bye"):
            await self._drop(peer_id)
        elif data.get("busy") and peer_id in self._pcs:
            log.info("receiver %s is in a call with another sender; waiting for it", peer_id)
            await self._drop(peer_id)
        elif data.get("offer-request") and message.role == "receiver":
            log.info("receiver %s is free and asks for an offer", peer_id)
            await self._offer(client, peer_id)
        elif is_sdp(data, "answer") and peer_id in self._pcs:
            await accept_answer(self._pcs[peer_id], data)
        elif is_sdp(data, "offer") and message.role == "viewer":
            await client.send(peer_id, await self.viewers.answer(peer_id, data))
        elif "candidate" in data:
            pc = self._pcs.get(peer_id) or self.viewers.peer(peer_id)
            if pc is not None:
                await add_remote_candidate(pc, data)

    async def _offer(self, client, peer_id: str) -> None:
        await self._drop(peer_id)
        pc = new_peer_connection(self.ice)
        channels = DataChannelTransport()
        for channel in create_call_channels(pc):
            channels.attach(channel)
        transport = HeartbeatTransport(
            channels, self.heartbeat, lambda: self._on_silent(peer_id, pc)
        )
        self._pcs[peer_id] = pc
        self.session.add_peer(peer_id, transport)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("receiver %s: %s", peer_id, pc.connectionState)
            if pc.connectionState in ("failed", "closed") and self._pcs.get(peer_id) is pc:
                await self._drop(peer_id)

        await client.send(peer_id, {**await make_offer(pc), "call": self.call_key})
        log.info("offered the call to receiver %s", peer_id)

    def _on_silent(self, peer_id: str, pc) -> None:
        """A receiver said nothing for the timeout: drop it, and offer again while it is in
        the room (it may have hung for a while, or its network came back)."""
        if self._pcs.get(peer_id) is not pc:
            return

        async def drop_and_offer() -> None:
            await self._drop(peer_id)
            current = self._client
            if peer_id in self._receivers and current is not None and not current.closed:
                with contextlib.suppress(SignalingError):
                    await self._offer(current, peer_id)

        asyncio.get_running_loop().create_task(drop_and_offer(), name="drop-silent")

    async def _drop(self, peer_id: str) -> None:
        self.session.remove_peer(peer_id)
        await close_peer(self._pcs.pop(peer_id, None))
        await self.viewers.drop(peer_id)
