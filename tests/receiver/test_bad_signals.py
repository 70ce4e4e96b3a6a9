"""A peer's malformed signal (bad SDP, short candidate, duplicate answer) drops that peer only.

Real parts: the aiohttp signaling server on an ephemeral loopback port, the receiver app with
real aiortc peer connections and the tiny model, and a signaling client playing the sender.
"""

from __future__ import annotations

import asyncio

from vid2vid.call.rtc import IceConfig, accept_answer, create_call_channels, make_offer
from vid2vid.call.rtc import new_peer_connection as new_pc

LOOPBACK = IceConfig(hosts=("127.0.0.1",))
BAD_SDP = "v=0\r\nm=audio\r\n"


async def _start_server():
    from aiohttp import web

    from vid2vid.signaling.config import SignalingConfig
    from vid2vid.signaling.server import create_app

    runner = web.AppRunner(create_app(SignalingConfig(host="127.0.0.1", port=0)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


def test_bad_offer_and_bad_candidate_drop_the_peer_not_the_receiver():
    from vid2vid.codec.checkpoint import load_weights
    from vid2vid.engines.runtime import open_runtime
    from vid2vid.receiver.app import ReceiverApp, SignalingOptions
    from vid2vid.receiver.room import ReceiverRoom
    from vid2vid.signaling.client import SignalingClient

    loaded = load_weights(None, "tiny")

    class Null:
        def write(self, frame) -> None:
            pass

        def close(self) -> None:
            pass

    async def good_offer(client, receiver_id):
        pc = new_pc(LOOPBACK)
        create_call_channels(pc)
        await client.send(receiver_id, await make_offer(pc))
        answer = await asyncio.wait_for(client.receive(), 5)
        assert answer.data.get("sdp_type") == "answer"
        return pc, answer

    async def run():
        runner, port = await _start_server()
        url = f"http://127.0.0.1:{port}"
        room = ReceiverRoom(loaded, open_runtime(loaded, "torch"), lambda info: Null())
        app = ReceiverApp(room, SignalingOptions(url, "r"), LOOPBACK)
        task = asyncio.create_task(app.run())
        pcs = []
        try:
            await asyncio.sleep(0.3)
            client = SignalingClient(url, "r", "sender")
            welcome = await client.connect()
            receiver_id = welcome.peers[0].peer_id
            pc, _ = await good_offer(client, receiver_id)
            pcs.append(pc)
            assert app.peers == (client.peer_id,)
            # a candidate with fewer than 8 fields: aiortc asserts
            await client.send(receiver_id, {"candidate": "candidate:1 1 udp", "sdpMid": "0"})
            for _ in range(40):
                if not app.peers:
                    break
                await asyncio.sleep(0.05)
            assert not app.peers and not room.participants, "the bad peer was not dropped"
            # a malformed offer: aiortc asserts while parsing it
            await client.send(receiver_id, {"sdp": BAD_SDP, "sdp_type": "offer"})
            await asyncio.sleep(0.3)
            assert not task.done(), task.exception() if task.done() else None
            assert not app.peers
            # the receiver still answers a good offer
            pc, _ = await good_offer(client, receiver_id)
            pcs.append(pc)
            assert not task.done()
            await client.close()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for pc in pcs:
                await pc.close()
            await runner.cleanup()
        return task

    task = asyncio.run(asyncio.wait_for(run(), 20))
    assert task.cancelled()


def test_duplicate_answer_is_not_fatal_to_stay_in_room():
    """InvalidStateError from aiortc (a second answer) reaches stay_in_room: logged, peer dropped."""
    from vid2vid.call.peers import SignalingOptions, stay_in_room
    from vid2vid.call.rtc import accept_offer
    from vid2vid.signaling.client import SignalingClient

    async def run():
        runner, port = await _start_server()
        url = f"http://127.0.0.1:{port}"
        offerer, answerer = new_pc(LOOPBACK), new_pc(LOOPBACK)
        create_call_channels(offerer)
        offer = await make_offer(offerer)
        dropped: list[str] = []
        handled: list[str] = []

        async def on_join(client, welcome):
            pass

        async def on_message(client, message):
            if message.type == "signal":
                handled.append(message.data["sdp_type"])
                await accept_answer(offerer, message.data)  # the second one raises

        async def on_bad_peer(peer_id):
            dropped.append(peer_id)

        task = asyncio.create_task(
            stay_in_room(
                SignalingOptions(url, "r"), "sender", on_join, on_message, on_bad_peer=on_bad_peer
            )
        )
        try:
            await asyncio.sleep(0.3)
            client = SignalingClient(url, "r", "receiver")
            try:
                sender_id = (await client.connect()).peers[0].peer_id
                answer = await accept_offer(answerer, offer)
                for _ in range(3):
                    await client.send(sender_id, answer)
                for _ in range(40):
                    if len(handled) == 3:
                        break
                    await asyncio.sleep(0.05)
                assert not task.done(), task.exception() if task.done() else None
                assert handled == ["answer"] * 3
                assert dropped == [client.peer_id, client.peer_id]
            finally:
                await client.close()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await offerer.close()
            await answerer.close()
            await runner.cleanup()

    asyncio.run(asyncio.wait_for(run(), 20))
