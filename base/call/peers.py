"""What both ends do around their calls: stay in the signaling room, and serve browser viewers.

:func:`stay_in_room` joins the room and hands every message on; when the server goes away it
rejoins with a growing back-off (calls in progress do not need the server), and a refused token
or a full room end it. :class:`Viewers` answers the browser page's offers with an optional video
track, reads their control messages and sends them the stats once a second.

A receiver in a room serves one video track per participant (``--serve``): the viewer offers
one receive-only video transceiver per tile it wants, and the answer fills them in order with
the tracks :class:`Viewers` is given (tile 0 first); the stats say which participant each tile
shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vid2vid.call import control
from vid2vid.call.rtc import IceConfig, new_peer_connection
from vid2vid.errors import SignalingError

log = logging.getLogger(__name__)

#: Close codes after which rejoining cannot help: bad token, room full, too many rooms.
FATAL_CLOSE_CODES = frozenset({4001, 4003, 4004})
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 5.0


@dataclass(frozen=True)
class SignalingOptions:
    """Where to join and as whom: ``name`` (``--name``) labels this participant's tiles and
    files at the other ends; None lets them derive a label from the peer id."""

    url: str
    room: str = "default"
    token: str | None = None
    name: str | None = None


async def stay_in_room(
    options: SignalingOptions,
    role: str,
    on_join: Callable[[Any, Any], Awaitable[None]],
    on_message: Callable[[Any, Any], Awaitable[None]],
    on_client: Callable[[Any], None] = lambda client: None,
    on_bad_peer: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """Join as ``role``; ``on_join(client, welcome)``, then ``on_message(client, message)`` for
    each message.

    A message that ``on_message`` fails on is logged with the peer id and that peer is dropped
    (``on_bad_peer(peer_id)``); the app carries on. A peer controls what it sends, and aiortc
    fails on malformed input with whatever it happens to raise (AssertionError on a bad SDP or
    a short candidate, InvalidStateError on a duplicate answer), so every ``Exception`` is
    caught here; cancellation is not an ``Exception`` and still ends the loop."""
    from vid2vid.signaling.client import SignalingClient, SignalingClosedError

    delay = RECONNECT_FIRST_S
    while True:
        client = SignalingClient(options.url, options.room, role, options.token, options.name)
        on_client(client)
        try:
            welcome = await client.connect()
            delay = RECONNECT_FIRST_S
            await on_join(client, welcome)
            while True:
                message = await client.receive()
                try:
                    await on_message(client, message)
                except SignalingError:
                    raise  # the server connection itself: rejoin below
                except Exception as exc:
                    log.warning(
                        "bad signal from %s (%s: %s); dropping that peer",
                        message.peer_id,
                        type(exc).__name__,
                        exc,
                    )
                    if on_bad_peer is not None:
                        try:
                            await on_bad_peer(message.peer_id)
                        except Exception as drop_exc:
                            log.warning("dropping %s failed: %s", message.peer_id, drop_exc)
        except SignalingClosedError as exc:
            if exc.close_code in FATAL_CLOSE_CODES:
                raise
            log.warning("%s; rejoining in %.1f s", exc, delay)
        except SignalingError as exc:
            log.warning("signaling: %s; rejoining in %.1f s", exc, delay)
        finally:
            await client.close()
        await asyncio.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX_S)


async def close_peer(pc: Any) -> None:
    """Close a peer connection once (aiortc fails when two closes overlap); never raises."""
    if pc is not None and pc.connectionState != "closed":
        with contextlib.suppress(Exception):
            await pc.close()


@dataclass
class _Viewer:
    pc: Any
    channels: list[Any]


class Viewers:
    """The browser viewers of one end (see the module docstring). ``track`` is one video
    track, or a sequence of them (one per tile, filled in the viewer's transceiver order)."""

    def __init__(
        self,
        ice: IceConfig,
        snapshot: Callable[[], dict[str, Any]],
        track: Any | Sequence[Any] | None = None,
        on_control: Callable[[control.Control], None] = lambda message: None,
    ) -> None:
        self.ice = ice
        self.snapshot = snapshot
        if track is None:
            self.tracks: list[Any] = []
        elif isinstance(track, Sequence):
            self.tracks = list(track)
        else:
            self.tracks = [track]
        self.on_control = on_control
        self._viewers: dict[str, _Viewer] = {}
        self._relay = None
        if self.tracks:
            from aiortc.contrib.media import MediaRelay

            self._relay = MediaRelay()  # one branch per viewer: each pulls its own frames

    def peer(self, peer_id: str) -> Any | None:
        viewer = self._viewers.get(peer_id)
        return viewer.pc if viewer else None

    async def answer(self, peer_id: str, data: dict[str, Any]) -> dict[str, str]:
        """Answer a viewer's offer (recvonly video + a "control" channel)."""
        from aiortc import RTCSessionDescription

        await self.drop(peer_id)
        viewer = self._viewers[peer_id] = _Viewer(new_peer_connection(self.ice), [])

        @viewer.pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            viewer.channels.append(channel)

            @channel.on("message")
            def on_message(message: Any) -> None:
                if isinstance(message, str) and (parsed := control.parse_control(message)):
                    self.on_control(parsed)

        await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="offer"))
        if self._relay is not None:
            # One track per video transceiver offered, tile 0 first (at least one, so a viewer
            # that offered none still gets the first tile, as before rooms).
            wanted = sum(1 for t in viewer.pc.getTransceivers() if t.kind == "video")
            for track in self.tracks[: max(1, wanted)]:
                viewer.pc.addTrack(self._relay.subscribe(track))
        await viewer.pc.setLocalDescription(await viewer.pc.createAnswer())
        return {"sdp": viewer.pc.localDescription.sdp, "sdp_type": viewer.pc.localDescription.type}

    async def send_stats(self) -> None:
        """Once a second, the stats to every open viewer channel (runs until cancelled)."""
        while True:
            await asyncio.sleep(1.0)
            if not self._viewers:
                continue
            message = control.stats_message(self.snapshot())
            for viewer in list(self._viewers.values()):
                for channel in viewer.channels:
                    if channel.readyState == "open":
                        with contextlib.suppress(Exception):
                            channel.send(message)

    async def drop(self, peer_id: str) -> None:
        viewer = self._viewers.pop(peer_id, None)
        if viewer is not None:
            await close_peer(viewer.pc)

    def __iter__(self):
        return iter(list(self._viewers))

    async def close(self) -> None:
        for peer_id in list(self._viewers):
            await self.drop(peer_id)
