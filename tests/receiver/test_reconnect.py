"""Signaling goes away and comes back; peers come and go: the call survives and resumes.

Real parts in one event loop: the aiohttp signaling server on an ephemeral loopback port, the
sender and receiver apps with real aiortc peer connections, the tiny model.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from vid2vid.call.rtc import IceConfig, accept_answer, make_offer
from vid2vid.codec.checkpoint import load_weights
from vid2vid.engines.runtime import open_runtime
from vid2vid.receiver.app import ReceiverApp
from vid2vid.receiver.app import SignalingOptions as ReceiverSignaling
from vid2vid.sender.app import SenderApp, SignalingOptions
from vid2vid.sender.capture import FileCapture
from vid2vid.sender.pipeline import SenderConfig, SendPipeline
from vid2vid.sender.session import SenderSession

from .rooms import recording_room

CLIP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips" / "lp_d0.mp4"
LOOPBACK = IceConfig(hosts=("127.0.0.1",))


async def _start_server(port: int = 0):
    from aiohttp import web

    from vid2vid.signaling.config import SignalingConfig
    from vid2vid.signaling.server import create_app

    runner = web.AppRunner(create_app(SignalingConfig(host="127.0.0.1", port=port)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, runner.addresses[0][1]


async def _until(condition, timeout: float, what: str) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _view(viewer, pc, target: str):
    """Offer to ``target`` as a browser viewer does (receive-only video plus a "control"
    channel); returns the channel, the JSON messages it brings and the tracks received."""
    pc.addTransceiver("video", direction="recvonly")
    channel = pc.createDataChannel("control")
    messages: list = []
    channel.on("message", lambda m: messages.append(json.loads(m)))
    tracks: list = []
    pc.on("track", tracks.append)
    await viewer.send(target, await make_offer(pc))
    while True:
        message = await asyncio.wait_for(viewer.receive(), 20)
        if message.type == "signal" and message.data.get("sdp_type") == "answer":
            break
    await accept_answer(pc, message.data)
    return channel, messages, tracks


def test_the_call_survives_a_signaling_restart_and_new_receivers_join():
    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    loaded = load_weights(None, "tiny")
    runtime = open_runtime(loaded, "torch")

    def receiver(url: str):
        room, sinks = recording_room(loaded, runtime)
        return ReceiverApp(room, ReceiverSignaling(url, "r"), LOOPBACK), sinks

    async def run():
        runner, port = await _start_server()
        url = f"http://127.0.0.1:{port}"
        capture = FileCapture(CLIP, loop=True)
        pipeline = SendPipeline(loaded, runtime, SenderConfig(), capture.fps)
        sender = SenderApp(SenderSession(pipeline, capture), SignalingOptions(url, "r"), LOOPBACK)
        first, first_sink = receiver(url)
        tasks = [asyncio.create_task(first.run()), asyncio.create_task(sender.run())]
        try:
            await _until(lambda: first_sink.frames() >= 3, 40, "the first frames")
            await runner.cleanup()  # the signaling server goes away ...
            during = first_sink.frames()
            await _until(lambda: first_sink.frames() >= during + 3, 20, "frames without signaling")
            runner, _ = await _start_server(port)  # ... and comes back on the same port
            second, second_sink = receiver(url)
            tasks.append(asyncio.create_task(second.run()))
            await _until(lambda: second_sink.frames() >= 3, 40, "a receiver joining after it")
            before = first_sink.frames()
            await _until(lambda: first_sink.frames() > before, 20, "the first receiver after it")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runner.cleanup()
            capture.close()
        return tasks

    for task in asyncio.run(run()):
        assert task.cancelled(), task.exception()


def test_a_viewer_gets_the_rebuilt_video_and_turns_the_head():
    """What the browser page does (`vid2vid-recv --serve`), done by an aiortc viewer."""
    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    import numpy as np

    from vid2vid.call.media import LatestFrameTrack
    from vid2vid.call.rtc import new_peer_connection
    from vid2vid.codec.keypoints import FreeView
    from vid2vid.signaling.client import SignalingClient

    loaded = load_weights(None, "tiny")
    runtime = open_runtime(loaded, "torch")

    async def run():
        runner, port = await _start_server()
        url = f"http://127.0.0.1:{port}"
        capture = FileCapture(CLIP, loop=True)
        pipeline = SendPipeline(loaded, runtime, SenderConfig(), capture.fps)
        sender = SenderApp(
            SenderSession(pipeline, capture), SignalingOptions(url, "v"), LOOPBACK, preview=True
        )
        from vid2vid.receiver.room import ReceiverRoom
        from vid2vid.receiver.sinks import Sinks, TrackSink

        from .rooms import Recorders

        track = LatestFrameTrack(size=128)
        sink = Recorders()
        room = ReceiverRoom(loaded, runtime, lambda info: Sinks([sink(info), TrackSink(track)]))
        receiver = ReceiverApp(room, ReceiverSignaling(url, "v"), LOOPBACK, tracks=track)
        tasks = [asyncio.create_task(receiver.run()), asyncio.create_task(sender.run())]
        viewer = SignalingClient(url, "v", "viewer")
        pc = new_peer_connection(LOOPBACK)
        preview_pc = new_peer_connection(LOOPBACK)
        try:
            await _until(lambda: sink.frames() >= 2, 40, "the call")
            welcome = await viewer.connect()
            target = next(p.peer_id for p in welcome.peers if p.role == "receiver")
            channel, stats, tracks = await _view(viewer, pc, target)
            await _until(lambda: tracks and channel.readyState == "open", 20, "the track")
            frames = [await asyncio.wait_for(tracks[0].recv(), 10) for _ in range(3)]
            channel.send(json.dumps({"type": "view", "yaw": 30, "pitch": 0, "roll": 0}))
            core = room.participants[0].core
            await _until(lambda: core.view == FreeView(yaw=30.0), 10, "the view")
            await _until(lambda: stats, 5, "stats")
            # The sender answers a viewer with its camera preview and its own stats.
            source = next(p.peer_id for p in welcome.peers if p.role == "sender")
            _, sender_stats, previews = await _view(viewer, preview_pc, source)
            await _until(lambda: previews, 20, "the preview track")
            preview = await asyncio.wait_for(previews[0].recv(), 10)
            await _until(lambda: sender_stats, 5, "sender stats")
        finally:
            await preview_pc.close()
            await pc.close()
            await viewer.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runner.cleanup()
            capture.close()
        return frames, stats, preview, sender_stats

    frames, stats, preview, sender_stats = asyncio.run(run())
    assert preview.to_ndarray(format="rgb24").shape == (512, 512, 3)  # the clip's own frames
    assert {"fps", "motion_kbps", "keyframe_bytes", "ms_per_stage"} <= set(sender_stats[0])
    images = [f.to_ndarray(format="rgb24") for f in frames]
    assert images[0].shape == (128, 128, 3)  # scaled to --serve-size
    assert max(float(np.std(i)) for i in images) > 1.0  # not blank
    assert stats[0]["type"] == "stats" and stats[0]["frames"] >= 1
    assert {"fps", "motion_kbps", "keyframe_bytes", "latency_ms_p50"} <= set(stats[0])
