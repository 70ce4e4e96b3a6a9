"""``vid2vid-recv``: join a room, rebuild the sender's face, show it, record it or serve it."""

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
from vid2vid.call.control import MAX_VIEW_DEGREES, View
from vid2vid.call.heartbeat import HeartbeatConfig, add_heartbeat_argument
from vid2vid.call.media import LatestFrameTrack
from vid2vid.call.rtc import run
from vid2vid.call.stats import percentiles
from vid2vid.codec.cli_args import add_view_arguments
from vid2vid.engines.runtime import open_runtime
from vid2vid.errors import ConfigError, Vid2VidError
from vid2vid.logs import repeats_limited
from vid2vid.receiver.app import ReceiverApp, SignalingOptions
from vid2vid.receiver.core import ReceiverCore
from vid2vid.receiver.sinks import FileSink, Sinks, TrackSink, WindowSink
from vid2vid.signaling.credentials import add_secret_file_arguments, resolve_secret_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-recv",
        description="Receive a vid2vid call and rebuild the face with the model: in a window, "
        "to a file, or as a WebRTC video for the browser page.",
    )
    parser.add_argument("--show", action="store_true", help="show the call in an OpenCV window")
    parser.add_argument("--out", type=Path, default=None, help="record the call to this .mp4")
    parser.add_argument(
        "--serve", action="store_true", help="answer browser viewers with the rebuilt video"
    )
    parser.add_argument(
        "--serve-size",
        type=int,
        default=512,
        help="pixels on a side of the served video (default: 512)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="exit when the sender's stream ends (a file without --loop)",
    )
    add_common_arguments(parser)
    add_secret_file_arguments(parser)
    add_heartbeat_argument(parser)
    add_view_arguments(parser)
    parser.add_argument(
        "--jitter-ms",
        type=float,
        default=30.0,
        help="how long a packet waits for a missing one before it (default: 30)",
    )
    return parser


async def _print_stats(core: ReceiverCore) -> None:
    while True:
        await asyncio.sleep(1.0)
        print(f"recv {core.call_state} {core.stats.line()}", file=sys.stderr)


async def _main(args: argparse.Namespace, heartbeat: HeartbeatConfig) -> int:
    loaded = load_model(args, "vid2vid-recv")
    runtime = open_runtime(loaded, args.engine, args.device)
    sinks: list = []
    file_sink = None
    if args.out is not None:
        file_sink = FileSink(args.out, fps=lambda: core.fps)  # the sender's, from its hello
        sinks.append(file_sink)
    if args.show:
        sinks.append(WindowSink())
    track = LatestFrameTrack(size=args.serve_size) if args.serve else None
    if track is not None:
        sinks.append(TrackSink(track))
    sink = Sinks(sinks)
    core = ReceiverCore(loaded, runtime, sink, hold_ms=args.jitter_ms)
    core.set_view(View(args.yaw, args.pitch, args.roll))
    await asyncio.get_running_loop().run_in_executor(None, core.warm_up)
    app = ReceiverApp(
        core,
        SignalingOptions(args.peer, args.room, args.token),
        ice_config(args),
        track,
        args.once,
        heartbeat,
    )
    cancel_on_signals()
    stats = asyncio.create_task(_print_stats(core)) if args.stats else None
    try:
        await app.run()
    except asyncio.CancelledError:
        pass  # Ctrl-C / SIGTERM: close the file properly below
    finally:
        if stats is not None:
            stats.cancel()
        sink.close()
    g2g = percentiles(core.stats.all_stages.get("glass_to_glass", []))
    print(
        f"recv done: {core.stats.totals.get('frames', 0)} frames rendered (when rendering "
        "falls behind only the newest pose is drawn, and lost packets hold the last one)"
        + (
            f", {file_sink.frames} written to {args.out} (the file keeps the sender's "
            "timeline: frames not rendered are filled with the last one)"
            if file_sink
            else ""
        )
        + (f", glass-to-glass p50 {g2g['p50']:.0f} ms p95 {g2g['p95']:.0f} ms" if g2g["n"] else ""),
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    with repeats_limited():  # what peers do wrong is logged at a bounded rate
        return _command(args)


def _command(args: argparse.Namespace) -> int:
    try:
        if not (args.show or args.out or args.serve):
            raise ConfigError("choose at least one of --show, --out and --serve")
        for name in ("yaw", "pitch", "roll"):
            if abs(getattr(args, name)) > MAX_VIEW_DEGREES:
                raise ConfigError(f"--{name} must be within ±{MAX_VIEW_DEGREES:g} degrees")
        if not 16 <= args.serve_size <= 2048 or args.serve_size % 2:
            raise ConfigError(f"--serve-size must be even and in 16..2048, got {args.serve_size}")
        resolve_secret_arguments(args)
        heartbeat = HeartbeatConfig.with_timeout(args.peer_timeout)
        return run(lambda: _main(args, heartbeat))
    except Vid2VidError as exc:
        print(f"vid2vid-recv: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
