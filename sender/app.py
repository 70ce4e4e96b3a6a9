"""The sender's side of the call: signaling, one peer connection per receiver, viewers.

The sender offers to every receiver of the room (those there when it joins, and each that
joins later), with the two data channels of the call. A viewer (the browser page) offers to
the sender; the answer carries the camera preview when ``--preview`` is on, and the viewer's
"control" channel gets the sender's stats once a second. When the signaling server goes away
the calls in progress go on, and the sender rejoins with a growing back-off; a refused token or
a full room end the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiortc.contrib.media import MediaRelay

from vid2vid.call import control
from vid2vid.call.media import LatestFrameTrack
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

#: Close codes after which reconnecting cannot help (bad token, room full, too many rooms).
FATAL_CLOSE_CODES = frozenset({4001, 4003, 4004})
RECONNECT_MAX_S = 5.0


@dataclass(frozen=True)
class SignalingOptions:
    url: str
    room: str = "default"
    token: str | None = None


class SenderApp:
    """Runs the session and keeps it reachable through the signaling server."""

    def __init__(
        self,
        session: SenderSession,
        signaling: SignalingOptions,
        ice: IceConfig,
        preview: bool = False,
    ) -> None:
        self.session = session
        self.signaling = signaling
        self.ice = ice
        self.preview = LatestFrameTrack(session.pipeline.fps) if preview else None
        if self.preview is not None:
            session.frame_listeners.append(lambda frame: self.preview.push(frame.image))
        self._pcs: dict[str, object] = {}
        self._viewers: dict[str, object] = {}
        self._client = None
        self._relay = MediaRelay()

    async def run(self) -> None:
        signaling = asyncio.create_task(self._signaling_loop(), name="signaling")
        viewers = asyncio.create_task(self._viewer_stats(), name="viewer-stats")
        stream = asyncio.create_task(self.session.run(), name="stream")
        try:
            done, _ = await asyncio.wait({signaling, stream}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a fatal signaling error or a capture error ends the command
            await asyncio.sleep(0.5)  # let the "end" message and the last packets go out
        finally:
            for task in (signaling, viewers, stream):
                task.cancel()
            await asyncio.gather(signaling, viewers, stream, return_exceptions=True)
            await self.close()

    async def close(self) -> None:
        if self._client is not None and not self._client.closed:
            for peer_id in [*self._pcs, *self._viewers]:
                with contextlib.suppress(SignalingError):
                    await self._client.send(peer_id, {"bye": True})
        for pc in [*self._pcs.values(), *self._viewers.values()]:
            with contextlib.suppress(Exception):
                await pc.close()
        self._pcs.clear()
        self._viewers.clear()
        if self._client is not None:
            await self._client.close()

    async def _signaling_loop(self) -> None:
        from vid2vid.signaling.client import SignalingClient, SignalingClosedError

        delay = 0.5
        while True:
            client = SignalingClient(
                self.signaling.url, self.signaling.room, "sender", self.signaling.token
            )
            self._client = client
            try:
                welcome = await client.connect()
                delay = 0.5
                for peer in welcome.peers:
                    if peer.role == "receiver":
                        await self._offer(client, peer.peer_id)
                while True:
                    message = await client.receive()
                    await self._handle(client, message)
            except SignalingClosedError as exc:
                if exc.close_code in FATAL_CLOSE_CODES:
                    raise
                log.warning("%s; reconnecting in %.1f s", exc, delay)
            except SignalingError as exc:
                log.warning("signaling: %s; reconnecting in %.1f s", exc, delay)
            finally:
                await client.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _handle(self, client, message) -> None:
        peer_id, data = message.peer_id, message.data
        if message.type == "peer-joined" and message.role == "receiver":
            await self._offer(client, peer_id)
        elif message.type == "peer-left":
            pc = self._pcs.get(peer_id)
            if pc is not None and pc.connectionState == "connected":
                # Gone from signaling, not necessarily from the call (the server may have
                # restarted): the call goes on until the peer says bye or ICE fails.
                log.info("receiver %s left signaling; the call goes on while connected", peer_id)
            else:
                await self._drop(peer_id)
        elif message.type == "signal":
            try:
                await self._on_signal(client, peer_id, message.role, data)
            except (ValueError, KeyError, TypeError) as exc:  # a malformed SDP or candidate
                log.warning("bad signal from %s: %s", peer_id, exc)

    async def _on_signal(self, client, peer_id: str, role: str | None, data: dict) -> None:
        if data.get("bye"):
            await self._drop(peer_id)
        elif is_sdp(data, "answer") and peer_id in self._pcs:
            await accept_answer(self._pcs[peer_id], data)
        elif is_sdp(data, "offer") and role == "viewer":
            await client.send(peer_id, await self._answer_viewer(peer_id, data))
        elif "candidate" in data:
            pc = self._pcs.get(peer_id) or self._viewers.get(peer_id)
            if pc is not None:
                await add_remote_candidate(pc, data)

    async def _offer(self, client, peer_id: str) -> None:
        await self._drop(peer_id)
        pc = new_peer_connection(self.ice)
        transport = DataChannelTransport()
        for channel in create_call_channels(pc):
            transport.attach(channel)
        self._pcs[peer_id] = pc
        self.session.add_peer(peer_id, transport)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("receiver %s: %s", peer_id, pc.connectionState)
            if pc.connectionState in ("failed", "closed") and self._pcs.get(peer_id) is pc:
                await self._drop(peer_id)

        await client.send(peer_id, await make_offer(pc))
        log.info("offered the call to receiver %s", peer_id)

    async def _answer_viewer(self, peer_id: str, data: dict) -> dict:
        await self._drop(peer_id)
        pc = new_peer_connection(self.ice)
        self._viewers[peer_id] = pc
        pc.channels = []  # type: ignore[attr-defined]

        @pc.on("datachannel")
        def on_datachannel(channel) -> None:
            pc.channels.append(channel)  # type: ignore[attr-defined]

        from aiortc import RTCSessionDescription

        await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="offer"))
        if self.preview is not None:
            pc.addTrack(self._relay.subscribe(self.preview))  # one relay branch per viewer
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp, "sdp_type": pc.localDescription.type}

    async def _viewer_stats(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            message = control.stats_message(self.session.snapshot())
            for pc in list(self._viewers.values()):
                for channel in getattr(pc, "channels", []):
                    if channel.readyState == "open":
                        with contextlib.suppress(Exception):
                            channel.send(message)

    async def _drop(self, peer_id: str) -> None:
        self.session.remove_peer(peer_id)
        for table in (self._pcs, self._viewers):
            pc = table.pop(peer_id, None)
            if pc is not None and pc.connectionState != "closed":  # not twice: aiortc objects
                with contextlib.suppress(Exception):
                    await pc.close()
