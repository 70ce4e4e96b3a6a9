"""The receiver's side of the call: signaling, the sender's peer connection, browser viewers.

The receiver answers the sender's offer (a newer offer replaces the call in progress: the
sender restarted or rejoined) and feeds both data channels to its
:class:`~vid2vid.receiver.core.ReceiverCore`. A viewer (the browser page, ``--serve``) offers
with a receive-only video transceiver and a "control" channel: the answer carries the rebuilt
video, the channel brings free-view messages and takes the stats once a second. When the
signaling server goes away the call goes on and the receiver rejoins
(:func:`~vid2vid.call.peers.stay_in_room`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vid2vid.call import control
from vid2vid.call.media import LatestFrameTrack
from vid2vid.call.peers import SignalingOptions, Viewers, close_peer, stay_in_room
from vid2vid.call.rtc import (
    IceConfig,
    accept_offer,
    add_remote_candidate,
    is_sdp,
    new_peer_connection,
)
from vid2vid.call.transport import DataChannelTransport
from vid2vid.errors import SignalingError
from vid2vid.receiver.core import ReceiverCore

log = logging.getLogger(__name__)

__all__ = ["ReceiverApp", "SignalingOptions"]


class ReceiverApp:
    """Runs the core and keeps it reachable; ``once`` ends after the sender's stream ends."""

    def __init__(
        self,
        core: ReceiverCore,
        signaling: SignalingOptions,
        ice: IceConfig,
        track: LatestFrameTrack | None = None,
        once: bool = False,
    ) -> None:
        self.core = core
        self.signaling = signaling
        self.ice = ice
        self.once = once
        self.viewers = Viewers(ice, core.snapshot, track, self._on_viewer_control)
        self._sender: tuple[str, object, DataChannelTransport] | None = None
        self._client = None

    def _on_viewer_control(self, message: control.Control) -> None:
        if isinstance(message, control.View):
            self.core.set_view(message)

    async def run(self) -> None:
        tasks = {
            asyncio.create_task(self.core.run(), name="render"),
            asyncio.create_task(
                stay_in_room(
                    self.signaling,
                    "receiver",
                    self._on_join,
                    self._on_message,
                    self._keep,
                    on_bad_peer=self._drop,
                ),
                name="signaling",
            ),
            asyncio.create_task(self.viewers.send_stats(), name="viewer-stats"),
        }
        if self.once:
            tasks.add(asyncio.create_task(self._until_end(), name="until-end"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.close()

    def _keep(self, client) -> None:
        self._client = client

    async def _on_join(self, client, welcome) -> None:
        pass  # the sender offers to us

    async def _until_end(self) -> None:
        await self.core.ended.wait()
        await asyncio.sleep(0.3)  # motion packets still in flight after the "end" message
        while self.core.busy:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Say bye to the sender and close the connections."""
        if self._client is not None and not self._client.closed and self._sender is not None:
            with contextlib.suppress(SignalingError):
                await self._client.send(self._sender[0], {"bye": True})
        if self._sender is not None:
            await self._drop(self._sender[0])
        await self.viewers.close()
        if self._client is not None:
            await self._client.close()

    async def _on_message(self, client, message) -> None:
        peer_id, data = message.peer_id, message.data
        if message.type == "peer-left":
            sender = self._sender
            if (
                sender is not None
                and sender[0] == peer_id
                and sender[1].connectionState == "connected"
            ):
                # Gone from signaling, not necessarily from the call (the server may have
                # restarted): the call goes on until the sender says bye or ICE fails.
                log.info("sender %s left signaling; the call goes on while connected", peer_id)
            else:
                await self._drop(peer_id)
        elif message.type != "signal":
            return
        elif data.get("bye"):
            await self._drop(peer_id)
        elif is_sdp(data, "offer") and message.role == "sender":
            await client.send(peer_id, await self._answer_sender(peer_id, data))
        elif is_sdp(data, "offer") and message.role == "viewer":
            await client.send(peer_id, await self.viewers.answer(peer_id, data))
        elif "candidate" in data:
            pc = self.viewers.peer(peer_id)
            if pc is None and self._sender is not None and self._sender[0] == peer_id:
                pc = self._sender[1]
            if pc is not None:
                await add_remote_candidate(pc, data)

    async def _answer_sender(self, peer_id: str, data: dict) -> dict:
        if self._sender is not None:
            log.info(
                "a new offer from sender %s replaces the call with %s", peer_id, self._sender[0]
            )
            await self._drop(self._sender[0])
        pc = new_peer_connection(self.ice)
        transport = DataChannelTransport()
        transport.set_handler(self.core.on_message)
        self.core.reset_stream()
        self.core.send_control = lambda message: transport.send("control", message)
        self._sender = (peer_id, pc, transport)
        pc.on("datachannel", transport.attach)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("sender %s: %s", peer_id, pc.connectionState)
            current = self._sender is not None and self._sender[1] is pc
            if pc.connectionState in ("failed", "closed") and current:
                await self._drop(peer_id)

        return await accept_offer(pc, data)

    async def _drop(self, peer_id: str) -> None:
        await self.viewers.drop(peer_id)
        if self._sender is not None and self._sender[0] == peer_id:
            _, pc, transport = self._sender
            self._sender = None
            transport.close()
            self.core.send_control = lambda message: None
            await close_peer(pc)
