"""``vid2vid-encode``: a talking-head video to a ``.v2v`` packet stream.

What a sender does, offline: track and crop the face, send one keyframe (the first frame's crop
as a JPEG/WebP image, or the quantized appearance volume), then one motion packet per frame
(head pose, translation, K expression deformations), quantized and range coded. ``--kbps``
picks the quantizer in a first pass over the clip's motion; the table at the end says where
the bits went. A thin command over :class:`~vid2vid.codec.stream.StreamEncoder`, which the live
sender and the benchmarks use too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vid2vid.codec.bitstream.container import V2VMetadata, V2VWriter
from vid2vid.codec.bitstream.keyframe import encode_keyframe_payload
from vid2vid.codec.bitstream.motion import DEFAULT_QUALITY
from vid2vid.codec.bitstream.motion_params import MotionLayout
from vid2vid.codec.bitstream.rate import quality_for_kbps
from vid2vid.codec.checkpoint import LoadedModel, load_weights
from vid2vid.codec.cli_args import add_coding_arguments, add_model_arguments
from vid2vid.codec.clip import FaceClip
from vid2vid.codec.stream import (
    DEFAULT_IMAGE_QUALITY,
    DEFAULT_KEYFRAME,
    FrameMotion,
    KeyframeForm,
    Runtime,
    StreamConfig,
    StreamEncoder,
    intra_period_frames,
)
from vid2vid.codec.stream_stats import AMORTIZE_SECONDS, StreamStats
from vid2vid.codec.video import VideoWriter
from vid2vid.engines.runtime import open_runtime
from vid2vid.errors import ConfigError, InputError, Vid2VidError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodeOptions:
    """What to encode and how; built from the command line."""

    clip: Path
    output: Path
    quality: int = DEFAULT_QUALITY
    kbps: float | None = None
    keyframe: KeyframeForm = DEFAULT_KEYFRAME
    image_quality: int = DEFAULT_IMAGE_QUALITY
    intra_period_s: float = 1.0
    max_frames: int | None = None
    stream_id: int = 0
    batch: int = 8
    track: bool = True  # False: the input is already a face crop (--crop none)
    crop_out: Path | None = None  # write the crops the codec saw (--crop-out)

    def stream_config(self) -> StreamConfig:
        return StreamConfig.of(self)


def measure_clip(
    encoder: StreamEncoder, clip: FaceClip, batch: int, *, crop_out: Path | None = None
) -> tuple[np.ndarray, list[FrameMotion]]:
    """The first face crop (the keyframe's image) and every frame's motion (H and Δ), each
    measured against the keyframe of its framing (the first crop's, or a re-framed one's).

    With ``crop_out`` the crops are also written there (x264 lossless, qp 0), so a user can
    score the decoded video against exactly what went in.
    """
    stamps: list[int] = []
    first: list[np.ndarray] = []
    renew: dict[int, np.ndarray] = {}  # frames that start a new framing: a new keyframe
    with contextlib.ExitStack() as stack:

        def crops() -> Iterator[tuple[np.ndarray, bool]]:
            writer: VideoWriter | None = None
            for crop in tqdm(clip, total=clip.frame_count, unit="frame", desc="motion"):
                if crop_out is not None and writer is None:
                    size = crop.image.shape[1], crop.image.shape[0]
                    writer = stack.enter_context(VideoWriter(crop_out, clip.fps, size, crf=0))
                if writer is not None:
                    writer.write(crop.image)
                starts = not first or crop.reframed
                if not first:
                    first.append(crop.image)
                elif crop.reframed:
                    renew[len(stamps)] = crop.image
                stamps.append(crop.timestamp_ms)
                yield crop.image, starts

        params = list(encoder.measure_framed(crops(), batch))
    if not first:
        raise InputError(f"{clip.path} has no frames")
    motions = [
        FrameMotion(t, p, renew.get(i)) for i, (t, p) in enumerate(zip(stamps, params, strict=True))
    ]
    return first[0], motions


def choose_quality(
    motions: list[FrameMotion],
    layout: MotionLayout,
    options: EncodeOptions,
    fps: float,
    keyframe_bytes: int,
) -> int:
    """``--quality``, or with ``--kbps`` the finest quality whose all-in rate meets the target
    (motion packets with headers, plus the keyframe amortized over a minute)."""
    if options.kbps is None:
        return options.quality
    return quality_for_kbps(
        [m.params for m in motions],
        layout,
        kbps=options.kbps,
        fps=fps,
        intra_period=intra_period_frames(fps, options.intra_period_s),
        fixed_bits_per_second=keyframe_bytes * 8 / AMORTIZE_SECONDS,
    )


def stream_metadata(loaded: LoadedModel, fps: float, layout: MotionLayout) -> V2VMetadata:
    """What a decoder needs to rebuild the model and pace the frames (the container header)."""
    return V2VMetadata(
        fps=fps,
        fingerprint=loaded.fingerprint,
        num_kp=layout.num_kp,
        has_scale=layout.has_scale,
        model_config=loaded.config.to_dict(),
    )


def encode(loaded: LoadedModel, runtime: Runtime, options: EncodeOptions) -> StreamStats:
    """Encode the clip to ``options.output``; returns the byte breakdown."""
    clip = FaceClip(options.clip, loaded.config.input_size, options.max_frames, track=options.track)
    encoder = StreamEncoder(runtime, loaded.fingerprint, options.stream_config(), clip.fps)
    first, motions = measure_clip(encoder, clip, options.batch, crop_out=options.crop_out)
    keyframe = encoder.make_keyframe(first)
    keyframe_bytes = len(encode_keyframe_payload(keyframe.keyframe))
    encoder.quality = choose_quality(motions, encoder.layout, options, clip.fps, keyframe_bytes)
    stats = StreamStats(fps=clip.fps)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    with V2VWriter(options.output, stream_metadata(loaded, clip.fps, encoder.layout)) as writer:
        for packet in encoder.packets(keyframe, motions):
            writer.write(packet)
            stats.add(packet)
    return stats


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-encode",
        description="Encode a talking-head video as one keyframe plus a motion packet per frame "
        "(.v2v). Prints where the bits go.",
    )
    parser.add_argument("clip", type=Path, help="input video")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .v2v file")
    rate = parser.add_mutually_exclusive_group()
    add_coding_arguments(parser, quality_to=rate)
    rate.add_argument(
        "--kbps",
        type=float,
        default=None,
        help="target all-in rate (motion + headers + keyframe over 60 s); picks --quality",
    )
    parser.add_argument(
        "--image-quality",
        type=int,
        default=DEFAULT_IMAGE_QUALITY,
        help=f"JPEG/WebP quality 1..100 (default: {DEFAULT_IMAGE_QUALITY})",
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--crop",
        choices=("track", "none"),
        default="track",
        help="track: follow and crop the face (default); none: the input is already a square "
        "face crop, coded as it is (resized to the model's size)",
    )
    parser.add_argument(
        "--crop-out",
        type=Path,
        default=None,
        help="also write the crops the codec saw to this mp4 (x264 lossless), to score the "
        "decoded video with your own tools",
    )
    parser.add_argument("--frames", type=int, default=None, help="encode only the first N frames")
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = EncodeOptions(
        clip=args.clip,
        output=args.output,
        quality=args.quality,
        kbps=args.kbps,
        keyframe=args.keyframe,
        image_quality=args.image_quality,
        intra_period_s=args.intra_period,
        max_frames=args.frames,
        track=args.crop == "track",
        crop_out=args.crop_out,
    )
    try:
        if args.frames is not None and args.frames < 1:
            raise ConfigError("--frames must be at least 1")
        loaded = load_weights(args.weights, args.config, device=args.device, announce=False)
        if not loaded.trained:
            print(
                f"WARNING: encoding with UNTRAINED weights ({loaded.source}): the motion is "
                "not a face's; rates are indicative only.",
                file=sys.stderr,
            )
        stats = encode(loaded, open_runtime(loaded, "auto", args.device), options)
    except Vid2VidError as exc:
        print(f"vid2vid-encode: error: {exc}", file=sys.stderr)
        return 1
    print(stats.table())
    print(f"wrote {options.output} ({loaded.source}, fingerprint {loaded.fingerprint})")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(stats.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
