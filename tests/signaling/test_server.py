"""The signaling server, run for real on an ephemeral loopback port, with real WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from vid2vid.errors import ConfigError, SignalingError
from vid2vid.signaling.client import SignalingClient, SignalingClosedError, websocket_url
from vid2vid.signaling.config import SignalingConfig, parse_room_token
from vid2vid.signaling.server import create_app


@contextlib.asynccontextmanager
async def running_server(**options: object) -> AsyncIterator[str]:
    """Start the real app on 127.0.0.1 with a free port; yield its base URL."""
    runner = web.AppRunner(create_app(SignalingConfig(port=0, **options)))  # type: ignore[arg-type]
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=10))


async def health(url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as response:
        assert response.status == 200
        return await response.json()


async def refusal_code(url: str, room: str, role: str = "receiver", token: str | None = None):
    client = SignalingClient(url, room=room, role=role, token=token)
    with pytest.raises(SignalingClosedError) as caught:
        await client.connect()
    await client.close()
    return caught.value.close_code


def test_relay_between_peers_with_presence() -> None:
    async def body() -> None:
        async with running_server() as url:
            async with SignalingClient(url, room="r1", role="sender") as sender:
                receiver = SignalingClient(url, room="r1", role="receiver")
                welcome = await receiver.connect()
                assert [(p.peer_id, p.role) for p in welcome.peers] == [(sender.peer_id, "sender")]

                joined = await sender.receive()
                assert (joined.type, joined.peer_id, joined.role) == (
                    "peer-joined",
                    welcome.peer_id,
                    "receiver",
                )
                offer = {"sdp": "v=0\r\n...", "sdp_type": "offer"}
                await sender.send(welcome.peer_id, offer)
                got = await receiver.receive()
                assert (got.type, got.peer_id, got.role, got.data) == (
                    "signal",
                    sender.peer_id,
                    "sender",
                    offer,
                )
                await receiver.send(sender.peer_id, {"sdp": "answer", "sdp_type": "answer"})
                back = await sender.receive()
                assert back.data["sdp_type"] == "answer" and back.role == "receiver"

                assert await health(url) == {"status": "ok", "rooms": 1, "peers": 2}
                await receiver.close()
                left = await sender.receive()
                assert (left.type, left.peer_id, left.role) == ("peer-left", welcome.peer_id, None)
            assert await health(url) == {"status": "ok", "rooms": 0, "peers": 0}

    run(body)


def test_rooms_are_separate() -> None:
    async def body() -> None:
        async with (
            running_server() as url,
            SignalingClient(url, room="a", role="sender") as a,
            SignalingClient(url, room="b", role="receiver") as b,
        ):
            # b is in another room: a cannot reach it, and is told so.
            await a.send(b.peer_id or "", {"bye": True})
            async with SignalingClient(url, room="a", role="viewer") as c:
                joined = await a.receive()
                assert (joined.peer_id, joined.role) == (c.peer_id, "viewer")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(b.receive(), timeout=0.2)

    run(body)


def test_unknown_target_gets_an_error_and_the_connection_survives() -> None:
    async def body() -> None:
        async with running_server() as url, aiohttp.ClientSession() as session:
            ws = await session.ws_connect(
                websocket_url(url), params={"room": "r", "role": "viewer"}
            )
            welcome = await ws.receive_json()
            assert welcome["type"] == "welcome" and welcome["peers"] == []
            await ws.send_json({"type": "signal", "to": "nobody", "data": {"bye": True}})
            error = await ws.receive_json()
            assert error == {"type": "error", "message": "no peer 'nobody' in room r"}
            await ws.send_json({"type": "signal", "to": welcome["peer_id"], "data": {}})
            assert (await ws.receive_json())["type"] == "error"  # not to oneself
            assert not ws.closed
            await ws.close()

    run(body)


def test_tokens_global_and_per_room() -> None:
    async def body() -> None:
        async with running_server(token="s3cret", room_tokens={"vip": "v1p"}) as url:
            assert await refusal_code(url, "r") == 4001
            assert await refusal_code(url, "r", token="wrong") == 4001
            assert await refusal_code(url, "vip", token="s3cret") == 4001
            async with SignalingClient(url, room="r", role="sender", token="s3cret") as ok:
                assert ok.peer_id
            async with SignalingClient(url, room="vip", role="sender", token="v1p") as ok:
                assert ok.peer_id
            assert (await health(url))["peers"] == 0

    run(body)


def test_room_full_and_too_many_rooms() -> None:
    async def body() -> None:
        async with (
            running_server(max_peers_per_room=2, max_rooms=1) as url,
            SignalingClient(url, room="r", role="sender"),
        ):
            async with SignalingClient(url, room="r", role="receiver"):
                assert await refusal_code(url, "r", role="viewer") == 4003
                assert await refusal_code(url, "other") == 4004
            # A place freed is a place to take.
            async with SignalingClient(url, room="r", role="viewer") as viewer:
                assert viewer.peer_id

    run(body)


def test_oversize_message_closes_with_1009_and_others_see_the_peer_leave() -> None:
    async def body() -> None:
        async with (
            running_server(max_message_bytes=1024) as url,
            SignalingClient(url, room="r", role="sender") as sender,
        ):
            big = SignalingClient(url, room="r", role="receiver")
            await big.connect()
            await sender.receive()  # peer-joined
            await big.send(sender.peer_id or "", {"sdp": "x" * 2000, "sdp_type": "offer"})
            with pytest.raises(SignalingClosedError) as caught:
                await big.receive()
            assert caught.value.close_code == 1009
            await big.close()
            left = await sender.receive()
            assert (left.type, left.peer_id) == ("peer-left", big.peer_id)
            # Just under the limit still passes.
            async with SignalingClient(url, room="r", role="viewer") as ok:
                await sender.receive()
                await ok.send(sender.peer_id or "", {"sdp": "x" * 900})
                assert (await sender.receive()).data == {"sdp": "x" * 900}

    run(body)


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '{"no": "type"}',
        '{"type": "dance"}',
        '{"type": "signal", "to": 5, "data": {}}',
        '{"type": "signal", "to": "x", "data": "sdp"}',
        b"\x00binary",
        "[" * 5000,  # json.loads raises RecursionError, not ValueError
    ],
)
def test_malformed_message_closes_with_4000_and_server_survives(frame: str | bytes) -> None:
    async def body() -> None:
        async with running_server() as url, aiohttp.ClientSession() as session:
            ws = await session.ws_connect(
                websocket_url(url), params={"room": "r", "role": "viewer"}
            )
            assert (await ws.receive_json())["type"] == "welcome"
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.CLOSE
            assert msg.data == 4000, msg
            assert await health(url) == {"status": "ok", "rooms": 0, "peers": 0}
            async with SignalingClient(url, room="r", role="viewer") as again:
                assert again.peer_id

    run(body)


@pytest.mark.parametrize(
    ("room", "role"), [("", "viewer"), ("a b", "viewer"), ("x" * 65, "viewer"), ("r", "boss")]
)
def test_bad_room_or_role_is_refused_with_4000(room: str, role: str) -> None:
    async def body() -> None:
        async with running_server() as url, aiohttp.ClientSession() as session:
            ws = await session.ws_connect(websocket_url(url), params={"room": room, "role": role})
            msg = await ws.receive()
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 4000)

    run(body)


def test_client_reports_an_unreachable_server() -> None:
    async def body() -> None:
        async with running_server() as url:
            pass  # now closed: the port is free again
        client = SignalingClient(url, room="r", role="sender")
        with pytest.raises(SignalingClosedError, match="cannot reach signaling server"):
            await client.connect()

    run(body)


def test_client_sees_server_shutdown_as_going_away() -> None:
    async def body() -> None:
        runner = web.AppRunner(create_app(SignalingConfig(port=0)))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        client = SignalingClient(f"http://{host}:{port}", room="r", role="receiver")
        await client.connect()
        await runner.cleanup()
        with pytest.raises(SignalingClosedError) as caught:
            await client.receive()
        assert caught.value.close_code == 1001
        with pytest.raises(SignalingClosedError):
            await client.send("x", {})
        await client.close()

    run(body)


def test_page_and_static_assets_are_served() -> None:
    async def body() -> None:
        async with running_server() as url, aiohttp.ClientSession() as session:
            for path in ("/", "/room/demo-1"):
                async with session.get(f"{url}{path}") as response:
                    assert response.status == 200
                    assert response.content_type == "text/html"
                    assert "<script" in await response.text()
                    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
            async with session.get(f"{url}/static/demo.js") as response:
                assert response.status == 200
            async with session.get(f"{url}/room/bad%20room") as response:
                assert response.status == 400
            async with session.get(f"{url}/static/../server.py") as response:
                assert response.status in (403, 404)

    run(body)


def test_websocket_url_forms() -> None:
    assert websocket_url("http://127.0.0.1:8765") == "ws://127.0.0.1:8765/ws"
    assert websocket_url("https://example.org/base/") == "wss://example.org/base/ws"
    assert websocket_url("ws://h:1/ws") == "ws://h:1/ws"
    assert websocket_url("h:1") == "ws://h:1/ws"
    with pytest.raises(SignalingError, match="signaling URL must be"):
        websocket_url("ftp://h:1")
    with pytest.raises(SignalingError, match="role must be one of"):
        SignalingClient("http://h:1", room="r", role="boss")


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="max_rooms must be at least 1, got 0"):
        SignalingConfig(max_rooms=0)
    with pytest.raises(ConfigError, match="port must be in 0..65535, got 70000"):
        SignalingConfig(port=70000)
    with pytest.raises(ConfigError, match="invalid room name"):
        SignalingConfig(room_tokens={"a b": "t"})
    assert parse_room_token("vip=a=b") == ("vip", "a=b")
    with pytest.raises(ConfigError, match="--room-token must be ROOM=TOKEN"):
        parse_room_token("vip")
    config = SignalingConfig(token="t", room_tokens={"vip": "v"})
    assert config.admits("x", "t") and not config.admits("x", None)
    assert config.admits("vip", "v") and not config.admits("vip", "t")
    assert SignalingConfig().admits("x", None)
    assert json.dumps(dict(config.room_tokens)) == '{"vip": "v"}'


def test_participants_carry_their_names_in_presence_and_signals() -> None:
    """A ``vid2vid-call`` participant joins with a name; the server stamps it on its presence
    and on every signal it relays, so the receivers label its tile and file."""

    async def body() -> None:
        async with (
            running_server() as url,
            SignalingClient(url, room="m", role="participant", name="alice") as alice,
        ):
            bob = SignalingClient(url, room="m", role="participant", name="bob")
            welcome = await bob.connect()
            assert [(p.peer_id, p.role, p.name) for p in welcome.peers] == [
                (alice.peer_id, "participant", "alice")
            ]
            joined = await alice.receive()
            assert (joined.type, joined.peer_id, joined.name) == (
                "peer-joined",
                bob.peer_id,
                "bob",
            )
            await bob.send(alice.peer_id, {"sdp": "v=0", "sdp_type": "offer"})
            got = await alice.receive()
            assert (got.type, got.peer_id, got.role, got.name) == (
                "signal", bob.peer_id, "participant", "bob",
            )  # fmt: skip
            anonymous = SignalingClient(url, room="m", role="sender")
            assert all(p.name is None for p in (await anonymous.connect()).peers[2:])
            await anonymous.close()
            await bob.close()

    run(body)


@pytest.mark.parametrize("name", ["", "a b", "x" * 33, "../etc", "ali\u00e7e"])
def test_a_bad_name_is_refused_with_4000(name: str) -> None:
    async def body() -> None:
        async with running_server() as url, aiohttp.ClientSession() as session:
            params = {"room": "r", "role": "participant", "name": name}
            ws = await session.ws_connect(websocket_url(url), params=params)
            msg = await ws.receive()
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 4000)
        with pytest.raises(SignalingError, match="name must be 1-32"):
            SignalingClient("http://h:1", room="r", role="participant", name=name)

    run(body)
