"""The one signaling dispatch both apps share (SignalingPeer), with stand-in peers and viewers."""

from __future__ import annotations

import asyncio

from vid2vid.call.peers import SignalingOptions
from vid2vid.call.rtc import IceConfig
from vid2vid.call.signaling_peer import SignalingPeer
from vid2vid.signaling.protocol import SignalMessage

CANDIDATE = {"candidate": "candidate:1 1 UDP 2122252543 127.0.0.1 50000 typ host", "sdpMid": "0"}


class FakePC:
    def __init__(self, state: str = "connected") -> None:
        self.connectionState = state
        self.candidates: list = []
        self.handlers: dict = {}

    def on(self, event: str):
        def register(handler):
            self.handlers[event] = handler
            return handler

        return register

    async def addIceCandidate(self, candidate) -> None:
        self.candidates.append(candidate)


class FakeViewers:
    def __init__(self) -> None:
        self.pcs: dict[str, FakePC] = {}
        self.answered: list[str] = []

    def peer(self, peer_id):
        return self.pcs.get(peer_id)

    async def answer(self, peer_id, data):
        self.answered.append(peer_id)
        return {"sdp": "v=0", "sdp_type": "answer"}

    async def drop(self, peer_id):
        self.pcs.pop(peer_id, None)

    async def close(self):
        self.pcs.clear()

    def __iter__(self):
        return iter(list(self.pcs))


class FakeClient:
    closed = False

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    async def send(self, to, data):
        self.sent.append((to, data))

    async def close(self):
        self.closed = True


class OneCall(SignalingPeer):
    """A minimal end: calls by peer id, records what the base asks of it."""

    role, remote_role = "receiver", "sender"

    def __init__(self) -> None:
        super().__init__(SignalingOptions("http://127.0.0.1:1"), IceConfig(), FakeViewers())
        self.calls: dict[str, FakePC] = {}
        self.events: list[tuple] = []

    def call_pc(self, peer_id):
        return self.calls.get(peer_id)

    def call_peers(self):
        return list(self.calls)

    async def drop_call(self, peer_id):
        if self.calls.pop(peer_id, None) is not None:
            self.events.append(("dropped", peer_id))

    def on_bye(self, peer_id):
        self.events.append(("bye", peer_id))

    async def on_signal(self, client, message):
        if message.data.get("ping"):
            self.events.append(("ping", message.peer_id))
            return True
        return False

    async def on_call_lost(self, peer_id, reason, silent):
        self.events.append(("lost", peer_id, reason, silent))
        await self.drop(peer_id)


def _signal(peer_id: str, data: dict, role: str = "sender") -> SignalMessage:
    return SignalMessage("signal", peer_id, role, data)


def test_a_connected_call_outlives_its_peer_leaving_signaling_and_bye_ends_it():
    async def body():
        end, client = OneCall(), FakeClient()
        end.calls = {"a": FakePC("connected"), "b": FakePC("connecting")}
        end.viewers.pcs["v"] = FakePC()
        for peer_id in ("a", "b", "v"):
            await end.dispatch(client, SignalMessage("peer-left", peer_id, None))
        assert list(end.calls) == ["a"]  # the server may have restarted: the call goes on
        assert end.viewers.pcs == {}
        await end.dispatch(client, _signal("a", {"bye": True}))
        return end

    end = asyncio.run(body())
    assert end.calls == {}
    assert end.events == [("dropped", "b"), ("bye", "a"), ("dropped", "a")]


def test_candidates_go_to_the_call_or_the_viewer_and_viewer_offers_are_answered():
    async def body():
        end, client = OneCall(), FakeClient()
        call, viewer = FakePC(), FakePC()
        end.calls["a"] = call
        end.viewers.pcs["v"] = viewer
        await end.dispatch(client, _signal("a", CANDIDATE))
        await end.dispatch(client, _signal("v", CANDIDATE, "viewer"))
        await end.dispatch(client, _signal("nobody", CANDIDATE))  # ignored
        await end.dispatch(client, _signal("v", {"sdp": "v=0", "sdp_type": "offer"}, "viewer"))
        await end.dispatch(client, _signal("a", {"ping": True, "candidate": "x"}))
        return end, client, call, viewer

    end, client, call, viewer = asyncio.run(body())
    assert len(call.candidates) == 1 and len(viewer.candidates) == 1
    assert call.candidates[0].ip == "127.0.0.1"
    assert end.viewers.answered == ["v"]
    assert client.sent == [("v", {"sdp": "v=0", "sdp_type": "answer"})]
    assert end.events == [("ping", "a")]  # the end's own signal first, not read as a candidate


def test_a_failed_connection_or_a_silence_loses_only_the_current_call():
    async def body():
        end = OneCall()
        old, current = FakePC(), FakePC()
        end.watch_call("a", old)
        end.calls["a"] = current
        end.watch_call("a", current)
        old.connectionState = "failed"
        await old.handlers["connectionstatechange"]()  # an older call: nothing happens
        end._silent("a", old)
        await asyncio.sleep(0)
        assert end.events == []
        end._silent("a", current)
        await asyncio.sleep(0.01)
        end.calls["a"] = current
        current.connectionState = "closed"
        await current.handlers["connectionstatechange"]()
        return end

    end = asyncio.run(body())
    assert end.events == [
        ("lost", "a", "sender a went silent", True),
        ("dropped", "a"),
        ("lost", "a", "the connection to sender a closed", False),
        ("dropped", "a"),
    ]


def test_close_says_bye_to_calls_and_viewers_and_leaves_the_room():
    async def body():
        end, client = OneCall(), FakeClient()
        end._keep(client)
        end.calls["a"] = FakePC()
        end.viewers.pcs["v"] = FakePC()
        await end.close()
        return end, client

    end, client = asyncio.run(body())
    assert client.sent == [("a", {"bye": True}), ("v", {"bye": True})]
    assert end.calls == {} and end.viewers.pcs == {} and client.closed
