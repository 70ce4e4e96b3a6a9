"""Another sender in the room can neither take over nor stall nor blind someone else's stream.

The hostile tester's case: any member that joined as ``sender`` and offered replaced the
receiver's call, and the receiver then stayed at 0 fps for about 16 s after the intruder left.
In a room every sender gets a slot of its own: the intruder's offer opens its own slot (its own
stream, sink and statistics), the legitimate stream goes on untouched, and when the room is
full a further sender is told busy and queued until a slot frees. Real parts in one event
loop: the aiohttp signaling server on a loopback port, the sender and receiver apps with real
aiortc peer connections, the tiny model, the shared clips.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vid2vid.codec.checkpoint import load_weights
from vid2vid.engines.runtime import open_runtime
from vid2vid.receiver.app import ReceiverApp
from vid2vid.receiver.app import SignalingOptions as ReceiverSignaling
from vid2vid.receiver.room import ReceiverRoom
from vid2vid.sender.app import SenderApp, SignalingOptions
from vid2vid.sender.capture import FileCapture
from vid2vid.sender.pipeline import SenderConfig, SendPipeline
from vid2vid.sender.session import SenderSession

from .test_reconnect import LOOPBACK, _start_server, _until

CLIPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips"


class Streams:
    """A participant's sink: counts its frames and the streams (connections) they came in."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.frames = 0
        self.streams: list[int] = []
        self.closed = False

    def write(self, frame) -> None:
        self.frames += 1
        if not self.streams or self.streams[-1] != frame.stream:
            self.streams.append(frame.stream)

    def close(self) -> None:
        self.closed = True


@pytest.mark.slow
def test_an_intruding_sender_gets_its_own_slot_and_a_full_room_queues_the_next():
    clips = [CLIPS / "lp_d0.mp4", CLIPS / "lp_d10.mp4", CLIPS / "lp_d11.mp4"]
    if not all(c.is_file() for c in clips):
        pytest.skip(f"shared data absent: {CLIPS}")
    loaded = load_weights(None, "tiny")
    runtime = open_runtime(loaded, "torch")

    async def run():
        runner, port = await _start_server()
        url = f"http://127.0.0.1:{port}"
        captures: list[FileCapture] = []

        def sender(clip: Path, name: str) -> SenderApp:
            capture = FileCapture(clip, loop=True)
            captures.append(capture)
            pipeline = SendPipeline(loaded, runtime, SenderConfig(), capture.fps)
            options = SignalingOptions(url, "t", name=name)
            return SenderApp(SenderSession(pipeline, capture), options, LOOPBACK)

        sinks: dict[str, Streams] = {}

        def make_sink(info) -> Streams:
            sink = sinks[info.label] = Streams(info.label)
            return sink

        room = ReceiverRoom(loaded, runtime, make_sink, max_participants=2)
        receiver = ReceiverApp(room, ReceiverSignaling(url, "t"), LOOPBACK)
        legit = sender(clips[0], "legit")
        tasks = {"receiver": asyncio.create_task(receiver.run())}
        await asyncio.sleep(0.3)
        tasks["legit"] = asyncio.create_task(legit.run())
        try:
            await _until(lambda: "legit" in sinks and sinks["legit"].frames >= 5, 40, "the call")
            legit_id = legit._client.peer_id
            legit_core = receiver.participant_of(legit_id).core

            # 1. an intruder joins as a sender and offers: its own slot; the call goes on
            intruder = sender(clips[1], "intruder")
            tasks["intruder"] = asyncio.create_task(intruder.run())
            await _until(lambda: "intruder" in sinks and sinks["intruder"].frames >= 5, 40,
                         "the intruder's own slot")  # fmt: skip
            before = sinks["legit"].frames
            await _until(lambda: sinks["legit"].frames >= before + 10, 20, "frames meanwhile")
            assert receiver.participant_of(legit_id).core is legit_core
            assert sinks["legit"].streams == [sinks["legit"].streams[0]]  # never replaced

            # 2. the room is full: a third sender is told busy and queued
            queued = sender(clips[2], "queued")
            tasks["queued"] = asyncio.create_task(queued.run())
            await _until(lambda: queued._client and len(receiver.waiting) == 1, 20, "queued")
            queued_id = queued._client.peer_id
            await _until(lambda: queued.session.peer_count == 0, 20, "busy")
            assert "queued" not in sinks

            # 3. the intruder leaves: its slot is freed, no stall, the queued sender gets it
            tasks.pop("intruder").cancel()
            await _until(lambda: sinks["intruder"].closed, 20, "the intruder's slot freed")
            before = sinks["legit"].frames
            await _until(lambda: sinks["legit"].frames >= before + 10, 20, "frames after it left")
            await _until(lambda: receiver.participant_of(queued_id) is not None, 20, "handover")
            await _until(lambda: sinks["queued"].frames >= 5, 40, "the queued sender's frames")
            assert receiver.participant_of(legit_id).core is legit_core
            assert len(sinks["legit"].streams) == 1
            assert [p.info.label for p in room.participants] == ["legit", "queued"]
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            await runner.cleanup()
            for capture in captures:
                capture.close()

    asyncio.run(asyncio.wait_for(run(), 150))
