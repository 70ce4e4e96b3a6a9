"""``vid2vid-recv``: join a room, rebuild every sender's face, show, record or serve them.

Each sender of the room is a participant with its own sink: ``--out call.mp4`` writes
``call-<name>.mp4`` per participant (its ``--name``, else ``peer-<peer id>``; ``-2``, ``-3``
when a label comes again), ``--show`` opens a window each, ``--serve`` gives each a video
track (a tile of the browser page's grid). :func:`add_room_arguments` and :func:`open_room`
are shared with ``vid2vid-call``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from vid2vid.call.cli import (
    add_common_arguments,
    cancel_on_signals,
    ice_config,
    load_model,
    setup_logging,
)
from vid2vid.call.control import MAX_VIEW_DEGREES
from vid2vid.call.heartbeat import HeartbeatConfig, add_heartbeat_argument
from vid2vid.call.media import LatestFrameTrack
from vid2vid.call.rtc import run
from vid2vid.call.stats import percentiles
from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.cli_args import add_view_arguments
from vid2vid.codec.keypoints import FreeView
from vid2vid.codec.stream import Runtime
from vid2vid.engines.runtime import open_runtime
from vid2vid.errors import ConfigError, Vid2VidError
from vid2vid.logs import repeats_limited
from vid2vid.receiver.app import ReceiverApp, SignalingOptions
from vid2vid.receiver.core import FrameSink
from vid2vid.receiver.room import (
    DEFAULT_MAX_PARTICIPANTS,
    ParticipantInfo,
    ReceiverRoom,
    participant_path,
)
from vid2vid.receiver.sinks import FileSink, Sinks, TrackSink, WindowSink
from vid2vid.signaling.client import check_name
from vid2vid.signaling.credentials import add_secret_file_arguments, resolve_secret_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-recv",
        description="Receive every sender of a room and rebuild their faces with the model: "
        "in windows, to files, or as WebRTC videos for the browser page (one per sender).",
    )
    add_room_arguments(parser)
    parser.add_argument(
        "--once",
        action="store_true",
        help="exit when every sender's stream has ended (files without --loop)",
    )
    add_common_arguments(parser)
    add_secret_file_arguments(parser)
    add_heartbeat_argument(parser)
    add_view_arguments(parser)
    return parser


def add_room_arguments(parser: argparse.ArgumentParser) -> None:
    """What a receiving end does with the participants it renders (vid2vid-recv and -call)."""
    parser.add_argument(
        "--show", action="store_true", help="show each participant in an OpenCV window"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="record each participant to its own file: OUT with -NAME inserted before the "
        "suffix, e.g. call.mp4 -> call-alice.mp4 (NAME: its --name, else peer-<peer id>; "
        "-2, -3 added when a name comes again)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="answer browser viewers with one rebuilt video per participant (the page's grid)",
    )
    parser.add_argument(
        "--serve-size",
        type=int,
        default=512,
        help="pixels on a side of each served video (default: 512)",
    )
    parser.add_argument(
        "--name",
        default=None,
        help="this peer's name in the room: labels its tiles and files at the other ends "
        "(1-32 of A-Z a-z 0-9 _ . -; default: derived from the peer id)",
    )
    parser.add_argument(
        "--max-participants",
        type=int,
        default=DEFAULT_MAX_PARTICIPANTS,
        help="senders rendered at once; more are told busy and get the next free slot "
        f"(default: {DEFAULT_MAX_PARTICIPANTS})",
    )
    parser.add_argument(
        "--jitter-ms",
        type=float,
        default=30.0,
        help="how long a packet waits for a missing one before it (default: 30)",
    )


def check_room_arguments(args: argparse.Namespace, need_output: bool = True) -> None:
    """Refuse bad room arguments with one clear line (ConfigError)."""
    if need_output and not (args.show or args.out or args.serve):
        raise ConfigError("choose at least one of --show, --out and --serve")
    for name in ("yaw", "pitch", "roll"):
        if abs(getattr(args, name)) > MAX_VIEW_DEGREES:
            raise ConfigError(f"--{name} must be within ±{MAX_VIEW_DEGREES:g} degrees")
    if not 16 <= args.serve_size <= 2048 or args.serve_size % 2:
        raise ConfigError(f"--serve-size must be even and in 16..2048, got {args.serve_size}")
    if not 1 <= args.max_participants <= 64:
        raise ConfigError(f"--max-participants must be in 1..64, got {args.max_participants}")
    try:
        check_name(args.name)
    except Vid2VidError as exc:
        raise ConfigError(f"--{exc}") from None


class RoomOutputs:
    """The sinks of every participant: a file, a window and a tile's track each, as asked."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.out: Path | None = args.out
        self.show: bool = args.show
        self.tracks = (
            [LatestFrameTrack(size=args.serve_size) for _ in range(args.max_participants)]
            if args.serve
            else []
        )
        self.files: list[FileSink] = []
        self.room: ReceiverRoom | None = None
        self._taken: set[Path] = set()

    def __call__(self, info: ParticipantInfo) -> FrameSink:
        sinks: list[FrameSink] = []
        if self.out is not None:
            path = participant_path(self.out, info.label, self._taken)
            file_sink = FileSink(path, fps=lambda: self._fps(info))  # the sender's, from hello
            self.files.append(file_sink)
            sinks.append(file_sink)
        if self.show:
            sinks.append(WindowSink(f"vid2vid {info.label}"))
        if self.tracks:
            sinks.append(TrackSink(self.tracks[info.tile]))
        return Sinks(sinks)

    def _fps(self, info: ParticipantInfo) -> float | None:
        participant = self.room.participant(info.slot) if self.room is not None else None
        return participant.core.fps if participant is not None else None


def open_room(
    args: argparse.Namespace, loaded: LoadedModel, runtime: Runtime
) -> tuple[ReceiverRoom, RoomOutputs]:
    """The room of a receiving end, with its outputs as the arguments ask."""
    outputs = RoomOutputs(args)
    room = ReceiverRoom(
        loaded,
        runtime,
        outputs,
        view=FreeView(yaw=args.yaw, pitch=args.pitch, roll=args.roll),
        hold_ms=args.jitter_ms,
        max_participants=args.max_participants,
    )
    outputs.room = room
    return room, outputs


def room_done_line(room: ReceiverRoom, outputs: RoomOutputs, prog: str = "recv") -> str:
    """The last line, in words: what was rendered and written, per participant file."""
    g2g = percentiles(room.all_latencies())
    files = "; ".join(f"{sink.frames} frames to {sink.path}" for sink in outputs.files)
    return (
        f"{prog} done: {room.total_frames()} frames rendered from {room.joined} participant(s) "
        "(when rendering falls behind only the newest pose is drawn, and lost packets hold the "
        "last one)"
        + (
            f"; written: {files} (each file keeps its sender's timeline: frames not rendered "
            "are filled with the last one)"
            if files
            else ""
        )
        + (f", glass-to-glass p50 {g2g['p50']:.0f} ms p95 {g2g['p95']:.0f} ms" if g2g["n"] else "")
    )


async def print_room_stats(room: ReceiverRoom, prog: str = "recv") -> None:
    """Once a second: the room's state and each participant's line (--stats)."""
    while True:
        await asyncio.sleep(1.0)
        print(f"{prog} {room.call_state} participants {len(room.participants)}", file=sys.stderr)
        for participant in room.participants:
            core = participant.core
            print(
                f"{prog} {core.call_state} [{participant.info.label}] {core.stats.line()}",
                file=sys.stderr,
            )


async def _main(args: argparse.Namespace, heartbeat: HeartbeatConfig) -> int:
    loaded = load_model(args, "vid2vid-recv")
    runtime = open_runtime(loaded, args.engine, args.device)
    room, outputs = open_room(args, loaded, runtime)
    await asyncio.get_running_loop().run_in_executor(None, room.warm_up)
    app = ReceiverApp(
        room,
        SignalingOptions(args.peer, args.room, args.token, args.name),
        ice_config(args),
        outputs.tracks,
        args.once,
        heartbeat,
    )
    cancel_on_signals()
    stats = asyncio.create_task(print_room_stats(room)) if args.stats else None
    try:
        await app.run()
    except asyncio.CancelledError:
        pass  # Ctrl-C / SIGTERM: close the files properly below
    finally:
        if stats is not None:
            stats.cancel()
        room.close()
    print(room_done_line(room, outputs), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    with repeats_limited():  # what peers do wrong is logged at a bounded rate
        return _command(args)


def _command(args: argparse.Namespace) -> int:
    try:
        check_room_arguments(args)
        resolve_secret_arguments(args)
        heartbeat = HeartbeatConfig.with_timeout(args.peer_timeout)
        return run(lambda: _main(args, heartbeat))
    except Vid2VidError as exc:
        print(f"vid2vid-recv: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
