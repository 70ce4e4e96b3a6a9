"""``vid2vid-decode``: a ``.v2v`` packet stream back to video, optionally from another view.

What a receiver does, offline: rebuild the model the stream names, refuse a keyframe from
another model, turn the keyframe into the appearance volume and canonical keypoints, then pose
the keypoints by every motion packet and run the generator. A malformed or unusable packet is
logged, counted and skipped, never fatal: the next intra packet resynchronises. A thin command
over :class:`~vid2vid.codec.stream.StreamDecoder`, which the live receiver and the benchmarks
use too.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from vid2vid.codec.bitstream.container import V2VMetadata, V2VReader
from vid2vid.codec.checkpoint import (
    LoadedModel,
    default_weights,
    load_checkpoint,
    load_default,
    load_weights,
    read_checkpoint_config,
)
from vid2vid.codec.cli_args import add_view_arguments
from vid2vid.codec.config import PRESETS, config_from_dict, preset
from vid2vid.codec.keypoints import FreeView
from vid2vid.codec.stream import DecodeReport, Runtime, StreamDecoder
from vid2vid.codec.video import VideoWriter
from vid2vid.engines.runtime import open_runtime
from vid2vid.errors import ConfigError, ModelMismatchError, Vid2VidError

log = logging.getLogger(__name__)


#: The report's reason for a file whose last record was cut (a copy or a recording broke off).
TRUNCATED = "truncated record at the end of the file"


def check_stream_model(metadata: V2VMetadata, loaded: LoadedModel) -> None:
    """Refuse a stream made by another model, naming both fingerprints."""
    theirs = metadata.fingerprint
    if theirs != loaded.fingerprint:
        raise ModelMismatchError(
            f"the stream was encoded with model {theirs}, but this decoder has "
            f"{loaded.fingerprint} ({loaded.source}); pass the sender's --weights"
        )


def decode_file(
    path: Path,
    output: Path,
    loaded: LoadedModel,
    runtime: Runtime,
    view: FreeView,
    max_frames: int | None,
) -> DecodeReport:
    """Decode ``path`` to ``output`` (H.264 mp4 at the stream's frame rate)."""
    with V2VReader(path) as reader:
        check_stream_model(reader.metadata, loaded)
        fps = reader.metadata.fps
        size = loaded.config.output_size
        decoder = StreamDecoder(loaded, runtime, view)
        with VideoWriter(output, fps, (size, size)) as writer:
            for packet in tqdm(reader.packets(), unit="packet", desc="decode"):
                for frame in decoder.push(packet):
                    writer.write(frame)
                if max_frames is not None and decoder.report.frames >= max_frames:
                    break
        if reader.truncated_tail:
            decoder.report.drop(TRUNCATED)
    return decoder.report


def stream_model(path: Path, weights: Path | None, device: str) -> LoadedModel:
    """The given checkpoint, the shipped model when the stream was made by it, or the untrained
    model of the preset the stream names."""
    if weights is not None:
        return load_checkpoint(weights, device=device)
    with V2VReader(path) as reader:
        config = config_from_dict(reader.metadata.model_config)
        made_by = reader.metadata.fingerprint
    default = default_weights()
    if (default / "config.json").is_file():
        _, document = read_checkpoint_config(default)
        if document.get("fingerprint") == made_by:
            return load_default(device=device)
    if config.name not in PRESETS or preset(config.name) != config:
        raise ConfigError(
            f"{path} was encoded with a custom model config ({config.name!r}); pass its --weights"
        )
    return load_weights(None, config.name, device=device, announce=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-decode",
        description="Rebuild a video from a .v2v stream, optionally turning the head (free view).",
    )
    parser.add_argument("stream", type=Path, help="input .v2v file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .mp4")
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="vid2vid checkpoint folder (default: none — the untrained preset the stream names)",
    )
    add_view_arguments(parser)
    parser.add_argument("--frames", type=int, default=None, help="stop after N frames")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    view = FreeView(yaw=args.yaw, pitch=args.pitch, roll=args.roll)
    try:
        if args.frames is not None and args.frames < 1:
            raise ConfigError("--frames must be at least 1")
        loaded = stream_model(args.stream, args.weights, args.device)
        if not loaded.trained:
            print(
                f"WARNING: decoding with UNTRAINED weights ({loaded.source}): the output is "
                "not a face.",
                file=sys.stderr,
            )
        runtime = open_runtime(loaded, "auto", args.device)
        report = decode_file(args.stream, args.output, loaded, runtime, view, args.frames)
    except Vid2VidError as exc:
        print(f"vid2vid-decode: error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    print(f"wrote {args.output}")
    if TRUNCATED in report.dropped:
        # Not an error: every whole record before the cut was decoded and written.
        print(
            f"vid2vid-decode: warning: {args.stream} ends in a truncated record (the file was "
            f"cut short); wrote the {report.frames} frames before it",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
