"""The receiver's side of the call: signaling, the sender's peer connection, browser viewers.

The receiver answers the sender's offer (a newer offer replaces the call in progress: the
sender restarted or reconnected) and feeds both data channels to its
:class:`~vid2vid.receiver.core.ReceiverCore`. A viewer (the browser page, ``--serve``) offers
with a receive-only video transceiver and a "control" channel: the answer carries the rebuilt
video, the channel brings free-view messages and takes the stats once a second. When the
signaling server goes away the call goes on and the receiver rejoins with a growing back-off.
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
    accept_offer,
    add_remote_candidate,
    is_sdp,
    new_peer_connection,
)
from vid2vid.call.transport import DataChannelTransport
from vid2vid.errors import SignalingError
from vid2vid.receiver.core import ReceiverCore

log = logging.getLogger(__name__)

FATAL_CLOSE_CODES = frozenset({4001, 4003, 4004})
RECONNECT_MAX_S = 5.0


@dataclass(frozen=True)
class SignalingOptions:
    url: str
    room: str = "default"
    token: str | None = None


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
        self.track = track
        self.once = once
        self._sender: tuple[str, object, DataChannelTransport] | None = None
        self._viewers: dict[str, object] = {}
        self._client = None
        self._relay = MediaRelay()

    async def run(self) -> None:
        tasks = {
            asyncio.create_task(self.core.run(), name="render"),
            asyncio.create_task(self._signaling_loop(), name="signaling"),
            asyncio.create_task(self._viewer_stats(), name="viewer-stats"),
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

    async def _until_end(self) -> None:
        await self.core.ended.wait()
        await asyncio.sleep(0.3)  # motion packets still in flight after the "end" message
        while self.core.busy:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._client is not None and not self._client.closed and self._sender is not None:
            with contextlib.suppress(SignalingError):
                await self._client.send(self._sender[0], {"bye": True})
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await self._sender[1].close()
            self._sender = None
        for pc in self._viewers.values():
            with contextlib.suppress(Exception):
                await pc.close()
        self._viewers.clear()
        if self._client is not None:
            await self._client.close()

    async def _signaling_loop(self) -> None:
        from vid2vid.signaling.client import SignalingClient, SignalingClosedError

        delay = 0.5
        while True:
            client = SignalingClient(
                self.signaling.url, self.signaling.room, "receiver", self.signaling.token
            )
            self._client = client
            try:
                await client.connect()
                delay = 0.5
                while True:
                    message = await client.receive()
                    try:
                        await self._handle(client, message)
                    except (ValueError, KeyError, TypeError) as exc:
                        log.warning("bad signal from %s: %s", message.peer_id, exc)
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
        if message.type == "signal" and data.get("bye"):
            await self._drop(peer_id)
        elif message.type == "peer-left":
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
        elif is_sdp(data, "offer") and message.role == "sender":
            await client.send(peer_id, await self._answer_sender(peer_id, data))
        elif is_sdp(data, "offer") and message.role == "viewer":
            await client.send(peer_id, await self._answer_viewer(peer_id, data))
        elif "candidate" in data:
            pc = self._viewers.get(peer_id)
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
            if pc.connectionState in ("failed", "closed"):
                await self._drop(peer_id)

        return await accept_offer(pc, data)

    async def _answer_viewer(self, peer_id: str, data: dict) -> dict:
        await self._drop(peer_id)
        from aiortc import RTCSessionDescription

        pc = new_peer_connection(self.ice)
        self._viewers[peer_id] = pc
        pc.channels = []  # type: ignore[attr-defined]

        @pc.on("datachannel")
        def on_datachannel(channel) -> None:
            pc.channels.append(channel)  # type: ignore[attr-defined]

            @channel.on("message")
            def on_message(message) -> None:
                if isinstance(message, str):
                    parsed = control.parse_control(message)
                    if isinstance(parsed, control.View):
                        self.core.set_view(parsed)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="offer"))
        if self.track is not None:
            pc.addTrack(self._relay.subscribe(self.track))  # one relay branch per viewer
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp, "sdp_type": pc.localDescription.type}

    async def _viewer_stats(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            message = control.stats_message(self.core.snapshot())
            for pc in list(self._viewers.values()):
                for channel in getattr(pc, "channels", []):
                    if channel.readyState == "open":
                        with contextlib.suppress(Exception):
                            channel.send(message)

    async def _drop(self, peer_id: str) -> None:
        pc = self._viewers.pop(peer_id, None)
        if pc is None and self._sender is not None and self._sender[0] == peer_id:
            _, pc, transport = self._sender
            transport.close()
            self._sender = None
            self.core.send_control = lambda message: None
        if pc is not None and pc.connectionState != "closed":  # not twice: aiortc objects
            with contextlib.suppress(Exception):
                await pc.close()
