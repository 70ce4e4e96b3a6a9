"""The receiver's side of the call: signaling, the sender's peer connection, browser viewers.

The receiver is in a call with one sender at a time and answers only that sender's offers: its
renegotiation (same peer id), or its rejoin after a signaling reconnect (a new peer id, but the
call key of its first offer, which only the two ends know: signals are relayed point to point).
Any other sender-role peer that offers gets ``{"busy": true}`` and waits in a queue; when the
call ends (bye, ICE failure, or the heartbeat finds the sender silent) the queued senders get
``{"offer-request": true}`` and the first offer takes the call. So another member of the room
can neither take over a call in progress nor stall it.

Both data channels go to :class:`~vid2vid.receiver.core.ReceiverCore` through a
:class:`~vid2vid.call.heartbeat.HeartbeatTransport`: a sender that says nothing for the
heartbeat timeout is dropped, and the core holds the last frame and says "reconnecting" until
a new call brings a keyframe. A viewer (the browser page, ``--serve``) offers with a
receive-only video transceiver and a "control" channel: the answer carries the rebuilt video,
the channel brings free-view messages and takes the stats once a second. When the signaling
server goes away the call goes on and the receiver rejoins
(:func:`~vid2vid.call.peers.stay_in_room`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any

from vid2vid.call import control
from vid2vid.call.heartbeat import HeartbeatConfig, HeartbeatTransport
from vid2vid.call.media import LatestFrameTrack
from vid2vid.call.peers import SignalingOptions, Viewers, close_peer
from vid2vid.call.rtc import IceConfig, accept_offer, is_sdp, new_peer_connection
from vid2vid.call.signaling_peer import SignalingPeer
from vid2vid.call.transport import DataChannelTransport
from vid2vid.errors import SignalingError
from vid2vid.receiver.core import ReceiverCore

log = logging.getLogger(__name__)

__all__ = ["ReceiverApp", "SignalingOptions"]

#: Senders waiting for the call at most (more are refused without a place in the queue).
MAX_WAITING = 16
#: Longest call key kept (the sender makes 22 characters).
MAX_CALL_KEY = 64


@dataclass
class _SenderCall:
    """The call in progress: who, over what, and the key its offers carry."""

    peer_id: str
    pc: Any
    transport: HeartbeatTransport
    key: str | None


def _call_key(data: dict[str, Any]) -> str | None:
    key = data.get("call")
    return key[:MAX_CALL_KEY] if isinstance(key, str) and key else None


class ReceiverApp(SignalingPeer):
    """Runs the core and keeps it reachable; ``once`` ends after the sender's stream ends."""

    role = "receiver"
    remote_role = "sender"

    def __init__(
        self,
        core: ReceiverCore,
        signaling: SignalingOptions,
        ice: IceConfig,
        track: LatestFrameTrack | None = None,
        once: bool = False,
        heartbeat: HeartbeatConfig | None = None,
    ) -> None:
        viewers = Viewers(ice, core.snapshot, track, self._on_viewer_control)
        super().__init__(signaling, ice, viewers, heartbeat)
        self.core = core
        self.once = once
        self._sender: _SenderCall | None = None
        self._waiting: list[str] = []  # senders told "busy", oldest first

    def _on_viewer_control(self, message: control.Control) -> None:
        if isinstance(message, control.View):
            self.core.set_view(message)

    @property
    def sender_id(self) -> str | None:
        """The peer id of the sender in the call, if any."""
        return self._sender.peer_id if self._sender is not None else None

    @property
    def waiting(self) -> tuple[str, ...]:
        """Senders told "busy", in the order they will be asked to offer."""
        return tuple(self._waiting)

    # -- SignalingPeer -------------------------------------------------------------------------
    def work(self) -> dict:
        work = {"render": self.core.run()}
        if self.once:
            work["until-end"] = self._until_end()
        return work

    async def _until_end(self) -> None:
        await self.core.ended.wait()
        await asyncio.sleep(0.3)  # motion packets still in flight after the "end" message
        while self.core.busy:
            await asyncio.sleep(0.05)

    def call_pc(self, peer_id: str) -> Any | None:
        sender = self._sender
        return sender.pc if sender is not None and sender.peer_id == peer_id else None

    def call_peers(self) -> list[str]:
        return [] if self._sender is None else [self._sender.peer_id]

    async def drop_call(self, peer_id: str, invite: bool = True) -> None:
        """End the call with ``peer_id``; the waiting senders are asked to offer (``invite``)."""
        if self._sender is not None and self._sender.peer_id == peer_id:
            call, self._sender = self._sender, None
            call.transport.close()
            self.core.end_call()
            await close_peer(call.pc)
            if invite:
                await self._invite_waiting()

    async def close_calls(self) -> None:
        if self._sender is not None:
            await self.drop_call(self._sender.peer_id, invite=False)

    def on_peer_left(self, peer_id: str) -> None:
        if peer_id in self._waiting:
            self._waiting.remove(peer_id)

    def on_bye(self, peer_id: str) -> None:
        if peer_id in self._waiting:
            self._waiting.remove(peer_id)
        if peer_id == self.sender_id:
            self.core.sender_left()

    async def on_signal(self, client, message) -> bool:
        peer_id, data = message.peer_id, message.data
        if not (is_sdp(data, "offer") and message.role == "sender"):
            return False
        if self._may_take_the_call(peer_id, data):
            await client.send(peer_id, await self._answer_sender(peer_id, data))
        else:
            await self._refuse_busy(client, peer_id)
        return True

    async def on_call_lost(self, peer_id: str, reason: str, silent: bool) -> None:
        """Hold the last frame and say "reconnecting" until a new call brings a keyframe."""
        self.core.hold(reason)
        await self.drop(peer_id)

    # -- the call ------------------------------------------------------------------------------
    def _may_take_the_call(self, peer_id: str, data: dict[str, Any]) -> bool:
        """No call, the same sender renegotiating, or the same sender under a new peer id."""
        sender = self._sender
        if sender is None or sender.peer_id == peer_id:
            return True
        key = _call_key(data)
        return (
            key is not None
            and sender.key is not None
            and hmac.compare_digest(key.encode(), sender.key.encode())
        )

    async def _refuse_busy(self, client, peer_id: str) -> None:
        log.info("sender %s offered while in a call with %s: busy", peer_id, self.sender_id)
        if peer_id not in self._waiting and len(self._waiting) < MAX_WAITING:
            self._waiting.append(peer_id)
        await client.send(peer_id, {"busy": True})

    async def _answer_sender(self, peer_id: str, data: dict) -> dict:
        if self._sender is not None:
            self.core.hold(f"sender {peer_id} renegotiates the call")
            await self.drop_call(self._sender.peer_id, invite=False)
        if peer_id in self._waiting:
            self._waiting.remove(peer_id)
        pc = new_peer_connection(self.ice)
        channels = DataChannelTransport()
        transport = self.call_transport(peer_id, pc, channels)
        transport.set_handler(self.core.on_message)
        self.core.new_call(lambda message: transport.send("control", message))
        self._sender = _SenderCall(peer_id, pc, transport, _call_key(data))
        pc.on("datachannel", channels.attach)
        self.watch_call(peer_id, pc)
        return await accept_offer(pc, data)

    async def _invite_waiting(self) -> None:
        """The call is free: ask every waiting sender to offer again; the first one wins."""
        client, waiting = self.client, list(self._waiting)
        if client is None or not waiting:
            return
        log.info("the call is free: asking %d waiting sender(s) to offer", len(waiting))
        for peer_id in waiting:
            with contextlib.suppress(SignalingError):
                await client.send(peer_id, {"offer-request": True})
