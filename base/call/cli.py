"""Command-line flags both ``vid2vid-send`` and ``vid2vid-recv`` take (one definition)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from vid2vid.call.rtc import IceConfig
from vid2vid.codec.checkpoint import LoadedModel, load_weights
from vid2vid.codec.cli_args import add_model_arguments


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--peer", required=True, help="signaling server base URL, e.g. http://127.0.0.1:8765"
    )
    parser.add_argument("--room", default="default", help="room to join (default: default)")
    parser.add_argument("--token", default=None, help="the room's shared secret, if it has one")
    add_model_arguments(parser)
    parser.add_argument(
        "--engine",
        choices=("auto", "torch", "onnx", "trt"),
        default="auto",
        help="compute backend (default: auto — TensorRT on a GPU when installed, else torch)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--ice-host",
        action="append",
        default=[],
        metavar="ADDR",
        help="use only this local address for ICE host candidates (repeatable; default: all "
        "but 127.0.0.1; on loopback pass 127.0.0.1)",
    )
    parser.add_argument("--stun", action="append", default=[], help="STUN server URL (repeatable)")
    parser.add_argument("--turn", action="append", default=[], help="TURN server URL (repeatable)")
    parser.add_argument("--turn-username", default=None, help="TURN user name")
    parser.add_argument("--turn-password", default=None, help="TURN password")
    parser.add_argument(
        "--stats", action="store_true", help="print fps, kbit/s and ms per stage every second"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")


def ice_config(args: argparse.Namespace) -> IceConfig:
    return IceConfig(
        hosts=tuple(args.ice_host),
        stun=tuple(args.stun),
        turn=tuple(args.turn),
        turn_username=args.turn_username,
        turn_password=args.turn_password,
    )


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # aioice/aiortc log every ICE check at INFO
        for name in ("aioice", "aiortc"):
            logging.getLogger(name).setLevel(logging.WARNING)


def load_model(args: argparse.Namespace, prog: str) -> LoadedModel:
    """The model on the CPU: the runtime moves it where ``--device`` says.

    Loading on the CPU lets a GPU engine (TensorRT, ONNX Runtime) run from an install whose
    torch has no CUDA, as in the receiver image; the torch runtime moves the model itself.
    Untrained weights are said once, by the line below (``announce=False``: not again by
    the loader's log).
    """
    loaded = load_weights(args.weights, args.config, device="cpu", announce=False)
    if not loaded.trained:
        print(
            f"WARNING: {prog} runs with UNTRAINED weights ({loaded.source}): the picture is not "
            f"a face. Model fingerprint {loaded.fingerprint}; the other end must use the same.",
            file=sys.stderr,
        )
    return loaded


def cancel_on_signals() -> None:
    """Ctrl-C and SIGTERM cancel the calling task, so its ``finally`` closes files and peers.

    Call it from the command's main coroutine; the caller catches ``CancelledError``.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
