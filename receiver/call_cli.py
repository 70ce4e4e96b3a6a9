"""``vid2vid-call``: one person in a room where everyone sends and receives.

Sends a camera or a clip (as ``vid2vid-send`` does) and renders every other participant (as
``vid2vid-recv`` does), over one signaling connection
(:class:`~vid2vid.receiver.call_app.CallApp`). ``vid2vid-send`` and ``vid2vid-recv`` peers in the
same room take part too: a send-only peer is rendered here, a receive-only one renders this
participant.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from vid2vid.call.cli import (
    add_common_arguments,
    cancel_on_signals,
    ice_config,
    load_model,
    setup_logging,
)
from vid2vid.call.heartbeat import HeartbeatConfig, add_heartbeat_argument
from vid2vid.call.rtc import run
from vid2vid.codec.cli_args import add_view_arguments
from vid2vid.engines.runtime import open_runtime
from vid2vid.errors import ConfigError, Vid2VidError
from vid2vid.logs import repeats_limited
from vid2vid.receiver.call_app import CallApp, SignalingOptions
from vid2vid.receiver.cli import (
    add_room_arguments,
    check_room_arguments,
    open_room,
    print_room_stats,
    room_done_line,
)
from vid2vid.sender.cli import add_source_arguments, done_line, open_session
from vid2vid.signaling.credentials import add_secret_file_arguments, resolve_secret_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-call",
        description="Join a room as a participant: send your camera or a clip as keyframe + "
        "motion to everyone, and rebuild every other participant's face (in windows, to "
        "files, or as one WebRTC video each for the browser page).",
    )
    add_source_arguments(parser)
    add_room_arguments(parser)
    add_common_arguments(parser)
    add_secret_file_arguments(parser)
    add_heartbeat_argument(parser)
    add_view_arguments(parser)
    return parser


async def _print_stats(app: CallApp) -> None:
    room_stats = asyncio.create_task(print_room_stats(app.room, "call"))
    try:
        while True:
            await asyncio.sleep(1.0)
            session = app.session
            print(
                f"call send {session.stats.line()} | receivers {session.peer_count}",
                file=sys.stderr,
            )
    finally:
        room_stats.cancel()


async def _main(args: argparse.Namespace, heartbeat: HeartbeatConfig) -> int:
    loaded = load_model(args, "vid2vid-call")
    runtime = open_runtime(loaded, args.engine, args.device)
    room, outputs = open_room(args, loaded, runtime)
    await asyncio.get_running_loop().run_in_executor(None, room.warm_up)
    session = await open_session(args, loaded, runtime)
    app = CallApp(
        session,
        room,
        SignalingOptions(args.peer, args.room, args.token, args.name),
        ice_config(args),
        outputs.tracks,
        heartbeat,
    )
    stats = asyncio.create_task(_print_stats(app)) if args.stats else None
    cancel_on_signals()
    try:
        await app.run()
    except asyncio.CancelledError:
        pass  # Ctrl-C / SIGTERM: say bye, close the files properly below
    finally:
        if stats is not None:
            stats.cancel()
        room.close()
        session.capture.close()
    print(done_line(session.stats.totals), file=sys.stderr)
    print(room_done_line(room, outputs, "call"), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    with repeats_limited():  # what peers do wrong is logged at a bounded rate
        return _command(args)


def _command(args: argparse.Namespace) -> int:
    try:
        if args.loop and args.video is None:
            raise ConfigError("--loop needs --video")
        check_room_arguments(args)
        resolve_secret_arguments(args)
        heartbeat = HeartbeatConfig.with_timeout(args.peer_timeout)
        return run(lambda: _main(args, heartbeat))
    except Vid2VidError as exc:
        print(f"vid2vid-call: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
