"""Glass-to-glass latency and wire rate of a live call on loopback, per stage.

A real sender (file capture paced at the clip's frame rate, face tracking, motion extraction,
coding) and a real receiver (jitter buffer, render) in one process, joined by two aiortc peer
connections over 127.0.0.1 (the SDP is handed over directly: signaling is not on the media
path). For each model it runs ``--seconds`` of the clip (looping) and reports p50/p95 of every
stage, from the capture timestamp to the frame ready at the receiver, and the rate on the wire:
the motion payload (headers included), the DTLS transport's bytes (SCTP and DTLS framing), and
every UDP datagram each end sent with its IP/UDP header (:class:`~vid2vid.call.wire.DatagramTap`,
ICE consent checks included), forward and back, all after the keyframe. ``--pack`` and ``--ack``
choose the wire settings the call uses (see ``python -m vid2vid.bench.wire`` for all of them).

    python -m vid2vid.bench.call_latency --models tiny paper-256 --seconds 20
    python -m vid2vid.bench.call_latency --models tiny --pack 2 --ack rfc

Sender and receiver share this machine's cores, as they would on one laptop; the figures for a
model the CPU cannot run in real time show how far behind it falls (the newest frame wins).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import torch

from vid2vid.bench.wire import ACK_POLICIES
from vid2vid.call.rtc import IceConfig, connect_in_process, run, wire_bytes
from vid2vid.call.stats import percentiles
from vid2vid.call.wire import DatagramTap
from vid2vid.codec.checkpoint import load_weights
from vid2vid.engines.runtime import open_runtime
from vid2vid.receiver.core import ReceiverCore, RenderedFrame
from vid2vid.sender.capture import FileCapture
from vid2vid.sender.pipeline import SenderConfig, SendPipeline
from vid2vid.sender.session import SenderSession

DEFAULT_CLIP = Path("../shared/data/clips/lp_d0.mp4")
SENDER_STAGES = ("queue", "track", "motion", "encode", "capture_to_send")
RECEIVER_STAGES = ("capture_to_arrival", "buffer", "render", "sink", "glass_to_glass")


class _Counter:
    """The benchmark's sink: counts frames (the window/file sinks would add their own cost)."""

    def __init__(self) -> None:
        self.frames = 0

    def write(self, frame: RenderedFrame) -> None:
        self.frames += 1

    def close(self) -> None:
        pass


async def measure(
    model: str, clip: Path, seconds: float, engine: str, pack: int = 1, ack: str = "rfc"
) -> dict:
    loaded = load_weights(None, model)
    runtime = open_runtime(loaded, engine)
    capture = FileCapture(clip, loop=True)
    pipeline = SendPipeline(loaded, runtime, SenderConfig(pack=pack), capture.fps)
    pipeline.warm_up()
    sender_pc, receiver_pc, sending, receiving = await connect_in_process(
        IceConfig(hosts=("127.0.0.1",)), ack=ACK_POLICIES[ack]
    )
    forward_tap, back_tap = DatagramTap().install(sender_pc), DatagramTap().install(receiver_pc)
    sink = _Counter()
    core = ReceiverCore(loaded, runtime, sink, lambda m: receiving.send("control", m))
    core.warm_up()
    receiving.set_handler(core.on_message)
    session = SenderSession(pipeline, capture)
    session.add_peer("receiver", sending)
    render = asyncio.create_task(core.run())
    stream = asyncio.create_task(session.run())
    while core.stats.totals.get("keyframes", 0) == 0:  # the keyframe is not the steady rate
        await asyncio.sleep(0.05)
    start_wire, start_back = wire_bytes(sender_pc)[0], wire_bytes(receiver_pc)[0]
    start_ip = (forward_tap.sent, back_tap.sent)
    start_totals = (dict(session.stats.totals), dict(core.stats.totals))
    skip = {name: len(v) for name, v in session.stats.all_stages.items()}
    skip |= {name: len(v) for name, v in core.stats.all_stages.items()}
    start = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - start
    wire = wire_bytes(sender_pc)[0] - start_wire
    back = wire_bytes(receiver_pc)[0] - start_back
    forward_ip, back_ip = forward_tap.sent - start_ip[0], back_tap.sent - start_ip[1]

    def grew(totals: dict, before: dict, name: str) -> int:
        return totals.get(name, 0) - before.get(name, 0)

    motion = grew(session.stats.totals, start_totals[0], "motion_bytes")
    sent = grew(session.stats.totals, start_totals[0], "frames")
    rendered = grew(core.stats.totals, start_totals[1], "frames")
    for task in (stream, render):
        task.cancel()
    await asyncio.gather(stream, render, return_exceptions=True)
    capture.close()
    await sender_pc.close()
    await receiver_pc.close()

    def window(stats, name: str) -> dict:
        return percentiles(stats.all_stages.get(name, [])[skip.get(name, 0) :])

    stages = {name: window(session.stats, name) for name in SENDER_STAGES}
    stages |= {name: window(core.stats, name) for name in RECEIVER_STAGES}
    return {
        "model": model,
        "engine": runtime.name,
        "fingerprint": loaded.fingerprint,
        "trained": loaded.trained,
        "clip": str(clip),
        "torch_threads": torch.get_num_threads(),
        "clip_fps": capture.fps,
        "seconds": elapsed,
        "frames_sent": sent,
        "frames_rendered": rendered,
        "sent_fps": sent / elapsed,
        "motion_payload_kbps": motion * 8 / elapsed / 1000,
        "wire_kbps_dtls": wire * 8 / elapsed / 1000,
        "wire_back_kbps_dtls": back * 8 / elapsed / 1000,
        "pack": pack,
        "ack": ack,
        "wire_forward_kbps_ip": forward_ip.kbps(elapsed),
        "wire_return_kbps_ip": back_ip.kbps(elapsed),
        "keyframe_bytes": pipeline.keyframe_bytes,
        "ms": stages,
    }


def table(results: list[dict]) -> str:
    lines = []
    for r in results:
        lines.append(
            f"{r['model']} ({r['engine']}, {'trained' if r['trained'] else 'UNTRAINED'}): "
            f"{r['frames_sent']} frames sent ({r['sent_fps']:.1f} fps of {r['clip_fps']:g}), "
            f"{r['frames_rendered']} rendered in {r['seconds']:.1f} s"
        )
        lines.append(f"  {'stage':<18}{'p50 ms':>10}{'p95 ms':>10}{'n':>6}")
        for name, p in r["ms"].items():
            if p["n"]:
                lines.append(f"  {name:<18}{p['p50']:>10.1f}{p['p95']:>10.1f}{p['n']:>6}")
        lines.append(
            f"  motion payload {r['motion_payload_kbps']:.2f} kbit/s, on the wire (DTLS, SCTP "
            f"framing in) {r['wire_kbps_dtls']:.2f} kbit/s, back (SCTP acks) "
            f"{r['wire_back_kbps_dtls']:.2f} kbit/s; keyframe {r['keyframe_bytes']} B"
        )
        lines.append(
            f"  with UDP/IP headers and ICE checks (pack {r['pack']}, {r['ack']} acks): "
            f"forward {r['wire_forward_kbps_ip']:.2f} kbit/s, "
            f"return {r['wire_return_kbps_ip']:.2f} kbit/s"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.bench.call_latency", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=["tiny", "paper-256"],
        help="model presets (default: tiny paper-256)",
    )
    parser.add_argument(
        "--clip",
        type=Path,
        default=DEFAULT_CLIP,
        help=f"talking-head clip (default: {DEFAULT_CLIP})",
    )
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="measured seconds per model (default: 15)"
    )
    parser.add_argument("--engine", default="auto", help="runtime engine (default: auto)")
    parser.add_argument(
        "--pack",
        type=int,
        default=1,
        help="motion packets per data-channel message (default: 1; adds (N-1)/fps latency)",
    )
    parser.add_argument(
        "--ack",
        choices=sorted(ACK_POLICIES),
        default="rfc",
        help="SCTP acknowledgements: aiortc (one per packet), rfc (RFC 4960: every second "
        "packet or 200 ms, what calls use), lazy (every 16th or 500 ms) (default: rfc)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per process (default: torch's; 1 keeps the sender's and the "
        "receiver's workers from fighting over 2 cores)",
    )
    parser.add_argument(
        "--json", type=Path, default=Path("out/call_latency.json"), help="where the JSON goes"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.clip.is_file():
        print(f"call_latency: error: clip not found: {args.clip}", file=sys.stderr)
        return 1

    if args.threads is not None:
        torch.set_num_threads(args.threads)

    async def all_models() -> list[dict]:
        return [
            await measure(m, args.clip, args.seconds, args.engine, args.pack, args.ack)
            for m in args.models
        ]

    results = run(all_models)
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
