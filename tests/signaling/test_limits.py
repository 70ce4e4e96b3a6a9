"""Each refusal of the signaling server, tried against the real server on a loopback port:
foreign Origin (4005), too many connections from one address (4008), too many messages (4029),
and the size limit, which is inclusive (N bytes pass, N + 1 close with 1009)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from vid2vid.errors import ConfigError
from vid2vid.signaling.client import SignalingClient, websocket_url
from vid2vid.signaling.config import SignalingConfig
from vid2vid.signaling.limits import AddressLimits, LimitError, TokenBucket, origin_allowed

from .test_server import health, run, running_server


async def _connect(session: aiohttp.ClientSession, url: str, origin: str | None = None, **params):
    """Open /ws as a browser would (with ``origin``); the first message or the close."""
    query = {"room": "r", "role": "viewer", **params}
    ws = await session.ws_connect(websocket_url(url), params=query, origin=origin)
    msg = await ws.receive()
    return ws, msg


def _closed_with(msg: aiohttp.WSMessage, code: int) -> bool:
    return msg.type is aiohttp.WSMsgType.CLOSE and msg.data == code


def test_a_page_on_another_site_cannot_open_the_websocket() -> None:
    async def body() -> None:
        async with running_server() as url, aiohttp.ClientSession() as session:
            own = url  # http://127.0.0.1:PORT: the demo page the server itself serves
            for origin in ("http://evil.example", "null", own.replace("127.0.0.1", "localhost")):
                ws, msg = await _connect(session, url, origin)
                assert _closed_with(msg, 4005), (origin, msg)
                assert "not allowed" in msg.extra
            for origin in (own, own.replace("http:", "https:"), None):  # None: not a browser
                ws, msg = await _connect(session, url, origin)
                assert json.loads(msg.data)["type"] == "welcome", origin
                await ws.close()
            assert await health(url) == {"status": "ok", "rooms": 0, "peers": 0}

    run(body)


def test_allowed_origins_extend_the_own_origin() -> None:
    async def body() -> None:
        async with (
            running_server(allowed_origins=("https://meet.example.org/",)) as url,
            aiohttp.ClientSession() as session,
        ):
            ws, msg = await _connect(session, url, "https://meet.example.org")
            assert json.loads(msg.data)["type"] == "welcome"
            await ws.close()
            ws, msg = await _connect(session, url, "https://meet.example.org.evil.example")
            assert _closed_with(msg, 4005)
        async with running_server(allowed_origins=("*",)) as url, aiohttp.ClientSession() as s:
            ws, msg = await _connect(s, url, "http://anything.example")
            assert json.loads(msg.data)["type"] == "welcome"
            await ws.close()

    run(body)


def test_too_many_connections_from_one_address_close_with_4008() -> None:
    async def body() -> None:
        async with running_server(max_connections_per_ip=2) as url:
            first = SignalingClient(url, room="r", role="sender")
            await first.connect()
            async with SignalingClient(url, room="other", role="receiver"):
                third = SignalingClient(url, room="r", role="viewer")
                with pytest.raises(Exception) as caught:
                    await third.connect()
                assert getattr(caught.value, "close_code", None) == 4008
                await third.close()
            # one closed: a place to take again
            async with SignalingClient(url, room="r", role="viewer") as again:
                assert again.peer_id
            await first.close()

    run(body)


def test_a_flood_of_messages_closes_with_4029_and_others_see_the_peer_leave() -> None:
    async def body() -> None:
        # the two clients share 127.0.0.1's bucket: 2 joins, then 3 messages are allowed
        async with (
            running_server(messages_per_s=1.0, message_burst=5) as url,
            aiohttp.ClientSession() as session,
            SignalingClient(url, room="r", role="sender") as quiet,
        ):
            ws, welcome = await _connect(session, url)
            assert json.loads(welcome.data)["type"] == "welcome"
            await quiet.receive()  # peer-joined
            signal = {"type": "signal", "to": "nobody", "data": {}}
            closed = None
            for _ in range(10):
                await ws.send_json(signal)
                msg = await ws.receive()
                if msg.type is aiohttp.WSMsgType.CLOSE:
                    closed = msg
                    break
                assert json.loads(msg.data)["type"] == "error"  # no peer "nobody"
            assert closed is not None and _closed_with(closed, 4029), closed
            assert "too many messages" in closed.extra
            left = await quiet.receive()
            assert left.type == "peer-left"
            assert (await health(url))["peers"] == 1

    run(body)


@pytest.mark.parametrize("limit", [1024, 65536])
def test_max_message_bytes_is_the_largest_message_accepted(limit: int) -> None:
    async def body() -> None:
        async with (
            running_server(max_message_bytes=limit) as url,
            aiohttp.ClientSession() as session,
        ):
            for size, accepted in ((limit - 1, True), (limit, True), (limit + 1, False)):
                ws, _ = await _connect(session, url)
                empty = json.dumps({"type": "signal", "to": "x", "data": {"p": ""}})
                text = json.dumps(
                    {"type": "signal", "to": "x", "data": {"p": "y" * (size - len(empty))}}
                )
                assert len(text.encode()) == size
                await ws.send_str(text)
                msg = await ws.receive()
                if accepted:
                    assert json.loads(msg.data)["type"] == "error", (size, msg)  # no peer x
                    await ws.close()
                else:
                    assert _closed_with(msg, 1009), (size, msg)

    run(body)


def test_origin_rules_and_config_validation() -> None:
    host = "127.0.0.1:8765"
    assert origin_allowed(None, host, ())
    assert origin_allowed("http://127.0.0.1:8765", host, ())
    assert origin_allowed("HTTPS://127.0.0.1:8765/", host, ())
    assert not origin_allowed("http://127.0.0.1:8766", host, ())
    assert not origin_allowed("null", host, ())
    assert not origin_allowed("http://127.0.0.1:8765", None, ())
    assert origin_allowed("http://a.example", host, ("http://a.example",))
    config = SignalingConfig(allowed_origins=("HTTP://A.example:80",))
    assert config.allowed_origins == ("http://a.example:80",)
    for bad in ("a.example", "ftp://a.example", "http://a.example/path", "http://u@a.example"):
        with pytest.raises(ConfigError, match="origin"):
            SignalingConfig(allowed_origins=(bad,))
    with pytest.raises(ConfigError, match="messages_per_s must be positive"):
        SignalingConfig(messages_per_s=0)
    with pytest.raises(ConfigError, match="max_connections_per_ip must be at least 1"):
        SignalingConfig(max_connections_per_ip=0)


def test_token_bucket_and_address_limits_refill_and_forget() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)  # one token back after 0.5 s
    now = [0.0]
    limits = AddressLimits(max_connections=1, messages_per_s=1.0, burst=2, clock=lambda: now[0])
    limits.connect("a")
    with pytest.raises(LimitError) as caught:
        limits.connect("a")
    assert caught.value.code == 4008
    limits.message("a")  # the second token (the join took the first)
    with pytest.raises(LimitError) as caught:
        limits.message("a")
    assert caught.value.code == 4029
    limits.release("a")
    with pytest.raises(LimitError):  # reconnecting does not refill the bucket ...
        limits.connect("a")
    now[0] = 1.0
    limits.connect("a")  # ... time does
    assert limits.connections("a") == 1
