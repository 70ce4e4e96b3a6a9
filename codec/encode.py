"""``vid2vid-encode``: a talking-head video to a ``.v2v`` packet stream.

What a sender does, offline: track and crop the face, send one keyframe (the first frame's crop
as a JPEG/WebP image, or the quantized appearance volume), then one motion packet per frame
(head pose, translation, K expression deformations), quantized and range coded. ``--kbps``
picks the quantizer in a first pass over the clip's motion; the table at the end says where
the bits went.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from vid2vid.codec.bitstream.chunks import split_keyframe
from vid2vid.codec.bitstream.container import V2VMetadata, V2VWriter
from vid2vid.codec.bitstream.header import wire_timestamp
from vid2vid.codec.bitstream.keyframe import AppearanceKind, Keyframe, encode_keyframe_payload
from vid2vid.codec.bitstream.motion import DEFAULT_QUALITY, MotionEncoder
from vid2vid.codec.bitstream.motion_params import MotionLayout, MotionParams
from vid2vid.codec.bitstream.rate import quality_for_kbps
from vid2vid.codec.bitstream.volume import pack_volume
from vid2vid.codec.checkpoint import LoadedModel, load_weights
from vid2vid.codec.cli_args import add_coding_arguments, add_model_arguments
from vid2vid.codec.clip import FaceClip
from vid2vid.codec.imageio import frames_to_tensor
from vid2vid.codec.keyframe_image import decode_key_image, encode_key_image
from vid2vid.codec.stream_stats import AMORTIZE_SECONDS, StreamStats
from vid2vid.codec.video import VideoWriter
from vid2vid.codec.wire import layout_for, motion_to_params
from vid2vid.errors import ConfigError, InputError, Vid2VidError

log = logging.getLogger(__name__)

KeyframeForm = Literal["jpeg", "webp", "png", "volume-int8", "volume-fp16"]
KEYFRAME_KINDS: dict[str, AppearanceKind] = {
    "jpeg": AppearanceKind.JPEG,
    "webp": AppearanceKind.WEBP,
    "png": AppearanceKind.PNG,
    "volume-int8": AppearanceKind.VOLUME_INT8_ZSTD,
    "volume-fp16": AppearanceKind.VOLUME_FP16_ZSTD,
}


@dataclass(frozen=True)
class EncodeOptions:
    """What to encode and how; built from the command line."""

    clip: Path
    output: Path
    quality: int = DEFAULT_QUALITY
    kbps: float | None = None
    keyframe: KeyframeForm = "jpeg"
    image_quality: int = 90
    intra_period_s: float = 1.0
    max_frames: int | None = None
    stream_id: int = 0
    batch: int = 8
    track: bool = True  # False: the input is already a face crop (--crop none)
    crop_out: Path | None = None  # write the crops the codec saw (--crop-out)


@dataclass(frozen=True)
class FrameMotion:
    """One frame's motion on the wire and when it was captured."""

    timestamp_ms: int
    params: MotionParams


@torch.inference_mode()
def analyse_clip(
    loaded: LoadedModel, clip: FaceClip, batch: int, *, crop_out: Path | None = None
) -> tuple[np.ndarray, list[FrameMotion]]:
    """The first face crop (the keyframe's image) and every frame's motion (H and Δ).

    With ``crop_out`` the crops are also written there (x264 lossless, qp 0), so a user can
    score the decoded video against exactly what went in.
    """
    writer: VideoWriter | None = None
    model = loaded.model
    device = next(model.parameters()).device
    layout = layout_for(loaded.config)
    first: np.ndarray | None = None
    motions: list[FrameMotion] = []
    pending: list = []

    def flush() -> None:
        motion = model.extract_motion(frames_to_tensor([c.image for c in pending]).to(device))
        for crop, params in zip(pending, motion_to_params(motion, layout), strict=True):
            motions.append(FrameMotion(crop.timestamp_ms, params))
        pending.clear()

    for crop in tqdm(clip, total=clip.frame_count, unit="frame", desc="motion"):
        if crop_out is not None:
            if writer is None:
                size = crop.image.shape[1], crop.image.shape[0]
                writer = VideoWriter(crop_out, clip.fps, size, crf=0)
            writer.write(crop.image)
        if first is None:
            first = crop.image
        pending.append(crop)
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    if writer is not None:
        writer.close()
    if first is None:
        raise InputError(f"{clip.path} has no frames")
    return first, motions


def build_keyframe(loaded: LoadedModel, image: np.ndarray, options: EncodeOptions) -> Keyframe:
    """The keyframe of ``image`` (a face crop) in the form ``options`` choose."""
    return make_keyframe(loaded, image, options.keyframe, options.image_quality)


@torch.inference_mode()
def make_keyframe(
    loaded: LoadedModel, image: np.ndarray, form: KeyframeForm = "jpeg", image_quality: int = 90
) -> Keyframe:
    """The keyframe of ``image`` (a face crop) as ``form``; the live sender calls this too.

    An image keyframe's source motion is measured on the image as the receiver will decode it,
    not on the camera's pixels, so both ends pose the same source keypoints.
    """
    model, config = loaded.model, loaded.config
    device = next(model.parameters()).device
    kind = KEYFRAME_KINDS[form]
    layout = layout_for(config)
    fingerprint = bytes.fromhex(loaded.fingerprint)
    if kind.is_volume:
        if getattr(config.arch, "estimate_jacobian", False):
            raise ConfigError(
                "volume keyframes do not carry Jacobians yet; use an image keyframe with this model"
            )
        tensor = frames_to_tensor([image]).to(device)
        volume = model.extract_appearance(tensor)[0].float().cpu().numpy()  # C x D x H x W
        data, scale = pack_volume(volume, kind)
        canonical = model.extract_canonical(tensor)[0].float().cpu().numpy()  # K x 3
        return Keyframe(
            fingerprint=fingerprint,
            output_size=config.output_size,
            kind=kind,
            appearance=data,
            source_motion=motion_to_params(model.extract_motion(tensor), layout)[0],
            volume_shape=tuple(volume.shape),  # type: ignore[arg-type]
            volume_scale=scale,
            canonical=canonical,
        )
    data = encode_key_image(image, kind, image_quality)
    decoded = frames_to_tensor([decode_key_image(data, kind)]).to(device)
    return Keyframe(
        fingerprint=fingerprint,
        output_size=config.output_size,
        kind=kind,
        appearance=data,
        source_motion=motion_to_params(model.extract_motion(decoded), layout)[0],
    )


def intra_period_frames(fps: float, seconds: float) -> int:
    """Frames between intra packets: at least one a second by default (DESIGN)."""
    if seconds <= 0:
        raise ConfigError(f"--intra-period must be positive, got {seconds}")
    return max(1, round(fps * seconds))


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


def encode_packets(
    keyframe: Keyframe,
    motions: list[FrameMotion],
    layout: MotionLayout,
    quality: int,
    intra_period: int,
    stream_id: int,
) -> Iterator[bytes]:
    """The stream in send order: the keyframe's chunks, then one motion packet per frame."""
    start = motions[0].timestamp_ms if motions else 0
    yield from split_keyframe(
        encode_keyframe_payload(keyframe),
        stream_id=stream_id,
        first_sequence=0,
        timestamp_ms=wire_timestamp(start),
        keyframe_id=0,
    )
    encoder = MotionEncoder(layout, quality=quality, stream_id=stream_id, intra_period=intra_period)
    for frame in motions:
        yield encoder.encode(frame.params, wire_timestamp(frame.timestamp_ms))


def encode(loaded: LoadedModel, options: EncodeOptions) -> StreamStats:
    """Encode the clip to ``options.output``; returns the byte breakdown."""
    layout = layout_for(loaded.config)
    clip = FaceClip(options.clip, loaded.config.input_size, options.max_frames, track=options.track)
    first, motions = analyse_clip(loaded, clip, options.batch, crop_out=options.crop_out)
    keyframe = build_keyframe(loaded, first, options)
    keyframe_bytes = len(encode_keyframe_payload(keyframe))
    quality = choose_quality(motions, layout, options, clip.fps, keyframe_bytes)
    intra_period = intra_period_frames(clip.fps, options.intra_period_s)
    stats = StreamStats(fps=clip.fps)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    with V2VWriter(options.output, stream_metadata(loaded, clip.fps, layout)) as writer:
        for packet in encode_packets(
            keyframe, motions, layout, quality, intra_period, options.stream_id
        ):
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
        "--image-quality", type=int, default=90, help="JPEG/WebP quality 1..100 (default: 90)"
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
        loaded = load_weights(args.weights, args.config, device=args.device)
        if not loaded.trained:
            print(
                f"WARNING: encoding with UNTRAINED weights ({loaded.source}): the motion is "
                "not a face's; rates are indicative only.",
                file=sys.stderr,
            )
        stats = encode(loaded, options)
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
