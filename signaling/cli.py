"""`vid2vid-signal`: run the signaling server and the browser demo page."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from vid2vid.errors import Vid2VidError
from vid2vid.logs import repeats_limited
from vid2vid.signaling.config import SignalingConfig, parse_room_token
from vid2vid.signaling.credentials import SecretSource, resolve_secret
from vid2vid.signaling.server import create_app

TOKEN_ENV = "VID2VID_SIGNAL_TOKEN"
TOKEN = SecretSource("--token", TOKEN_ENV)


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
        default=None,
        help=f"shared secret for every room without its own --room-token (or env {TOKEN_ENV}, "
        "or --token-file: a command line is visible in ps); unset: rooms are open",
    )
    p.add_argument(
        "--token-file", type=Path, default=None, metavar="PATH", help="read --token from a file"
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
        help="largest WebSocket message accepted, in bytes (bigger ones close with 1009)",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="URL",
        help="a browser origin (http(s)://host[:port]) that may open the WebSocket besides the "
        "server's own page; repeatable; * allows any (others close with 4005)",
    )
    p.add_argument(
        "--max-connections-per-ip",
        type=int,
        default=d.max_connections_per_ip,
        help="WebSockets open at once from one address (more close with 4008)",
    )
    p.add_argument(
        "--max-messages-per-s",
        type=float,
        default=d.messages_per_s,
        help="sustained messages a second from one address, joins included (more close with 4029)",
    )
    p.add_argument(
        "--message-burst",
        type=int,
        default=d.message_burst,
        help="messages one address may send at once above that rate",
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
    with repeats_limited():  # a client must not write the log at its own rate
        return _command(args)


def _command(args: argparse.Namespace) -> int:
    try:
        config = SignalingConfig(
            host=args.host,
            port=args.port,
            token=resolve_secret(TOKEN, args.token, args.token_file, dict(os.environ)),
            room_tokens=dict(parse_room_token(t) for t in args.room_token),
            max_message_bytes=args.max_message_bytes,
            max_peers_per_room=args.max_peers,
            max_rooms=args.max_rooms,
            allowed_origins=tuple(args.allow_origin),
            max_connections_per_ip=args.max_connections_per_ip,
            messages_per_s=args.max_messages_per_s,
            message_burst=args.message_burst,
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
