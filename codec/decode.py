"""``vid2vid-decode``: a ``.v2v`` packet stream back to video, optionally from another view.

What a receiver does, offline: rebuild the model the stream names, refuse a keyframe from
another model, turn the keyframe into the appearance volume and canonical keypoints, then pose
the keypoints by every motion packet and run the generator. A malformed or unusable packet is
logged, counted and skipped, never fatal: the next intra packet resynchronises.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from vid2vid.codec.bitstream.chunks import KeyframeAssembler
from vid2vid.codec.bitstream.container import V2VMetadata, V2VReader
from vid2vid.codec.bitstream.header import PacketHeader, PacketType
from vid2vid.codec.bitstream.keyframe import Keyframe, check_fingerprint, decode_keyframe_payload
from vid2vid.codec.bitstream.motion import MotionDecoder
from vid2vid.codec.bitstream.volume import unpack_volume
from vid2vid.codec.checkpoint import (
    LoadedModel,
    default_weights,
    load_checkpoint,
    load_default,
    load_weights,
    read_checkpoint_config,
)
from vid2vid.codec.cli_args import add_view_arguments
from vid2vid.codec.config import PRESETS, config_from_dict, preset, volume_shape
from vid2vid.codec.imageio import frames_to_tensor, tensor_to_frames
from vid2vid.codec.keyframe_image import decode_key_image
from vid2vid.codec.keypoints import FreeView
from vid2vid.codec.model import KeyframeFeatures
from vid2vid.codec.video import VideoWriter
from vid2vid.codec.wire import layout_for, params_to_motion
from vid2vid.errors import BitstreamError, ConfigError, ModelMismatchError, Vid2VidError

log = logging.getLogger(__name__)


@dataclass
class DecodeReport:
    """What happened to every packet of the stream."""

    frames: int = 0
    keyframes: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def summary(self) -> str:
        dropped = ", ".join(f"{n} {why}" for why, n in sorted(self.dropped.items())) or "none"
        return f"{self.frames} frames from {self.keyframes} keyframe(s); dropped: {dropped}"


@torch.inference_mode()
def keyframe_features(loaded: LoadedModel, keyframe: Keyframe) -> KeyframeFeatures:
    """F, L (or the shipped volume and keypoints) and the sender's measured source motion."""
    model = loaded.model
    device = next(model.parameters()).device
    motion = params_to_motion([keyframe.source_motion], device)
    if keyframe.kind.is_volume:
        assert keyframe.volume_shape is not None and keyframe.canonical is not None
        volume = unpack_volume(
            keyframe.appearance, keyframe.volume_shape, keyframe.kind, keyframe.volume_scale
        )
        expected = volume_shape(loaded.config)
        if tuple(volume.shape) != expected:
            raise BitstreamError(
                f"keyframe volume has shape {tuple(volume.shape)}, this model's is {expected}"
            )
        canonical = torch.from_numpy(keyframe.canonical).to(device)[None]  # 1 x K x 3
        return KeyframeFeatures(torch.from_numpy(volume).to(device)[None], canonical, motion)
    image = frames_to_tensor([decode_key_image(keyframe.appearance, keyframe.kind)]).to(device)
    size = loaded.config.input_size
    if image.shape[-2:] != (size, size):
        raise BitstreamError(
            f"keyframe image is {image.shape[-1]}x{image.shape[-2]}, the model takes {size}x{size}"
        )
    canonical = model.extract_canonical_with_jacobians(image)
    return KeyframeFeatures(
        model.extract_appearance(image), canonical.points, motion, canonical.jacobians
    )


def check_stream_model(metadata: V2VMetadata, loaded: LoadedModel) -> None:
    """Refuse a stream made by another model, naming both fingerprints."""
    theirs = metadata.fingerprint
    if theirs != loaded.fingerprint:
        raise ModelMismatchError(
            f"the stream was encoded with model {theirs}, but this decoder has "
            f"{loaded.fingerprint} ({loaded.source}); pass the sender's --weights"
        )


class StreamDecoder:
    """Packets in, frames out: the receiver's core without the network."""

    def __init__(self, loaded: LoadedModel, view: FreeView | None = None) -> None:
        self.loaded = loaded
        self.view = view or FreeView()
        self.report = DecodeReport()
        self._assembler = KeyframeAssembler()
        self._motion = MotionDecoder(layout_for(loaded.config))
        self._features: KeyframeFeatures | None = None
        self._fingerprint = bytes.fromhex(loaded.fingerprint)

    def push(self, packet: bytes) -> list:
        """Feed one packet; returns the frames (BGR uint8) it completes (zero or one)."""
        try:
            header = PacketHeader.parse(packet)
            if header.packet_type is PacketType.KEYFRAME_CHUNK:
                self._push_keyframe(packet)
                return []
            if header.packet_type in (PacketType.MOTION_INTRA, PacketType.MOTION_PREDICTED):
                return self._push_motion(packet)
            self.report.drop("control packets (offline)")
        except BitstreamError as exc:
            log.warning("dropped a packet: %s", exc)
            self.report.drop("malformed")
        except ModelMismatchError as exc:
            log.error("refused a keyframe: %s", exc)
            self.report.drop("keyframe from another model")
        return []

    def _push_keyframe(self, packet: bytes) -> None:
        payload = self._assembler.add(packet)
        if payload is None:
            return
        keyframe = decode_keyframe_payload(payload)
        check_fingerprint(keyframe, self._fingerprint)
        self._features = keyframe_features(self.loaded, keyframe)
        self.report.keyframes += 1

    @torch.inference_mode()
    def _push_motion(self, packet: bytes) -> list:
        decoded = self._motion.decode(packet)
        if self._features is None:
            self.report.drop("before the keyframe")
            return []
        device = self._features.volume.device
        driving = params_to_motion([decoded.params], device)
        image = self.loaded.model.animate(self._features, driving, self.view)
        self.report.frames += 1
        return tensor_to_frames(image)


def decode_file(
    path: Path, output: Path, loaded: LoadedModel, view: FreeView, max_frames: int | None
) -> DecodeReport:
    """Decode ``path`` to ``output`` (H.264 mp4 at the stream's frame rate)."""
    with V2VReader(path) as reader:
        return _decode_packets(reader, output, loaded, view, max_frames)


def _decode_packets(
    reader: V2VReader, output: Path, loaded: LoadedModel, view: FreeView, max_frames: int | None
) -> DecodeReport:
    check_stream_model(reader.metadata, loaded)
    fps = reader.metadata.fps
    size = loaded.config.output_size
    decoder = StreamDecoder(loaded, view)
    with VideoWriter(output, fps, (size, size)) as writer:
        for packet in tqdm(reader.packets(), unit="packet", desc="decode"):
            for frame in decoder.push(packet):
                writer.write(frame)
            if max_frames is not None and decoder.report.frames >= max_frames:
                break
    if reader.truncated_tail:
        decoder.report.drop("truncated record at the end of the file")
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
    return load_weights(None, config.name, device=device)


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
        report = decode_file(args.stream, args.output, loaded, view, args.frames)
    except Vid2VidError as exc:
        print(f"vid2vid-decode: error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
