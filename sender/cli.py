"""``vid2vid-send``: join a room and send a camera or a video file as keyframe + motion.

:func:`add_source_arguments` and :func:`open_session` are shared with ``vid2vid-call``.
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
from vid2vid.call.heartbeat import HeartbeatConfig, add_heartbeat_argument
from vid2vid.call.rtc import run
from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.cli_args import add_coding_arguments
from vid2vid.codec.stream import Runtime
from vid2vid.engines.runtime import open_runtime
from vid2vid.errors import Vid2VidError
from vid2vid.logs import repeats_limited
from vid2vid.sender.app import SenderApp, SignalingOptions
from vid2vid.sender.capture import open_capture
from vid2vid.sender.h264_reference import FLOOR_CRF
from vid2vid.sender.pipeline import SenderConfig, SendPipeline
from vid2vid.sender.session import SenderSession
from vid2vid.signaling.client import check_name
from vid2vid.signaling.credentials import add_secret_file_arguments, resolve_secret_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-send",
        description="Send your face as one keyframe plus a few dozen bytes of motion per frame "
        "to every receiver of a room (WebRTC data channels).",
    )
    add_source_arguments(parser)
    parser.add_argument(
        "--name",
        default=None,
        help="your name in the room: labels your tile and file at the receivers "
        "(1-32 of A-Z a-z 0-9 _ . -; default: derived from the peer id)",
    )
    add_common_arguments(parser)
    add_secret_file_arguments(parser)
    add_heartbeat_argument(parser)
    parser.add_argument(
        "--preview",
        action="store_true",
        help="answer browser viewers with the camera picture as a video track",
    )
    return parser


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """The source and how it is coded (vid2vid-send and vid2vid-call)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--camera", type=int, default=None, help="OpenCV camera index, e.g. 0")
    source.add_argument(
        "--video", type=Path, default=None, help="video file, played at its own frame rate"
    )
    parser.add_argument("--loop", action="store_true", help="play --video again and again")
    add_coding_arguments(parser)
    parser.add_argument(
        "--h264-crf",
        type=int,
        default=None,
        help="also encode the face crops with x264 at this CRF (0..51) and report its kbit/s "
        "beside the motion's, so viewers see what H.264 would need (default: 51, x264's "
        "coarsest constant quality, with --preview; else off)",
    )
    parser.add_argument(
        "--pack",
        type=int,
        default=1,
        help="motion packets per data-channel message, 1..15: N cuts the per-message wire "
        "framing (about 93 bytes) N-fold and adds (N - 1) / fps of latency to every frame, "
        "e.g. 40 ms for 2 at 25 fps (default: 1)",
    )


def done_line(totals: dict[str, int]) -> str:
    """The last line, in words: what was sent and why a clip's frame count may be more."""
    sent, faceless = totals.get("frames", 0), totals.get("frames_without_face", 0)
    return (
        f"send done: {sent} frames sent as motion packets"
        + (f", {faceless} captured without a face (nothing sent)" if faceless else "")
        + "; captured frames the worker had no time for were skipped (in a call the newest "
        "frame wins), so a clip may have more frames than were sent"
    )


async def _print_stats(session: SenderSession) -> None:
    while True:
        await asyncio.sleep(1.0)
        print(f"send {session.stats.line()} | receivers {session.peer_count}", file=sys.stderr)


async def open_session(
    args: argparse.Namespace, loaded: LoadedModel, runtime: Runtime, preview: bool = False
) -> SenderSession:
    """The capture and the send pipeline as the arguments ask, warmed up (the caller closes
    ``session.capture``)."""
    capture = open_capture(args.camera, args.video, args.loop)
    try:
        h264_crf = args.h264_crf if args.h264_crf is not None or not preview else FLOOR_CRF
        config = SenderConfig(
            quality=args.quality,
            intra_period_s=args.intra_period,
            keyframe=args.keyframe,
            h264_crf=h264_crf,
            pack=args.pack,
        )
        pipeline = SendPipeline(loaded, runtime, config, capture.fps)
        await asyncio.get_running_loop().run_in_executor(None, pipeline.warm_up)
    except BaseException:
        capture.close()
        raise
    return SenderSession(pipeline, capture)


async def _main(args: argparse.Namespace, heartbeat: HeartbeatConfig) -> int:
    loaded = load_model(args, "vid2vid-send")
    runtime = open_runtime(loaded, args.engine, args.device)
    session = await open_session(args, loaded, runtime, args.preview)
    capture = session.capture
    app = SenderApp(
        session,
        SignalingOptions(args.peer, args.room, args.token, args.name),
        ice_config(args),
        args.preview,
        heartbeat,
    )
    stats = asyncio.create_task(_print_stats(session)) if args.stats else None
    cancel_on_signals()
    try:
        await app.run()
    except asyncio.CancelledError:
        pass  # Ctrl-C / SIGTERM: say bye to the peers and close below
    finally:
        if stats is not None:
            stats.cancel()
        capture.close()
    print(done_line(session.stats.totals), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    with repeats_limited():  # what peers do wrong is logged at a bounded rate
        return _command(args)


def _command(args: argparse.Namespace) -> int:
    if args.loop and args.video is None:
        print("vid2vid-send: error: --loop needs --video", file=sys.stderr)
        return 2
    try:
        check_name(args.name)
        resolve_secret_arguments(args)
        heartbeat = HeartbeatConfig.with_timeout(args.peer_timeout)
        return run(lambda: _main(args, heartbeat))
    except Vid2VidError as exc:
        print(f"vid2vid-send: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
