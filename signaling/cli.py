"""`vid2vid-signal`: run the signaling server and the browser demo page."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from aiohttp import web

from vid2vid.errors import Vid2VidError
from vid2vid.signaling.config import SignalingConfig, parse_room_token
from vid2vid.signaling.server import create_app

TOKEN_ENV = "VID2VID_SIGNAL_TOKEN"


def _parser() -> argparse.ArgumentParser:
    d = SignalingConfig()
    p = argparse.ArgumentParser(
        prog="vid2vid-signal",
        description="Signaling server for vid2vid calls (rooms over WebSocket) and the demo page.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default=d.host, help="address to listen on")
    p.add_argument("--port", type=int, default=d.port, help="TCP port; 0 picks a free one")
    p.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"shared secret for every room without its own --room-token (env {TOKEN_ENV}); "
        "unset: rooms are open",
    )
    p.add_argument(
        "--room-token",
        action="append",
        default=[],
        metavar="ROOM=TOKEN",
        help="secret for one room (repeatable); replaces --token for that room",
    )
    p.add_argument(
        "--max-message-bytes",
        type=int,
        default=d.max_message_bytes,
        help="largest WebSocket message accepted (bigger ones close with 1009)",
    )
    p.add_argument(
        "--max-peers",
        type=int,
        default=d.max_peers_per_room,
        help="peers per room (more close with 4003)",
    )
    p.add_argument(
        "--max-rooms", type=int, default=d.max_rooms, help="rooms at once (more close with 4004)"
    )
    p.add_argument(
        "--log-level",
        type=str.upper,
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level",
    )
    return p


async def _serve(config: SignalingConfig) -> None:
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"vid2vid-signal listening on http://{shown}:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = SignalingConfig(
            host=args.host,
            port=args.port,
            token=args.token or None,
            room_tokens=dict(parse_room_token(t) for t in args.room_token),
            max_message_bytes=args.max_message_bytes,
            max_peers_per_room=args.max_peers,
            max_rooms=args.max_rooms,
        )
        asyncio.run(_serve(config))
    except Vid2VidError as exc:
        print(f"vid2vid-signal: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"vid2vid-signal: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
