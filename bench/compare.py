"""``vid2vid-compare``: one clip through the codec, side by side with H.264 at about its rate.

What the product is for, in one command: the face of a clip is tracked and cropped, sent through
vid2vid's real encoder and decoder (every byte of the keyframe and the motion packets counted),
and through x264 in the benchmark's call settings at the rate closest to vid2vid's (its floor,
CRF 51, or a bit-rate target under it). The three are written side by side (original |
vid2vid | H.264) with each codec's kbit/s and PSNR printed on the frame and on stdout.

Rates are all-in: headers, the keyframe and x264's intra frame included. The figure on the
frames (and the rate x264 is matched to) spreads the first frame's bytes over a minute of call,
the project's convention; the rate over the clip alone is printed beside it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from tqdm import tqdm

from vid2vid.bench.neural_codec import decode_stream, encode_stream, measure_motion
from vid2vid.codec.bitstream.motion import DEFAULT_QUALITY
from vid2vid.codec.checkpoint import LoadedModel, load_weights
from vid2vid.codec.cli_args import add_model_arguments
from vid2vid.codec.clip import FaceClip
from vid2vid.codec.video import VideoWriter
from vid2vid.engines.runtime import open_runtime
from vid2vid.errors import InputError, Vid2VidError

AMORTIZE_SECONDS = 60.0


@dataclass(frozen=True)
class Coded:
    """One codec's result on the clip: frames (N x S x S x 3 RGB) and what it cost."""

    name: str
    frames: np.ndarray
    total_bytes: int
    first_bytes: int  # the keyframe / intra frame
    seconds: float

    @property
    def kbps(self) -> float:
        return self.total_bytes * 8 / self.seconds / 1000

    @property
    def kbps_minute(self) -> float:
        """With the first frame's bytes spread over a minute of call instead of the clip."""
        rest = self.total_bytes - self.first_bytes
        return (rest * 8 / self.seconds + self.first_bytes * 8 / AMORTIZE_SECONDS) / 1000


def psnr(test: np.ndarray, reference: np.ndarray) -> float:
    mse = np.mean((test.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


@dataclass
class Crops:
    """A clip's face crops (BGR), their capture times, and where the tracker re-framed."""

    images: list[np.ndarray]
    stamps: list[int]
    reframed: list[bool]
    fps: float


def read_crops(path: Path, size: int, frames: int | None) -> Crops:
    clip = FaceClip(path, size, frames)
    crops = Crops([], [], [], clip.fps)
    for crop in tqdm(clip, total=clip.frame_count, desc="face crops", unit="frame"):
        crops.images.append(crop.image)
        crops.stamps.append(crop.timestamp_ms)
        crops.reframed.append(crop.reframed)
    if len(crops.images) < 2:
        raise InputError(f"{path}: needs at least 2 frames with a face, got {len(crops.images)}")
    return crops


def run_vid2vid(loaded: LoadedModel, crops: Crops, quality: int) -> Coded:
    runtime = open_runtime(loaded, "auto")
    motions = measure_motion(
        loaded, crops.images, crops.stamps, runtime=runtime, reframed=crops.reframed
    )
    fps = crops.fps
    stream = encode_stream(loaded, crops.images[0], motions, fps, "image", quality, runtime=runtime)
    frames = decode_stream(loaded, stream, runtime)
    keyframe = stream.stats.keyframe_bytes
    return Coded(
        "vid2vid",
        frames,
        stream.stats.keyframe_bytes + stream.stats.motion_bytes,
        keyframe,
        len(crops.images) / fps,
    )


def x264_roundtrip(
    frames_rgb: np.ndarray, fps: float, options: dict[str, str]
) -> tuple[list[int], np.ndarray]:
    """Code RGB frames with libx264 through PyAV in the benchmark's call settings (preset
    medium, zerolatency, no B-frames, one intra frame) and decode them back: packet sizes and
    the decoded RGB frames. PyAV's wheel carries libx264, so no ffmpeg install is needed."""
    size = frames_rgb.shape[1]
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width = encoder.height = size
    encoder.pix_fmt = "yuv420p"
    rate = Fraction(fps).limit_denominator(1001)
    encoder.time_base, encoder.framerate = 1 / rate, rate
    encoder.gop_size = 100_000
    encoder.options = {
        "preset": "medium",
        "tune": "zerolatency",
        "bf": "0",
        "threads": "1",
        **options,
    }
    if "b" in options:
        encoder.bit_rate = int(float(options["b"]))
    packets = []
    for i, rgb in enumerate(frames_rgb):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = i
        packets.extend(encoder.encode(frame))
    packets.extend(encoder.encode(None))
    decoder = av.CodecContext.create("h264", "r")
    decoded = []
    for packet in packets:
        decoded.extend(f.to_ndarray(format="rgb24") for f in decoder.decode(packet))
    decoded.extend(f.to_ndarray(format="rgb24") for f in decoder.decode(None))
    if len(decoded) != len(frames_rgb):
        raise InputError(f"x264 gave back {len(decoded)} of {len(frames_rgb)} frames")
    return [p.size for p in packets], np.stack(decoded)


def run_h264(frames_rgb: np.ndarray, fps: float, target_kbps: float) -> Coded:
    """x264 at its floor (CRF 51), or at a bit-rate target near ``target_kbps`` (quantizer cap
    raised to 69, as the benchmark's rate points) when the floor costs more."""
    seconds = len(frames_rgb) / fps
    tries = [("CRF 51", {"crf": "51"})]
    sizes, frames = x264_roundtrip(frames_rgb, fps, tries[0][1])
    results = [(tries[0][0], sizes, frames)]
    if sum(sizes) * 8 / seconds / 1000 > target_kbps * 1.05:
        bits = f"{target_kbps * 1000:.0f}"
        label = f"{target_kbps:.1f} kbit/s target"
        results.append((label, *x264_roundtrip(frames_rgb, fps, {"b": bits, "qmax": "69"})))
    label, sizes, frames = min(
        results, key=lambda r: abs(sum(r[1]) * 8 / seconds / 1000 - target_kbps)
    )
    return Coded(f"H.264 ({label})", frames, sum(sizes), sizes[0], seconds)


def _label(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """A caption band above an RGB panel."""
    band = np.full((22 * len(lines) + 6, image.shape[1], 3), 255, np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(
            band, text, (6, 18 + 22 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
        )
    return np.concatenate([band, image], axis=0)


def write_side_by_side(path: Path, original: np.ndarray, coded: list[Coded], fps: float) -> None:
    size = coded[0].frames.shape[1]
    panels = [("original", ["original", f"face crop, {original.shape[1]} px"], original)]
    for c in coded:
        panels.append(
            (
                c.name,
                [c.name, f"{c.kbps_minute:.1f} kbit/s, PSNR {psnr(c.frames, original):.1f} dB"],
                c.frames,
            )
        )
    with VideoWriter(path, fps, (size * len(panels), size + 22 * 2 + 6)) as writer:
        for i in range(len(original)):
            row = [_label(frames[i], lines) for _, lines, frames in panels]
            writer.write(np.concatenate(row, axis=1)[..., ::-1].copy())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vid2vid-compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path, help="a talking-head video")
    parser.add_argument("-o", "--output", type=Path, default=Path("out/compare.mp4"))
    parser.add_argument(
        "--frames", type=int, default=150, help="frames of the clip to use (default: 150)"
    )
    parser.add_argument(
        "--quality", type=int, default=DEFAULT_QUALITY, help="vid2vid motion quality"
    )
    add_model_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        loaded = load_weights(args.weights, args.config, announce=False)
        if not loaded.trained:
            print(f"WARNING: vid2vid runs UNTRAINED weights ({loaded.source})", file=sys.stderr)
        crops = read_crops(args.clip, loaded.config.input_size, args.frames)
        fps = crops.fps
        vid2vid = run_vid2vid(loaded, crops, args.quality)
        size = vid2vid.frames.shape[1]
        original = np.stack(
            [
                cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA)[..., ::-1]
                for c in crops.images
            ]
        )
        h264 = run_h264(original, fps, vid2vid.kbps_minute)
        write_side_by_side(args.output, original, [vid2vid, h264], fps)
    except Vid2VidError as exc:
        print(f"vid2vid-compare: error: {exc}", file=sys.stderr)
        return 1
    seconds = len(crops.images) / fps
    print(
        f"{args.clip.name}: {len(crops.images)} frames, {seconds:.1f} s at {fps:g} fps, {size} px face crops"
    )
    print(f"{'codec':<22}{'kbit/s (clip)':>15}{'kbit/s (1 min)':>16}{'PSNR dB':>10}")
    for c in (vid2vid, h264):
        print(f"{c.name:<22}{c.kbps:>15.1f}{c.kbps_minute:>16.1f}{psnr(c.frames, original):>10.2f}")
    print(f"wrote {args.output} (original | vid2vid | H.264)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
