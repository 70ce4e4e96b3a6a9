"""One person in a room where everyone sends and receives: both ends behind one signaling peer.

A :class:`CallApp` joins the room once, as a ``participant``, and is made of the two ends that
already work alone: a :class:`~vid2vid.sender.app.SenderApp` (its camera or clip, offered to
every peer that receives) and a :class:`~vid2vid.receiver.app.ReceiverApp` (every peer that
sends, rendered in its :class:`~vid2vid.receiver.room.ReceiverRoom`). Between two participants
there are two peer connections, one per direction, each with its own heartbeat, so each
direction is exactly the call a ``vid2vid-send`` and a ``vid2vid-recv`` make: a send-only and
a receive-only peer interoperate with participants unchanged.

Every message from the room goes to both ends, which act only on what is theirs (an offer to
the receiving end, an answer, ``busy`` or ``offer-request`` to the sending end); a ``bye`` or a
bad signal drops the peer from both. Viewers (the browser page) are answered here, once: one
video track per remote participant and the room's stats with this participant's sending
figures under ``"sender"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vid2vid.call import control
from vid2vid.call.heartbeat import HeartbeatConfig
from vid2vid.call.media import LatestFrameTrack
from vid2vid.call.peers import SignalingOptions, Viewers
from vid2vid.call.rtc import IceConfig
from vid2vid.call.signaling_peer import SignalingPeer
from vid2vid.receiver.app import LOST_GRACE_S, ReceiverApp
from vid2vid.receiver.room import ReceiverRoom
from vid2vid.sender.app import SenderApp
from vid2vid.sender.session import SenderSession

__all__ = ["CallApp", "SignalingOptions"]


class CallApp(SignalingPeer):
    """See the module docstring; ends when this participant's own source ends (or on cancel)."""

    role = "participant"
    remote_role = "peer"

    def __init__(
        self,
        session: SenderSession,
        room: ReceiverRoom,
        signaling: SignalingOptions,
        ice: IceConfig,
        tracks: Sequence[LatestFrameTrack] | None = None,
        heartbeat: HeartbeatConfig | None = None,
        lost_grace_s: float = LOST_GRACE_S,
    ) -> None:
        viewers = Viewers(ice, self.snapshot, tracks, self._on_viewer_control)
        super().__init__(signaling, ice, viewers, heartbeat)
        self.sending = SenderApp(session, signaling, ice, heartbeat=heartbeat)
        self.receiving = ReceiverApp(
            room, signaling, ice, heartbeat=heartbeat, lost_grace_s=lost_grace_s
        )
        self.session = session
        self.room = room

    @property
    def ends(self) -> tuple[SignalingPeer, SignalingPeer]:
        return (self.sending, self.receiving)

    def _on_viewer_control(self, message: control.Control) -> None:
        if isinstance(message, control.View):
            self.room.set_view(message)

    def snapshot(self) -> dict[str, object]:
        """The room's stats, with this participant's own sending figures under "sender"."""
        return {**self.room.snapshot(), "sender": self.session.snapshot()}

    # -- SignalingPeer -------------------------------------------------------------------------
    def work(self) -> dict:
        return {"stream": self.session.run(), "render": self.room.run()}

    async def finished(self) -> None:
        await self.sending.finished()

    def _keep(self, client) -> None:
        super()._keep(client)
        for end in self.ends:
            end._keep(client)

    def call_pc(self, peer_id: str) -> Any | None:
        return None  # the ends own the call connections; only viewers are routed here

    def call_peers(self) -> list[str]:
        return list(dict.fromkeys(p for end in self.ends for p in end.call_peers()))

    async def drop_call(self, peer_id: str) -> None:
        for end in self.ends:
            await end.drop_call(peer_id)

    async def close_calls(self) -> None:
        for end in self.ends:
            await end.cancel_tasks()
            await end.close_calls()

    async def on_join(self, client, welcome) -> None:
        for end in self.ends:
            await end.on_join(client, welcome)

    async def dispatch(self, client, message) -> None:
        """A viewer's messages are this app's; everything else goes to both ends."""
        if message.role == "viewer":
            await super().dispatch(client, message)
            return
        if message.type == "peer-left":
            await self.viewers.drop(message.peer_id)
        for end in self.ends:
            await end.dispatch(client, message)

    async def drop(self, peer_id: str) -> None:
        for end in self.ends:
            await end.drop(peer_id)
        await self.viewers.drop(peer_id)
