"""One end of a call in a signaling room: what the sender's and the receiver's apps share.

:class:`SignalingPeer` stays in the room (:func:`~vid2vid.call.peers.stay_in_room`), serves the
browser viewers (:class:`~vid2vid.call.peers.Viewers`) and dispatches every signaling message in
one place, so a signaling fix is made once:

- ``peer-left``: a call whose connection is still up goes on (the server may have restarted;
  the call ends with a bye, an ICE failure or the heartbeat finding the peer silent); any other
  connection with that peer is dropped;
- a ``bye`` drops the peer;
- a viewer's offer is answered by the viewers; a trickled candidate goes to that peer's
  connection, a call's or a viewer's;
- the rest (``peer-joined``, a call's offers and answers, ``busy``, ``offer-request``) is the
  subclass's: :meth:`on_signal` and :meth:`on_room_message`.

A ``vid2vid-call`` participant is one signaling peer made of a sending and a receiving end
(:class:`~vid2vid.receiver.call_app.CallApp`): it dispatches each message to both, whose
connections to the same remote peer are separate (one per direction).

Each call connection is watched the same way (:meth:`watch_call`, :meth:`call_transport`): a
failed or closed connection, or a heartbeat timeout, is :meth:`on_call_lost`. Subclasses own
their calls (:meth:`call_pc`, :meth:`call_peers`, :meth:`drop_call`, :meth:`close_calls`); the
tasks this class creates are owned and cancelled on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar

from vid2vid.call.heartbeat import HeartbeatConfig, HeartbeatTransport
from vid2vid.call.peers import SignalingOptions, Viewers, stay_in_room
from vid2vid.call.rtc import IceConfig, add_remote_candidate, is_sdp
from vid2vid.call.transport import PacketTransport
from vid2vid.errors import SignalingError

if TYPE_CHECKING:
    from vid2vid.signaling.client import SignalingClient
    from vid2vid.signaling.protocol import SignalMessage, Welcome

log = logging.getLogger(__name__)


class SignalingPeer:
    """The signaling side of one end; see the module docstring."""

    #: This end's role in the room, and the role of the peers it calls.
    role: ClassVar[str]
    remote_role: ClassVar[str]

    def __init__(
        self,
        signaling: SignalingOptions,
        ice: IceConfig,
        viewers: Viewers,
        heartbeat: HeartbeatConfig | None = None,
    ) -> None:
        self.signaling = signaling
        self.ice = ice
        self.viewers = viewers
        self.heartbeat = heartbeat or HeartbeatConfig()
        self._client: SignalingClient | None = None
        self._tasks: set[asyncio.Task] = set()
        self._said_bye = False

    # -- what a subclass says about its calls --------------------------------------------------
    def call_pc(self, peer_id: str) -> Any | None:
        """The call's peer connection with ``peer_id``, if there is a call with it."""
        raise NotImplementedError

    def call_peers(self) -> list[str]:
        """The peer ids of the calls in progress."""
        raise NotImplementedError

    async def drop_call(self, peer_id: str) -> None:
        """End the call with ``peer_id`` here, if any (no bye: the caller decides)."""
        raise NotImplementedError

    async def close_calls(self) -> None:
        """End every call (the app is closing)."""
        for peer_id in self.call_peers():
            await self.drop_call(peer_id)

    async def on_join(self, client: SignalingClient, welcome: Welcome) -> None:
        """Joined (or rejoined) the room; ``welcome`` lists who is there."""

    async def on_room_message(self, client: SignalingClient, message: SignalMessage) -> None:
        """A room event other than ``peer-left`` (``peer-joined``)."""

    def on_peer_left(self, peer_id: str) -> None:
        """Bookkeeping when a peer leaves the room, before its connections are looked at."""

    def on_bye(self, peer_id: str) -> None:
        """Bookkeeping when a peer says bye, before it is dropped."""

    async def on_signal(self, client: SignalingClient, message: SignalMessage) -> bool:
        """A signal that only this end understands; True when it was one."""
        return False

    async def on_call_lost(self, peer_id: str, reason: str, silent: bool) -> None:
        """The call with ``peer_id`` broke (``silent``: the heartbeat, else its connection)."""
        await self.drop(peer_id)

    def work(self) -> dict[str, Coroutine[Any, Any, None]]:
        """This end's own tasks by name; the app ends when the first of them (or signaling)
        ends."""
        return {}

    async def finished(self) -> None:
        """After the first task ended without an error, before the app closes."""

    # -- shared --------------------------------------------------------------------------------
    @property
    def client(self) -> SignalingClient | None:
        """The signaling connection while it is open."""
        client = self._client
        return client if client is not None and not client.closed else None

    async def run(self) -> None:
        """Stay in the room and run :meth:`work` until one of them ends; then close."""
        signaling = stay_in_room(
            self.signaling,
            self.role,
            self.on_join,
            self.dispatch,
            self._keep,
            on_bad_peer=self.drop,
        )
        work = {"signaling": signaling, "viewer-stats": self.viewers.send_stats(), **self.work()}
        tasks = {asyncio.create_task(coroutine, name=name) for name, coroutine in work.items()}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            await self.finished()
        finally:
            # Bye first, while the signaling connection is still open (cancelling its task
            # closes it).
            await self.say_bye()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.close()

    def _keep(self, client: SignalingClient) -> None:
        self._client = client

    async def dispatch(self, client: SignalingClient, message: SignalMessage) -> None:
        """Every message from the room: see the module docstring."""
        peer_id, data = message.peer_id, message.data
        if message.type == "peer-left":
            self.on_peer_left(peer_id)
            pc = self.call_pc(peer_id)
            if pc is not None and pc.connectionState == "connected":
                # Gone from signaling, not necessarily from the call (the server may have
                # restarted): the call goes on until the peer says bye, ICE fails or the
                # heartbeat finds it silent.
                log.info(
                    "%s %s left signaling; the call goes on while connected",
                    self.remote_role,
                    peer_id,
                )
            else:
                await self.drop(peer_id)
        elif message.type != "signal":
            await self.on_room_message(client, message)
        elif data.get("bye"):
            self.on_bye(peer_id)
            await self.drop(peer_id)
        elif await self.on_signal(client, message):
            pass
        elif is_sdp(data, "offer") and message.role == "viewer":
            await client.send(peer_id, await self.viewers.answer(peer_id, data))
        elif "candidate" in data:
            pc = self.call_pc(peer_id)
            if pc is None:
                pc = self.viewers.peer(peer_id)
            if pc is not None:
                await add_remote_candidate(pc, data)

    async def drop(self, peer_id: str) -> None:
        """Forget ``peer_id``: its call and its viewer connection, whichever it has."""
        await self.drop_call(peer_id)
        await self.viewers.drop(peer_id)

    def call_transport(
        self, peer_id: str, pc: Any, channels: PacketTransport
    ) -> HeartbeatTransport:
        """``channels`` under a heartbeat: a peer silent for the timeout is lost."""
        return HeartbeatTransport(channels, self.heartbeat, lambda: self._silent(peer_id, pc))

    def watch_call(self, peer_id: str, pc: Any) -> None:
        """Log the call connection's states; a failed or closed one is lost."""

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            log.info("%s %s: %s", self.remote_role, peer_id, state)
            if state in ("failed", "closed") and self.call_pc(peer_id) is pc:
                reason = f"the connection to {self.remote_role} {peer_id} {state}"
                await self.on_call_lost(peer_id, reason, silent=False)

    def _silent(self, peer_id: str, pc: Any) -> None:
        if self.call_pc(peer_id) is not pc:
            return  # an older call with that peer
        reason = f"{self.remote_role} {peer_id} went silent"
        self.spawn(self.on_call_lost(peer_id, reason, silent=True), "drop-silent")

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coroutine`` as a task this peer owns (cancelled on close)."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_tasks(self) -> None:
        """Cancel the tasks this peer spawned (but not the one calling)."""
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def say_bye(self) -> None:
        """Tell every call peer and viewer that this end is going (once)."""
        client = self.client
        if client is not None and not self._said_bye:
            self._said_bye = True
            for peer_id in dict.fromkeys([*self.call_peers(), *self.viewers]):
                with contextlib.suppress(SignalingError):
                    await client.send(peer_id, {"bye": True})

    async def close(self) -> None:
        """Say bye to every call peer and viewer, close the connections, leave the room."""
        await self.say_bye()
        await self.cancel_tasks()
        await self.close_calls()
        await self.viewers.close()
        if self._client is not None:
            await self._client.close()
