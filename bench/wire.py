"""What a call costs on the wire, both ways: vid2vid over the data channel against H.264 over RTP.

Why: the codec's headline is bandwidth, and what a link carries is not the codec's payload but
datagrams: each motion message pays SCTP, DTLS, UDP and IP headers, and the receiver answers with
SCTP acknowledgements. This benchmark puts both codecs on real aiortc peer connections over
127.0.0.1 and counts every UDP datagram each end sends (:class:`~vid2vid.call.wire.DatagramTap`:
ICE consent checks included, IP/UDP headers added), on the same clips and the same face crops:

- **vid2vid**: the sender's real pipeline (face tracking, motion extraction, coding) makes the
  packets of each clip first; they are then replayed at the clip's frame rate over a real call
  for every setting of ``--settings``: ``--pack N`` (frames per message) and the SCTP
  acknowledgement policy (``aiortc``: a SACK per packet; ``rfc``: RFC 4960 §6.2's every second
  packet or 200 ms; ``lazy``: every 16th or 500 ms, past the RFC's SHOULDs, within its MUSTs:
  a call's default, :data:`~vid2vid.call.sack.CALL_POLICY`).
  Latency is capture (the replay's send time) to the moment the receiver's transport hands
  the packet on; "added" is the p95 above the plain setting's (pack 1, aiortc's acks).
- **H.264 over RTP/SRTP**: the same crops through x264 at each ``--crf`` (51 is x264's floor,
  the sender's live reference settings), the access units sent by a real aiortc video sender
  (its own H.264 RTP packetizer, header extensions, SRTP, RTCP sender reports); the receiving
  aiortc peer answers with RTCP receiver reports and REMB. A browser would add transport-wide
  congestion-control feedback on top: this is H.264's cheapest case.

Rates are over ``--seconds`` of steady streaming after one second of warm-up, so neither
keyframe (vid2vid's JPEG on the control channel, x264's IDR frame) is in them; both are listed.

    python -m vid2vid.bench.wire --clips lp_d0 lp_d6 lp_d19 --seconds 15

Each row also carries what the packetization model (:mod:`vid2vid.bench.wire_model`, the one
``vid2vid-bench`` reports from) computes for the same packets at the same times (``model``), so
every run checks the model against the real stacks.

prints a table and writes ``out/wire/wire.json`` and ``out/wire/wire.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from vid2vid.bench.wire_model import ACK_POLICIES, DataChannelModel, RtpModel, TimedPacket
from vid2vid.call.pack import MAX_PACK, PackingTransport
from vid2vid.call.rtc import IceConfig, connect_in_process, new_peer_connection, run
from vid2vid.call.wire import DatagramTap, WireCount
from vid2vid.codec.bitstream.header import PacketHeader
from vid2vid.errors import ConfigError

log = logging.getLogger(__name__)

CLIP_DIR = Path("../shared/data/clips")
LOOPBACK = IceConfig(hosts=("127.0.0.1",))
DEFAULT_SETTINGS = (
    "1:aiortc", "1:rfc", "2:rfc", "3:rfc", "1:lazy", "2:lazy", "3:lazy",
)  # fmt: skip
WARM_UP_S = 1.0
#: The goals of issue 17 (DESIGN, "on the wire").
GOAL_FORWARD_RATIO = 2.0
GOAL_RETURN_KBPS = 2.0
GOAL_ADDED_MS = 40.0
GOAL_H264_FRACTION = 0.2


@dataclass(frozen=True)
class WireSetting:
    """Frames per message and the acknowledgement policy of one vid2vid run."""

    pack: int
    ack: str

    def __post_init__(self) -> None:
        if not 1 <= self.pack <= MAX_PACK:
            raise ConfigError(f"pack must be in 1..{MAX_PACK}, got {self.pack}")
        if self.ack not in ACK_POLICIES:
            raise ConfigError(f"ack must be one of {sorted(ACK_POLICIES)}, got {self.ack!r}")

    @classmethod
    def parse(cls, text: str) -> WireSetting:
        pack, _, ack = text.partition(":")
        if not pack.isdigit():
            raise ConfigError(f"a setting is PACK:ACK, e.g. 2:rfc, got {text!r}")
        return cls(int(pack), ack or "rfc")

    @property
    def label(self) -> str:
        return f"pack {self.pack}, {self.ack} acks"


@dataclass
class ClipSource:
    """One clip coded both ways: per frame the motion packet (None: no face) and the x264
    access units of the same crop at each CRF."""

    clip: str
    fps: float
    model: str
    keyframe: list[bytes]
    motion: list[bytes | None]
    h264: dict[int, list[list[bytes]]] = field(default_factory=dict)


async def prepare(clip: Path, model: str, frames: int, crfs: list[int], crop: int) -> ClipSource:
    """Run the sender's pipeline and x264 over ``frames`` frames of ``clip`` (looping)."""
    from vid2vid.codec.checkpoint import load_weights
    from vid2vid.codec.face import CropConfig, FaceTracker
    from vid2vid.engines.runtime import open_runtime
    from vid2vid.sender.capture import FileCapture
    from vid2vid.sender.h264_reference import H264Reference
    from vid2vid.sender.pipeline import SenderConfig, SendPipeline

    loaded = load_weights(None, model)
    capture = FileCapture(clip, loop=True, pace=False)
    pipeline = SendPipeline(loaded, open_runtime(loaded, "auto"), SenderConfig(), capture.fps)
    tracker = FaceTracker(CropConfig(output_size=crop))
    x264 = {crf: H264Reference(crop, capture.fps, crf) for crf in crfs}
    source = ClipSource(clip.stem, capture.fps, model, [], [], {crf: [] for crf in crfs})
    try:
        async for frame in capture.frames():
            result = pipeline.process(frame)
            if result.keyframe and not source.keyframe:
                source.keyframe = result.keyframe
            source.motion.append(result.motion)
            face = tracker.update(frame.image).crop
            for crf, encoder in x264.items():
                source.h264[crf].append([] if face is None else encoder.encode_packets(face))
            if len(source.motion) >= frames:
                break
    finally:
        capture.close()
    return source


async def _pace(start: float, index: int, fps: float) -> None:
    await asyncio.sleep(max(0.0, start + index / fps - time.monotonic()))


def _wire_fields(fwd: WireCount, ret: WireCount, elapsed: float, payload_kbps: float) -> dict:
    """The wire figures both codecs report: rates and datagrams each way, against the payload."""
    forward, back = _kbps(fwd, elapsed), _kbps(ret, elapsed)
    return {
        "payload_kbps": payload_kbps,
        "forward_kbps": forward,
        "forward_datagrams_per_s": fwd.datagrams / elapsed,
        "return_kbps": back,
        "return_datagrams_per_s": ret.datagrams / elapsed,
        "total_kbps": forward + back,
        "forward_over_payload": forward / payload_kbps if payload_kbps else None,
    }


def _kbps(count: WireCount, seconds: float) -> float:
    return count.kbps(seconds)


def _window_frames(source: ClipSource, seconds: float) -> range:
    """The frame indices a run measures (after the warm-up), looping over the clip."""
    warm = round(WARM_UP_S * source.fps)
    return range(warm, warm + round(seconds * source.fps))


def model_vid2vid(source: ClipSource, setting: WireSetting, seconds: float) -> dict:
    """What the packetization model (:mod:`vid2vid.bench.wire_model`) says the same run costs
    (no control messages back: the replay sends none)."""
    model = DataChannelModel(setting.pack, ACK_POLICIES[setting.ack], report_bytes=None)
    packets = [
        TimedPacket(i / source.fps, p)
        for i in _window_frames(source, seconds)
        if (p := source.motion[i % len(source.motion)]) is not None
    ]
    return model.figures(packets, source.fps).as_dict()


def model_h264(source: ClipSource, crf: int, seconds: float) -> dict:
    """The packetization model's figures for the same access units."""
    units = source.h264[crf]
    frames = [TimedPacket(i / source.fps, b"".join(units[i % len(units)]))
              for i in _window_frames(source, seconds)]  # fmt: skip
    return RtpModel().figures(frames, source.fps).as_dict()


def _model_fields(model: dict) -> dict:
    """The model's figures for a run, whole and as the two columns the table prints."""
    return {
        "model": model,
        "model_forward_kbps": model["forward_kbps"],
        "model_return_kbps": model["return_kbps"],
    }


async def run_vid2vid(source: ClipSource, setting: WireSetting, seconds: float) -> dict:
    """Replay the clip's packets over a real call with ``setting``; rates and latencies."""
    sender_pc, receiver_pc, sending, receiving = await connect_in_process(
        LOOPBACK, ack=ACK_POLICIES[setting.ack]
    )
    forward, back = DatagramTap().install(sender_pc), DatagramTap().install(receiver_pc)
    transport = sending
    if setting.pack > 1:
        wait_ms = (setting.pack + 0.5) * 1000 / source.fps
        transport = PackingTransport(sending, setting.pack, max_wait_ms=wait_ms)
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    window = {"open": False, "payload": 0, "packets": 0}

    def on_message(channel: str, message: bytes | str) -> None:
        if channel != "motion" or not isinstance(message, bytes):
            return
        sequence = PacketHeader.parse(message).sequence
        if window["open"] and sequence in sent_at:
            latencies.append((time.monotonic() - sent_at.pop(sequence)) * 1000)

    receiving.set_handler(on_message)
    for chunk in source.keyframe:
        sending.send("control", chunk)
    warm = round(WARM_UP_S * source.fps)
    total = warm + round(seconds * source.fps)
    start = time.monotonic()
    marks: dict[str, tuple[WireCount, WireCount, float]] = {}
    for index in range(total):
        await _pace(start, index, source.fps)
        if index == warm:
            window["open"] = True
            marks["start"] = (forward.sent, back.sent, time.monotonic())
        packet = source.motion[index % len(source.motion)]
        if packet is None:
            continue
        if window["open"]:
            sent_at[PacketHeader.parse(packet).sequence] = time.monotonic()
            window["payload"] += len(packet)
            window["packets"] += 1
        transport.send("motion", packet)
    await _pace(start, total, source.fps)
    end = (forward.sent, back.sent, time.monotonic())
    await asyncio.sleep(setting.pack / source.fps + 0.6)  # the last packs arrive
    await sender_pc.close()
    await receiver_pc.close()
    elapsed = end[2] - marks["start"][2]
    fwd, ret = end[0] - marks["start"][0], end[1] - marks["start"][1]
    payload_kbps = window["payload"] * 8 / elapsed / 1000
    return {
        "codec": "vid2vid",
        "setting": asdict(setting),
        "label": setting.label,
        "seconds": elapsed,
        "packets": window["packets"],
        "delivered": len(latencies),
        **_wire_fields(fwd, ret, elapsed, payload_kbps),
        "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies else None,
        "latency_ms_p95": float(np.percentile(latencies, 95)) if latencies else None,
        "keyframe_bytes": sum(map(len, source.keyframe)),
        **_model_fields(model_vid2vid(source, setting, seconds)),
    }


def _access_unit_track(units: list[list[bytes]], fps: float, total: int):
    """A video track of pre-encoded x264 access units, paced at the clip's frame rate (aiortc
    sends an ``av.Packet`` through its H.264 packetizer without re-encoding it)."""
    from aiortc import MediaStreamTrack

    class Track(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.index = 0
            self.start: float | None = None
            self.rate = Fraction(fps).limit_denominator(1001)

        async def recv(self):
            import av

            while True:
                if self.start is None:
                    self.start = time.monotonic()
                if self.index >= total:
                    await asyncio.sleep(3600)  # the stream ended: idle until stopped
                await _pace(self.start, self.index, fps)
                frame = units[self.index % len(units)]
                self.index += 1
                if frame:
                    packet = av.Packet(b"".join(frame))
                    packet.pts = self.index - 1
                    packet.time_base = 1 / self.rate
                    return packet

    return Track()


async def run_h264(source: ClipSource, crf: int, seconds: float) -> dict:
    """The clip's x264 access units at ``crf`` over a real aiortc RTP call."""
    from aiortc import RTCRtpSender

    from vid2vid.call.rtc import accept_answer, accept_offer, make_offer

    units = source.h264[crf]
    warm = round(WARM_UP_S * source.fps)
    total = warm + round(seconds * source.fps)
    sender_pc, receiver_pc = new_peer_connection(LOOPBACK), new_peer_connection(LOOPBACK)
    track = _access_unit_track(units, source.fps, total)
    transceiver = sender_pc.addTransceiver(track, direction="sendonly")
    transceiver.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
    )
    drains: list[asyncio.Task] = []

    @receiver_pc.on("track")
    def on_track(remote) -> None:
        async def drain() -> None:
            while True:
                await remote.recv()

        drains.append(asyncio.ensure_future(drain()))

    await accept_answer(sender_pc, await accept_offer(receiver_pc, await make_offer(sender_pc)))
    forward, back = DatagramTap().install(sender_pc), DatagramTap().install(receiver_pc)
    while track.start is None:
        await asyncio.sleep(0.01)
    await _pace(track.start, warm, source.fps)
    begin = (forward.sent, back.sent, time.monotonic())
    await _pace(track.start, total, source.fps)
    end = (forward.sent, back.sent, time.monotonic())
    for task in drains:
        task.cancel()
    await sender_pc.close()
    await receiver_pc.close()
    elapsed = end[2] - begin[2]
    fwd, ret = end[0] - begin[0], end[1] - begin[1]
    frames = [units[i % len(units)] for i in range(warm, total)]
    payload = sum(len(b"".join(f)) for f in frames)
    payload_kbps = payload * 8 / elapsed / 1000
    return {
        "codec": "h264",
        "crf": crf,
        "label": f"x264 CRF {crf} over RTP",
        "seconds": elapsed,
        **_wire_fields(fwd, ret, elapsed, payload_kbps),
        "idr_bytes": len(b"".join(units[0])),
        **_model_fields(model_h264(source, crf, seconds)),
    }


async def measure_clip(
    clip: Path, model: str, settings: list[WireSetting], crfs: list[int], seconds: float
) -> dict:
    frames = round((WARM_UP_S + seconds) * 30) + 1  # enough for 30 fps; a 25 fps clip loops less
    source = await prepare(clip, model, frames, crfs, crop=256)
    runs = [await run_vid2vid(source, setting, seconds) for setting in settings]
    baseline = next((r for r in runs if r["setting"] == {"pack": 1, "ack": "aiortc"}), runs[0])
    for r in runs:
        if r["latency_ms_p95"] is not None and baseline["latency_ms_p95"] is not None:
            r["added_ms_p95"] = r["latency_ms_p95"] - baseline["latency_ms_p95"]
    h264 = [await run_h264(source, crf, seconds) for crf in crfs]
    floor = next((r for r in h264 if r["crf"] == max(crfs)), None)
    for r in runs:
        r["fraction_of_h264_floor"] = r["total_kbps"] / floor["total_kbps"] if floor else None
        r["goals"] = _goals(r)
    return {
        "clip": source.clip,
        "fps": source.fps,
        "model": model,
        "faces": sum(m is not None for m in source.motion),
        "frames": len(source.motion),
        "vid2vid": runs,
        "h264": h264,
    }


def _goals(r: dict) -> dict[str, bool | None]:
    added = r.get("added_ms_p95")
    fraction = r.get("fraction_of_h264_floor")
    ratio = r.get("forward_over_payload")
    return {
        "forward_le_2x_payload": None if ratio is None else ratio <= GOAL_FORWARD_RATIO,
        "return_le_2_kbps": r["return_kbps"] <= GOAL_RETURN_KBPS,
        "added_latency_le_40_ms_p95": None if added is None else added <= GOAL_ADDED_MS,
        "total_le_fifth_of_h264_floor": None
        if fraction is None
        else fraction <= GOAL_H264_FRACTION,
    }


def _mean_rows(results: list[dict]) -> list[dict]:
    """The per-setting means over clips (the README's table)."""
    rows = []
    for i, first in enumerate(results[0]["vid2vid"]):
        runs = [r["vid2vid"][i] for r in results]
        row = {"label": first["label"], "setting": first["setting"]}
        for key in (
            "payload_kbps", "forward_kbps", "return_kbps", "total_kbps", "forward_over_payload",
            "latency_ms_p95", "added_ms_p95", "fraction_of_h264_floor", "model_forward_kbps",
            "model_return_kbps",
        ):  # fmt: skip
            values = [r.get(key) for r in runs]
            row[key] = None if None in values else float(np.mean(values))
        row["goals"] = _goals(row)
        rows.append(row)
    for i, first in enumerate(results[0]["h264"]):
        runs = [r["h264"][i] for r in results]
        row = {"label": first["label"], "crf": first["crf"]}
        for key in ("payload_kbps", "forward_kbps", "return_kbps", "total_kbps",
                    "model_forward_kbps", "model_return_kbps"):  # fmt: skip
            row[key] = float(np.mean([r[key] for r in runs]))
        rows.append(row)
    return rows


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def table(results: list[dict], means: list[dict]) -> str:
    head = (
        f"  {'setting':<24}{'payload':>9}{'forward':>9}{'fwd/pay':>8}{'return':>8}"
        f"{'total':>8}{'p95 ms':>8}{'added':>7}{'/H.264':>8}{'model fwd/ret':>15}"
    )
    lines = []
    for result in [*results, {"clip": "mean over clips", "rows": means}]:
        if "rows" in result:
            rows = result["rows"]
            lines.append(
                f"\n{result['clip']} (kbit/s at the IP layer; latency added vs pack 1; "
                "model: vid2vid.bench.wire_model on the same packets)"
            )
        else:
            rows = [*result["vid2vid"], *result["h264"]]
            lines.append(
                f"\n{result['clip']} ({result['model']}, {result['fps']:g} fps, "
                f"{result['faces']}/{result['frames']} frames with a face)"
            )
        lines.append(head)
        if "rows" not in result:
            keyframe = result["vid2vid"][0]["keyframe_bytes"]
            idr = ", ".join(f"CRF {r['crf']} {r['idr_bytes']} B" for r in result["h264"])
            lines.append(
                f"  (not in the rates: vid2vid keyframe {keyframe} B, "
                f"{keyframe * 8 / 60 / 1000:.2f} kbit/s over a minute; x264 IDR {idr})"
            )
        for r in rows:
            lines.append(
                f"  {r['label']:<24}{_fmt(r['payload_kbps']):>9}{_fmt(r['forward_kbps']):>9}"
                f"{_fmt(r.get('forward_over_payload'), '.1f'):>8}{_fmt(r['return_kbps']):>8}"
                f"{_fmt(r['total_kbps']):>8}{_fmt(r.get('latency_ms_p95'), '.1f'):>8}"
                f"{_fmt(r.get('added_ms_p95'), '.0f'):>7}"
                f"{_fmt(r.get('fraction_of_h264_floor'), '.2f'):>8}"
                f"{_fmt(r.get('model_forward_kbps')) + '/' + _fmt(r.get('model_return_kbps')):>15}"
            )
    return "\n".join(lines)


def plot(means: list[dict], path: Path) -> bool:
    """Forward and return kbit/s per setting, H.264 beside; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib not installed: no plot")
        return False
    labels = [r["label"] for r in means]
    x = np.arange(len(means))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.bar(x, [r["payload_kbps"] for r in means], 0.6, label="codec payload", color="#999")
    ax.bar(x - 0.15, [r["forward_kbps"] for r in means], 0.3, label="forward wire", alpha=0.8)
    ax.bar(x + 0.15, [r["return_kbps"] for r in means], 0.3, label="return wire", alpha=0.8)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel("kbit/s (IP layer)")
    ax.set_yscale("log")
    ax.set_title("vid2vid on the wire against H.264 over RTP, same crops (mean over clips)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.bench.wire", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--model", default="default", help="model whose sender makes the motion "
        "(default: default, the shipped model, whose motion is dlib landmarks)",
    )  # fmt: skip
    parser.add_argument(
        "--clips", nargs="+", default=["lp_d0", "lp_d6", "lp_d19"],
        help=f"clip names in {CLIP_DIR} or paths (default: lp_d0 lp_d6 lp_d19)",
    )  # fmt: skip
    parser.add_argument(
        "--settings", nargs="+", default=list(DEFAULT_SETTINGS),
        help="vid2vid settings PACK:ACK, ACK one of aiortc, rfc, lazy "
        f"(default: {' '.join(DEFAULT_SETTINGS)})",
    )  # fmt: skip
    parser.add_argument(
        "--crf", nargs="+", type=int, default=[51, 43],
        help="x264 CRFs for H.264 over RTP; the largest is the floor compared with (default: 51 43)",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="measured seconds per run (default: 15)"
    )
    parser.add_argument(
        "-o", "--out", type=Path, default=Path("out/wire"), help="output folder (default: out/wire)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = [WireSetting.parse(s) for s in args.settings]
    except ConfigError as exc:
        print(f"wire: error: {exc}", file=sys.stderr)
        return 2
    clips = [Path(c) if c.endswith(".mp4") else CLIP_DIR / f"{c}.mp4" for c in args.clips]
    missing = [str(c) for c in clips if not c.is_file()]
    if missing:
        print(f"wire: error: clip not found: {', '.join(missing)}", file=sys.stderr)
        return 1

    async def all_clips() -> list[dict]:
        return [await measure_clip(c, args.model, settings, args.crf, args.seconds) for c in clips]

    results = run(all_clips)
    means = _mean_rows(results)
    print(table(results, means))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "wire.json").write_text(json.dumps({"clips": results, "mean": means}, indent=2))
    drawn = plot(means, args.out / "wire.png")
    print(f"wrote {args.out / 'wire.json'}" + (f" and {args.out / 'wire.png'}" if drawn else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
