"""Another sender in the room can neither take over nor stall a call in progress.

The hostile tester's case: any member that joined as ``sender`` and offered replaced the
receiver's call, and the receiver then stayed at 0 fps for about 16 s after the intruder left.
Real parts in one event loop: the aiohttp signaling server on a loopback port, the sender and
receiver apps with real aiortc peer connections, the tiny model, the shared clips.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vid2vid.codec.checkpoint import load_weights
from vid2vid.engines.runtime import open_runtime
from vid2vid.receiver.app import ReceiverApp
from vid2vid.receiver.app import SignalingOptions as ReceiverSignaling
from vid2vid.receiver.core import ReceiverCore
from vid2vid.sender.app import SenderApp, SignalingOptions
from vid2vid.sender.capture import FileCapture
from vid2vid.sender.pipeline import SenderConfig, SendPipeline
from vid2vid.sender.session import SenderSession

from .test_reconnect import LOOPBACK, _start_server, _until

CLIPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips"


class Streams:
    """A sink that counts frames per stream (one stream per sender connection)."""

    def __init__(self) -> None:
        self.frames = 0
        self.streams: list[int] = []

    def write(self, frame) -> None:
        self.frames += 1
        if not self.streams or self.streams[-1] != frame.stream:
            self.streams.append(frame.stream)

    def close(self) -> None:
        pass


@pytest.mark.slow
def test_an_intruding_sender_is_refused_queued_and_gets_the_call_only_when_it_is_free():
    clips = [CLIPS / "lp_d0.mp4", CLIPS / "lp_d10.mp4", CLIPS / "lp_d11.mp4"]
    if not all(c.is_file() for c in clips):
        pytest.skip(f"shared data absent: {CLIPS}")
    loaded = load_weights(None, "tiny")
    runtime = open_runtime(loaded, "torch")

    async def run():
        runner, port = await _start_server()
        url = f"http://127.0.0.1:{port}"
        captures: list[FileCapture] = []

        def sender(clip: Path) -> SenderApp:
            capture = FileCapture(clip, loop=True)
            captures.append(capture)
            pipeline = SendPipeline(loaded, runtime, SenderConfig(), capture.fps)
            return SenderApp(SenderSession(pipeline, capture), SignalingOptions(url, "t"), LOOPBACK)

        sink = Streams()
        receiver = ReceiverApp(
            ReceiverCore(loaded, runtime, sink), ReceiverSignaling(url, "t"), LOOPBACK
        )
        legit = sender(clips[0])
        tasks = {"receiver": asyncio.create_task(receiver.run())}
        await asyncio.sleep(0.3)
        tasks["legit"] = asyncio.create_task(legit.run())
        try:
            await _until(lambda: sink.frames >= 5, 40, "the call")
            legit_id = receiver.sender_id
            assert legit_id is not None and legit_id == legit._client.peer_id

            # 1. an intruder joins as a sender and offers: refused, the call goes on
            intruder = sender(clips[1])
            tasks["intruder"] = asyncio.create_task(intruder.run())
            await _until(lambda: intruder._client and intruder._client.peer_id, 20, "intruder")
            await _until(lambda: intruder.session.peer_count == 0 and receiver.waiting, 20, "busy")
            before = sink.frames
            await _until(lambda: sink.frames >= before + 10, 20, "frames during the intrusion")
            assert receiver.sender_id == legit_id and len(sink.streams) == 1

            # 2. the intruder leaves: no stall
            tasks.pop("intruder").cancel()
            await asyncio.sleep(0.5)
            before = sink.frames
            await _until(lambda: sink.frames >= before + 10, 20, "frames after the intruder left")
            assert receiver.sender_id == legit_id and len(sink.streams) == 1

            # 3. a queued sender gets the call when the one in it says bye
            queued = sender(clips[2])
            tasks["queued"] = asyncio.create_task(queued.run())
            await _until(lambda: queued._client and len(receiver.waiting) == 1, 20, "queued")
            queued_id = queued._client.peer_id
            assert receiver.sender_id == legit_id
            legit_task = tasks.pop("legit")
            legit_task.cancel()  # says bye
            await asyncio.gather(legit_task, return_exceptions=True)
            await _until(lambda: receiver.sender_id == queued_id, 20, "the handover")
            before = sink.frames
            await _until(lambda: sink.frames >= before + 5, 40, "the queued sender's frames")
            assert len(sink.streams) == 2
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            await runner.cleanup()
            for capture in captures:
                capture.close()

    asyncio.run(asyncio.wait_for(run(), 150))
