"""The wire rate of every lever at once, from real packets: ``python -m vid2vid.bench.wire_sweep``.

Why: ``vid2vid-bench`` reports the wire for the call's settings beside quality, and the live
benchmark (:mod:`vid2vid.bench.wire`) costs a real call per setting. Choosing among the levers
(frames per message, SACK policy, a motion rate below the frame rate, the motion quantizer) needs
all their combinations on the same clips, and the packetization model
(:mod:`vid2vid.bench.wire_model`, held to real calls by its tests) gives each in milliseconds
once the packets exist. So this tracks and crops each clip once, measures its motion once, codes
it at every quality and motion rate through the real stream encoder, and puts every stream
through every setting; x264 at its floor (CRF 51) on the same crops is the yardstick. Quality is
not measured here: ``vid2vid-bench --motion-every N`` gives the PSNR of a motion rate.

Latency added by a setting, in frames: (pack − 1) × motion_every for the pack to fill, plus
motion_every − 1 for the receiver to interpolate towards the next sample.

    python -m vid2vid.bench.wire_sweep --clips ../shared/data/clips --max-frames 300 -o out/sweep
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from vid2vid.bench.wire_model import ACK_POLICIES
from vid2vid.errors import ConfigError, Vid2VidError

#: The yardstick: x264 at its floor over RTP (issue 17: vid2vid at most a fifth of it).
FLOOR_CRF = 51
GOAL_FRACTION = 0.2


def _setting(text: str) -> tuple[int, str]:
    pack, _, ack = text.partition(":")
    if not pack.isdigit() or (ack or "lazy") not in ACK_POLICIES:
        raise ConfigError(f"a setting is PACK:ACK with ACK in {', '.join(ACK_POLICIES)}: {text!r}")
    return int(pack), ack or "lazy"


def sweep_clip(
    path: Path, qualities: list[int], rates: list[int], settings: list[tuple[int, str]],
    max_frames: int | None, call_seconds: float,
) -> dict:  # fmt: skip
    """Every (quality, motion rate, setting) of one clip, and x264's floor over RTP."""
    from vid2vid.bench.bandwidth import (
        h264_wire,
        load_clip,
        rate_fields,
        resize_frames,
        vid2vid_wire,
    )
    from vid2vid.bench.bench_options import BenchOptions
    from vid2vid.bench.ffmpeg_codecs import CODECS, run_codec
    from vid2vid.bench.neural_codec import encode_stream, measure_motion
    from vid2vid.codec.checkpoint import load_weights
    from vid2vid.engines.runtime import open_runtime

    loaded = load_weights(None, "default", announce=False)
    clip = load_clip(path, 256, max_frames)
    model_in = resize_frames(clip.frames, loaded.config.input_size)[..., ::-1]
    runtime = open_runtime(loaded, "auto")
    motions = measure_motion(loaded, list(model_in), clip.timestamps_ms, runtime=runtime)
    x264 = run_codec(CODECS["x264"], clip.at(256), clip.fps, f"crf{FLOOR_CRF}",
                     ("-crf", str(FLOOR_CRF)))  # fmt: skip
    rows = []
    for quality in qualities:
        for every in rates:
            stream = encode_stream(loaded, model_in[0], motions, clip.fps, "image", quality,
                                   runtime=runtime, motion_every=every)  # type: ignore[arg-type]  # fmt: skip
            for pack, ack in settings:
                options = BenchOptions(
                    clips=(path,), output=Path("."), call_seconds=call_seconds,
                    wire_pack=pack, wire_ack=ack, motion_every=every,
                )  # fmt: skip
                wire = vid2vid_wire(stream.packets, options, clip.fps)
                rows.append({
                    "quality": quality, "motion_every": every, "pack": pack, "ack": ack,
                    "added_ms": ((pack - 1) * every + every - 1) * 1000 / clip.fps,
                    "payload_kbps": stream.stats.motion_bytes * 8 * clip.fps / len(motions) / 1000,
                    **wire,
                })  # fmt: skip
    return {
        "clip": clip.name,
        "fps": clip.fps,
        "frames": len(motions),
        "x264_floor": {
            "raw_kbps": rate_fields(
                x264.intra_bytes,
                x264.stream_bytes - x264.intra_bytes,
                len(x264.packet_sizes),
                clip.fps,
                call_seconds,
            )["kbps"],
            **h264_wire(x264.packets, clip.fps, call_seconds),
        },  # fmt: skip
        "vid2vid": rows,
    }


def mean_rows(results: list[dict]) -> tuple[list[dict], dict]:
    """Each setting's mean over clips, and x264's floor's."""
    keys = ("payload_kbps", "wire_forward_kbps", "wire_return_kbps", "wire_kbps", "added_ms",
            "wire_intra_kbps")  # fmt: skip
    means = []
    for i, first in enumerate(results[0]["vid2vid"]):
        runs = [r["vid2vid"][i] for r in results]
        row = {k: first[k] for k in ("quality", "motion_every", "pack", "ack")}
        row.update({k: float(np.mean([r[k] for r in runs])) for k in keys})
        means.append(row)
    floor = {k: float(np.mean([r["x264_floor"][k] for r in results]))
             for k in ("raw_kbps", "wire_forward_kbps", "wire_return_kbps", "wire_kbps")}  # fmt: skip
    for row in means:
        row["of_x264_floor"] = row["wire_kbps"] / floor["wire_kbps"]
        # The goal's ratio: the motion's forward wire (keyframe apart) over the motion payload.
        row["motion_forward_kbps"] = row["wire_forward_kbps"] - row["wire_intra_kbps"]
        row["forward_over_payload"] = row["motion_forward_kbps"] / row["payload_kbps"]
    return means, floor


def table(means: list[dict], floor: dict) -> str:
    lines = [
        "mean over clips, kbit/s at the IP layer; 'motion fwd' leaves the keyframe out (the "
        "goal's ratio), 'forward', 'return' and 'total' spread the keyframe and IDR over the call",
        f"  {'q':>3}{'every':>6}{'pack':>5}{'ack':>7}{'payload':>9}{'motion fwd':>11}"
        f"{'fwd/pay':>8}{'forward':>9}{'return':>8}{'total':>8}{'/x264':>7}{'+ms':>6}",
    ]
    for r in means:
        lines.append(
            f"  {r['quality']:>3}{r['motion_every']:>6}{r['pack']:>5}{r['ack']:>7}"
            f"{r['payload_kbps']:>9.2f}{r['motion_forward_kbps']:>11.2f}"
            f"{r['forward_over_payload']:>8.2f}{r['wire_forward_kbps']:>9.2f}"
            f"{r['wire_return_kbps']:>8.2f}"
            f"{r['wire_kbps']:>8.2f}{r['of_x264_floor']:>7.2f}{r['added_ms']:>6.0f}"
        )
    lines.append(
        f"  x264 CRF {FLOOR_CRF} over RTP: raw {floor['raw_kbps']:.2f}, wire "
        f"{floor['wire_forward_kbps']:.2f} + {floor['wire_return_kbps']:.2f} = "
        f"{floor['wire_kbps']:.2f}; goal for vid2vid: <= {floor['wire_kbps'] * GOAL_FRACTION:.2f}"
    )
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as error:
        raise ConfigError(f"expected comma-separated integers, got {text!r}") from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.bench.wire_sweep", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--clips", type=Path, nargs="+", required=True,
                        help="video files, or folders of them")  # fmt: skip
    parser.add_argument(
        "--qualities", default="5,20,34", help="motion qualities (default: 5,20,34)"
    )
    parser.add_argument("--motion-every", default="1,2",
                        help="motion rates: a sample every N frames (default: 1,2)")  # fmt: skip
    parser.add_argument("--settings", nargs="+", default=["1:rfc", "1:lazy", "2:lazy", "3:lazy"],
                        help="PACK:ACK settings (default: 1:rfc 1:lazy 2:lazy 3:lazy)")  # fmt: skip
    parser.add_argument("--max-frames", type=int, default=300,
                        help="frames per clip (default: 300)")  # fmt: skip
    parser.add_argument("--call-seconds", type=float, default=60.0,
                        help="call length the keyframe and IDR are spread over (default: 60)")  # fmt: skip
    parser.add_argument("-o", "--out", type=Path, default=Path("out/wire-sweep"),
                        help="output folder for sweep.json (default: out/wire-sweep)")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from vid2vid.bench.bandwidth import collect_clips

        clips = collect_clips(args.clips)
        settings = [_setting(s) for s in args.settings]
        qualities, rates = _ints(args.qualities), _ints(args.motion_every)
        results = [
            sweep_clip(c, qualities, rates, settings, args.max_frames, args.call_seconds)
            for c in clips
        ]
    except Vid2VidError as exc:
        print(f"wire_sweep: error: {exc}", file=sys.stderr)
        return 1
    means, floor = mean_rows(results)
    print(table(means, floor))
    args.out.mkdir(parents=True, exist_ok=True)
    document = {"clips": results, "mean": means, "x264_floor": floor}
    (args.out / "sweep.json").write_text(json.dumps(document, indent=1))
    print(f"wrote {args.out / 'sweep.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
