"""The receiver's side of a room: signaling, one peer connection per remote sender, viewers.

Every peer of the room that sends (``vid2vid-send``, or a ``vid2vid-call`` participant) offers
its stream; the receiver answers each one into a slot of its
:class:`~vid2vid.receiver.room.ReceiverRoom`: the participant's own core (stream, state,
timestamp window, statistics) and sink (``--out`` file, ``--serve`` tile). A slot belongs to
one participant: its renegotiation (same peer id) or its rejoin after a signaling reconnect (a
new peer id, but the call key of its first offer, which only the two ends know: signals are
relayed point to point) goes back into the same slot. Any other offer opens a new slot, so a
member of the room can add its own face but never take over or blind someone else's stream.
When the room holds ``max_participants`` streams, a further sender gets ``{"busy": true}`` and
waits in a queue; when a slot frees the queued senders get ``{"offer-request": true}`` and the
first offer takes it.

A participant that says bye, or leaves the room while its connection is down, frees its slot
(its sink is closed, its tile goes). One whose connection fails or who falls silent for the
heartbeat timeout keeps its slot for :data:`LOST_GRACE_S`: its tile holds the last frame and
says "reconnecting" until its next offer brings a keyframe. A viewer (the browser page,
``--serve``) offers with one receive-only video transceiver per tile and a "control" channel:
the answer carries one rebuilt video per participant, the channel brings free-view messages and
takes the stats once a second. When the signaling server goes away the calls go on and the
receiver rejoins (:func:`~vid2vid.call.peers.stay_in_room`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Sequence
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
from vid2vid.receiver.room import Participant, ReceiverRoom, participant_label
from vid2vid.signaling.protocol import SENDING_ROLES

log = logging.getLogger(__name__)

__all__ = ["ReceiverApp", "SignalingOptions"]

#: Senders waiting for a free slot at most (more are refused without a place in the queue).
MAX_WAITING = 16
#: Longest call key kept (the sender makes 22 characters).
MAX_CALL_KEY = 64
#: A participant whose call broke keeps its slot (and file, and tile) this long for its return.
LOST_GRACE_S = 30.0
#: A participant that left has its last buffered packets rendered for at most this long.
FREE_WAIT_S = 2.0


@dataclass
class _Slot:
    """One participant's call: its room slot, who it is now, over what, and its call key."""

    participant: Participant
    peer_id: str
    key: str | None
    pc: Any = None
    transport: HeartbeatTransport | None = None
    release: asyncio.TimerHandle | None = None  # the grace timer of a broken call
    leaving: bool = False  # gone for good; its last frames are being rendered


def _call_key(data: dict[str, Any]) -> str | None:
    key = data.get("call")
    return key[:MAX_CALL_KEY] if isinstance(key, str) and key else None


def _same_key(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


class ReceiverApp(SignalingPeer):
    """Runs the room and keeps it reachable; ``once`` ends after every stream has ended."""

    role = "receiver"
    remote_role = "sender"

    def __init__(
        self,
        room: ReceiverRoom,
        signaling: SignalingOptions,
        ice: IceConfig,
        tracks: LatestFrameTrack | Sequence[LatestFrameTrack] | None = None,
        once: bool = False,
        heartbeat: HeartbeatConfig | None = None,
        lost_grace_s: float = LOST_GRACE_S,
    ) -> None:
        viewers = Viewers(ice, room.snapshot, tracks, self._on_viewer_control)
        super().__init__(signaling, ice, viewers, heartbeat)
        self.room = room
        self.once = once
        self.lost_grace_s = lost_grace_s
        self._slots: dict[int, _Slot] = {}
        self._waiting: list[str] = []  # senders told "busy", oldest first
        self._present: set[str] = set()  # peers in the room, as signaling last said
        self._joined_any = False

    def _on_viewer_control(self, message: control.Control) -> None:
        if isinstance(message, control.View):
            self.room.set_view(message)

    @property
    def peers(self) -> tuple[str, ...]:
        """Peer ids of the senders whose call is up (a reconnecting slot has none)."""
        return tuple(s.peer_id for s in self._slots.values() if s.pc is not None)

    @property
    def waiting(self) -> tuple[str, ...]:
        """Senders told "busy", in the order they will be asked to offer."""
        return tuple(self._waiting)

    def participant_of(self, peer_id: str) -> Participant | None:
        """The slot of the participant now known by ``peer_id``."""
        slot = self._slot_of(peer_id)
        return slot.participant if slot is not None else None

    def _slot_of(self, peer_id: str) -> _Slot | None:
        return next((s for s in self._slots.values() if s.peer_id == peer_id), None)

    # -- SignalingPeer -------------------------------------------------------------------------
    def work(self) -> dict:
        work = {"render": self.room.run()}
        if self.once:
            work["until-end"] = self._until_end()
        return work

    async def _until_end(self) -> None:
        """Until a stream was received and every participant's stream has ended."""
        while not (self._joined_any and all(p.core.ended.is_set() for p in self.room.participants)):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # motion packets still in flight after the "end" message
        while any(p.core.busy for p in self.room.participants):
            await asyncio.sleep(0.05)

    def call_pc(self, peer_id: str) -> Any | None:
        slot = self._slot_of(peer_id)
        return slot.pc if slot is not None else None

    def call_peers(self) -> list[str]:
        return [s.peer_id for s in self._slots.values()]

    async def drop_call(self, peer_id: str, invite: bool = True) -> None:
        """``peer_id`` is gone: its slot is freed (sink closed); the waiting senders are asked
        to offer (``invite``)."""
        slot = self._slot_of(peer_id)
        if slot is None:
            return
        await self._hang_up(slot)
        slot.peer_id, slot.leaving = "", True  # gone: a later offer is a new participant
        if slot.participant.core.busy:
            # Its last packets are still in the jitter buffer or being rendered: they are its
            # stream's last frames (a file ends with them), so the slot goes once they are out.
            self.spawn(self._free_when_idle(slot, invite), "free-slot")
            return
        self._free(slot)
        if invite:
            await self._invite_waiting()

    async def _free_when_idle(self, slot: _Slot, invite: bool) -> None:
        for _ in range(round(FREE_WAIT_S / 0.05)):
            if not slot.participant.core.busy:
                break
            await asyncio.sleep(0.05)
        self._free(slot)
        if invite:
            await self._invite_waiting()

    async def close_calls(self) -> None:
        for slot in list(self._slots.values()):
            await self._hang_up(slot)
            self._free(slot)

    async def on_join(self, client, welcome) -> None:
        self._present = {p.peer_id for p in welcome.peers}

    async def on_room_message(self, client, message) -> None:
        if message.type == "peer-joined":
            self._present.add(message.peer_id)

    def on_peer_left(self, peer_id: str) -> None:
        self._present.discard(peer_id)
        if peer_id in self._waiting:
            self._waiting.remove(peer_id)

    def on_bye(self, peer_id: str) -> None:
        if peer_id in self._waiting:
            self._waiting.remove(peer_id)
        slot = self._slot_of(peer_id)
        if slot is not None:
            slot.participant.core.sender_left()

    async def on_signal(self, client, message) -> bool:
        peer_id, data = message.peer_id, message.data
        if not (is_sdp(data, "offer") and message.role in SENDING_ROLES):
            return False
        slot = self._slot_for(peer_id, data, message.name)
        if slot is None:
            await self._refuse_busy(client, peer_id)
        else:
            await client.send(peer_id, await self._answer(slot, peer_id, data))
        return True

    async def on_call_lost(self, peer_id: str, reason: str, silent: bool) -> None:
        """Hold the participant's last frame and say "reconnecting" until its next offer
        brings a keyframe; its slot is freed if it does not come back within the grace, and at
        once if it has left the room too (its process is gone)."""
        slot = self._slot_of(peer_id)
        if slot is None:
            return
        if peer_id not in self._present and self.client is not None:
            log.info("%s: it has left the room too; freeing its slot", reason)
            await self.drop_call(peer_id)
            return
        slot.participant.core.hold(reason)
        await self._hang_up(slot)
        await self.viewers.drop(peer_id)
        loop = asyncio.get_running_loop()
        slot.release = loop.call_later(self.lost_grace_s, self._release_lost, slot)

    # -- the slots -----------------------------------------------------------------------------
    def _slot_for(self, peer_id: str, data: dict[str, Any], name: str | None) -> _Slot | None:
        """The slot an offer goes to: the peer's own, the one its call key opened, or a new
        one while the room has room; None: busy."""
        slot = self._slot_of(peer_id)
        key = _call_key(data)
        if slot is None:
            slot = next(
                (s for s in self._slots.values() if not s.leaving and _same_key(key, s.key)),
                None,
            )
            if slot is not None:
                log.info("participant %s is back as %s", slot.participant.info.label, peer_id)
        if slot is None:
            if self.room.full:
                return None
            participant = self.room.join(participant_label(name, peer_id))
            slot = _Slot(participant, peer_id, key)
            self._slots[participant.info.slot] = slot
            self._joined_any = True
        return slot

    async def _answer(self, slot: _Slot, peer_id: str, data: dict) -> dict:
        if slot.pc is not None:
            slot.participant.core.hold(f"sender {peer_id} renegotiates the call")
            await self._hang_up(slot)
        if slot.release is not None:
            slot.release.cancel()
            slot.release = None
        if peer_id in self._waiting:
            self._waiting.remove(peer_id)
        slot.peer_id = peer_id
        slot.key = slot.key or _call_key(data)
        pc = new_peer_connection(self.ice)
        channels = DataChannelTransport()
        transport = self.call_transport(peer_id, pc, channels)
        core = slot.participant.core
        transport.set_handler(core.on_message)
        core.new_call(lambda message: transport.send("control", message))
        slot.pc, slot.transport = pc, transport
        pc.on("datachannel", channels.attach)
        self.watch_call(peer_id, pc)
        return await accept_offer(pc, data)

    async def _hang_up(self, slot: _Slot) -> None:
        """Close the slot's connection (the slot stays)."""
        pc, transport = slot.pc, slot.transport
        slot.pc = slot.transport = None
        if transport is not None:
            transport.close()
        slot.participant.core.end_call()
        await close_peer(pc)

    def _free(self, slot: _Slot) -> None:
        if slot.release is not None:
            slot.release.cancel()
        if self._slots.pop(slot.participant.info.slot, None) is not None:
            self.room.leave(slot.participant.info.slot)

    def _release_lost(self, slot: _Slot) -> None:
        if slot.pc is None and self._slots.get(slot.participant.info.slot) is slot:
            log.info("participant %s did not come back", slot.participant.info.label)
            self._free(slot)
            self.spawn(self._invite_waiting(), "invite")

    async def _refuse_busy(self, client, peer_id: str) -> None:
        log.info("sender %s offered while the room is full: busy", peer_id)
        if peer_id not in self._waiting and len(self._waiting) < MAX_WAITING:
            self._waiting.append(peer_id)
        await client.send(peer_id, {"busy": True})

    async def _invite_waiting(self) -> None:
        """A slot is free: ask every waiting sender to offer again; the first one wins."""
        client, waiting = self.client, list(self._waiting)
        if client is None or not waiting or self.room.full:
            return
        log.info("a slot is free: asking %d waiting sender(s) to offer", len(waiting))
        for peer_id in waiting:
            with contextlib.suppress(SignalingError):
                await client.send(peer_id, {"offer-request": True})
