"""Signaling goes away and comes back; peers come and go: the call survives and resumes.

Real parts in one event loop: the aiohttp signaling server on an ephemeral loopback port, the
sender and receiver apps with real aiortc peer connections, the tiny model.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vid2vid.call.rtc import IceConfig
from vid2vid.codec.checkpoint import load_weights
from vid2vid.engines.runtime import open_runtime
from vid2vid.receiver.app import ReceiverApp
from vid2vid.receiver.app import SignalingOptions as ReceiverSignaling
from vid2vid.receiver.core import ReceiverCore
from vid2vid.sender.app import SenderApp, SignalingOptions
from vid2vid.sender.capture import FileCapture
from vid2vid.sender.pipeline import SenderConfig, SendPipeline
from vid2vid.sender.session import SenderSession

CLIP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips" / "lp_d0.mp4"
LOOPBACK = IceConfig(hosts=("127.0.0.1",))


class Counter:
    def __init__(self) -> None:
        self.frames = 0

    def write(self, frame) -> None:
        self.frames += 1

    def close(self) -> None:
        pass


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


def test_the_call_survives_a_signaling_restart_and_new_receivers_join():
    pytest.importorskip("vid2vid.signaling.server")
    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    loaded = load_weights(None, "tiny")
    runtime = open_runtime(loaded, "torch")

    def receiver(url: str) -> tuple[ReceiverApp, Counter]:
        sink = Counter()
        core = ReceiverCore(loaded, runtime, sink)
        return ReceiverApp(core, ReceiverSignaling(url, "r"), LOOPBACK), sink

    async def run():
        runner, port = await _start_server()
        url = f"http://127.0.0.1:{port}"
        capture = FileCapture(CLIP, loop=True)
        pipeline = SendPipeline(loaded, runtime, SenderConfig(), capture.fps)
        sender = SenderApp(SenderSession(pipeline, capture), SignalingOptions(url, "r"), LOOPBACK)
        first, first_sink = receiver(url)
        tasks = [asyncio.create_task(first.run()), asyncio.create_task(sender.run())]
        try:
            await _until(lambda: first_sink.frames >= 3, 40, "the first frames")
            await runner.cleanup()  # the signaling server goes away ...
            during = first_sink.frames
            await _until(lambda: first_sink.frames >= during + 3, 20, "frames without signaling")
            runner, _ = await _start_server(port)  # ... and comes back on the same port
            second, second_sink = receiver(url)
            tasks.append(asyncio.create_task(second.run()))
            await _until(lambda: second_sink.frames >= 3, 40, "a receiver joining after it")
            before = first_sink.frames
            await _until(lambda: first_sink.frames > before, 20, "the first receiver after it")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runner.cleanup()
            capture.close()
        return tasks

    for task in asyncio.run(run()):
        assert task.cancelled(), task.exception()
