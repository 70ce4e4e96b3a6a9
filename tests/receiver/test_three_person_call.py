"""A real three-person call: everyone sends and receives, a late joiner, a leaver, and a
send-only and a receive-only peer in the same room.

Real parts in one event loop: the aiohttp signaling server on a loopback port, the apps with
real aiortc peer connections (one per direction between two participants), the tiny model and
the shared clips; every participant records each remote one to its own file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from support.recorder import Recorder
from vid2vid.codec.checkpoint import load_weights
from vid2vid.codec.video import VideoReader
from vid2vid.engines.runtime import open_runtime
from vid2vid.receiver.app import ReceiverApp
from vid2vid.receiver.call_app import CallApp, SignalingOptions
from vid2vid.receiver.room import ParticipantInfo, ReceiverRoom, participant_path
from vid2vid.receiver.sinks import FileSink, Sinks
from vid2vid.sender.app import SenderApp
from vid2vid.sender.capture import FileCapture
from vid2vid.sender.pipeline import SenderConfig, SendPipeline
from vid2vid.sender.session import SenderSession

from .test_reconnect import LOOPBACK, _start_server, _until

CLIPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips"


class Person:
    """One end's room: a recorder per remote participant, and a file each under ``folder``."""

    def __init__(self, name: str, loaded, runtime, folder: Path) -> None:
        self.name = name
        self.recorders: dict[str, Recorder] = {}
        self.files: dict[str, FileSink] = {}
        self._taken: set[Path] = set()
        self.folder = folder
        self.room = ReceiverRoom(loaded, runtime, self._sink)

    def _sink(self, info: ParticipantInfo) -> Sinks:
        recorder = self.recorders[info.label] = Recorder()
        path = participant_path(self.folder / f"{self.name}.mp4", info.label, self._taken)
        file_sink = self.files[info.label] = FileSink(path, fps=25.0)
        return Sinks([recorder, file_sink])

    def frames_from(self, label: str) -> int:
        recorder = self.recorders.get(label)
        return 0 if recorder is None else sum(f.sequence is not None for f in recorder.frames)

    def names(self) -> list[str]:
        return [p.info.label for p in self.room.participants]


@pytest.mark.slow
def test_three_people_see_each_other_and_send_only_and_receive_only_peers_join_in(tmp_path):
    clips = [CLIPS / f"lp_d{i}.mp4" for i in (0, 10, 11, 12)]
    if not all(c.is_file() for c in clips):
        pytest.skip(f"shared data absent: {CLIPS}")
    loaded = load_weights(None, "tiny")
    runtime = open_runtime(loaded, "torch")

    async def run():
        runner, port = await _start_server()
        url = f"http://127.0.0.1:{port}"
        captures: list[FileCapture] = []
        tasks: dict[str, asyncio.Task] = {}

        def session(clip: Path) -> SenderSession:
            capture = FileCapture(clip, loop=True)
            captures.append(capture)
            return SenderSession(
                SendPipeline(loaded, runtime, SenderConfig(), capture.fps), capture
            )

        people: dict[str, Person] = {}

        def participant(name: str, clip: Path) -> CallApp:
            person = people[name] = Person(name, loaded, runtime, tmp_path)
            options = SignalingOptions(url, "meet", name=name)
            app = CallApp(session(clip), person.room, options, LOOPBACK)
            tasks[name] = asyncio.create_task(app.run())
            return app

        try:
            alice = participant("alice", clips[0])
            bob = participant("bob", clips[1])
            a, b = people["alice"], people["bob"]
            await _until(lambda: a.frames_from("bob") >= 3 and b.frames_from("alice") >= 3, 60,
                         "alice and bob see each other")  # fmt: skip

            # carol joins late: she gets both keyframes, and both of them get hers
            participant("carol", clips[2])
            c = people["carol"]
            await _until(
                lambda: min(c.frames_from("alice"), c.frames_from("bob"),
                            a.frames_from("carol"), b.frames_from("carol")) >= 3,
                60, "carol in the call",
            )  # fmt: skip
            assert sorted(a.names()) == ["bob", "carol"] and sorted(c.names()) == ["alice", "bob"]
            carol_keyframes = {
                p.info.label: p.core.stats.totals.get("keyframes", 0) for p in c.room.participants
            }

            # a send-only vid2vid-send peer and a receive-only vid2vid-recv peer join
            dave = SenderApp(session(clips[3]), SignalingOptions(url, "meet", name="dave"),
                             LOOPBACK)  # fmt: skip
            tasks["dave"] = asyncio.create_task(dave.run())
            erin = Person("erin", loaded, runtime, tmp_path)
            tasks["erin"] = asyncio.create_task(
                ReceiverApp(erin.room, SignalingOptions(url, "meet", name="erin"), LOOPBACK).run()
            )
            await _until(
                lambda: min([erin.frames_from(n) for n in ("alice", "bob", "carol", "dave")]
                            + [p.frames_from("dave") for p in (a, b, c)]) >= 3,
                90, "the send-only and receive-only peers",
            )  # fmt: skip
            assert "erin" not in a.names()  # she sends nothing: no tile for her

            # carol leaves (bye): her slot is freed everywhere, the others go on
            carol_task = tasks.pop("carol")
            carol_task.cancel()
            await asyncio.gather(carol_task, return_exceptions=True)
            await _until(
                lambda: all("carol" not in p.names() for p in (a, b, erin)), 20, "carol's slots"
            )
            assert all(p.recorders["carol"].closed for p in (a, b, erin))
            assert not any(s["name"] == "carol" for s in a.room.snapshot()["participants"])
            before = (a.frames_from("bob"), b.frames_from("alice"))
            await _until(
                lambda: a.frames_from("bob") > before[0] + 3 and b.frames_from("alice") > before[1] + 3,
                30, "alice and bob after carol left",
            )  # fmt: skip
            assert alice.session.peer_count == 2 and bob.session.peer_count == 2  # bob/alice, erin
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            await runner.cleanup()
            for capture in captures:
                capture.close()
            for person in [*people.values()]:
                person.room.close()
        return people, carol_keyframes

    people, carol_keyframes = asyncio.run(asyncio.wait_for(run(), 240))
    # the late joiner got each sender's keyframe (a sender may send a new one: at least one)
    assert set(carol_keyframes) == {"alice", "bob"} and min(carol_keyframes.values()) >= 1
    # one file per remote participant, each with that participant's frames
    for name, others in (("alice", ["bob", "carol", "dave"]), ("bob", ["alice", "carol", "dave"])):
        for other in others:
            path = tmp_path / f"{name}-{other}.mp4"
            assert path.is_file(), f"{path} missing"
            with VideoReader(path) as reader:
                assert sum(1 for _ in reader) >= 3, path
    assert not (tmp_path / "alice-alice.mp4").exists()  # nobody records themselves
