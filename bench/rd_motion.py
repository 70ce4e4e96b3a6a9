"""Rate-distortion of the motion stream: kbit/s against motion error and image PSNR loss.

For each motion quality the real packets are coded (:class:`MotionEncoder`) and decoded
(:class:`MotionDecoder`), and this reports

* the rate at 30 fps: motion packets with their 8-byte headers, and all-in with the JPEG q90
  keyframe spread over :data:`~vid2vid.codec.stream_stats.AMORTIZE_SECONDS` (the DESIGN budget);
* the motion error: RMSE per value group between the decoded and the unquantized params;
* the image cost (real clips only): frames rendered from the decoded motion against frames
  rendered from the unquantized motion ("PSNR vs unquantized"), and the PSNR loss in dB,
  PSNR(unquantized render, real crop) − PSNR(quantized render, real crop);
* encoder and decoder time per packet (median µs).

Motion comes from the model on real clips (``../shared/data/clips``) and from the synthetic
talking head of :mod:`vid2vid.bench.synthetic_motion` (K=15, and K=21 with scale; rate and motion
error only), because an untrained model's motion is not a face's. The operating point is the
lowest-rate quality whose mean PSNR loss over the clips is at most 0.3 dB.

    python -m vid2vid.bench.rd_motion --config tiny --frames 150

Prints tables, writes JSON (out/rd_motion.json) and a plot (out/rd_motion.png).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from tqdm import tqdm

from vid2vid.bench.synthetic_motion import talking_head
from vid2vid.codec.bitstream.chunks import split_keyframe
from vid2vid.codec.bitstream.header import wire_timestamp
from vid2vid.codec.bitstream.keyframe import (
    FINGERPRINT_SIZE,
    AppearanceKind,
    Keyframe,
    encode_keyframe_payload,
)
from vid2vid.codec.bitstream.motion import DEFAULT_QUALITY, MotionDecoder, MotionEncoder
from vid2vid.codec.bitstream.motion_params import Group, MotionLayout, MotionParams
from vid2vid.codec.checkpoint import LoadedModel, load_weights
from vid2vid.codec.cli_args import add_model_arguments
from vid2vid.codec.clip import FaceClip
from vid2vid.codec.imageio import frames_to_tensor
from vid2vid.codec.keyframe_image import encode_key_image
from vid2vid.codec.model import KeyframeFeatures
from vid2vid.codec.stream import StreamConfig, StreamEncoder, keyframe_features
from vid2vid.codec.stream_stats import AMORTIZE_SECONDS, StreamStats
from vid2vid.codec.wire import layout_for, params_to_motion
from vid2vid.engines.runtime import TorchRuntime
from vid2vid.errors import ConfigError, InputError, Vid2VidError

REPOSITORY = Path(__file__).resolve().parents[1]
CLIPS = REPOSITORY.parent / "shared" / "data" / "clips"
#: 30 fps clips of at least 150 frames.
DEFAULT_CLIPS = ("lp_d10.mp4", "lp_d14.mp4", "lp_d19.mp4")
DEFAULT_QUALITIES = tuple(sorted({1, *range(10, 101, 10), DEFAULT_QUALITY}))
FPS = 30.0
INTRA_PERIOD = 30  # one intra a second at 30 fps, the encoder's default
TARGET_KBPS = 10.0
TARGET_LOSS_DB = 0.3
KEYFRAME_IMAGE_QUALITY = 90
#: Synthetic motion: K=15 (face-vid2vid, 256 px out) and K=21 with scale (LivePortrait, 512 px).
SYNTHETIC = (("synthetic K=15", 15, False, 256), ("synthetic K=21+s", 21, True, 512))
SYNTHETIC_KEY_SIZE = 256
GROUP_NAMES = {
    Group.ANGLE: "angle_deg",
    Group.TRANSLATION: "translation",
    Group.DEFORMATION: "deformation",
    Group.SCALE: "scale",
}
PSNR_CAP_MSE = 1e-10  # identical frames count as 100 dB

TalkingHead = Callable[..., list[MotionParams]]


@dataclass
class RenderTarget:
    """What a clip's frames are rendered with and compared to."""

    loaded: LoadedModel
    features: KeyframeFeatures  # from the keyframe as the receiver decodes it
    truth: torch.Tensor  # N x 3 x S x S, the real face crops at the output size, RGB in [0, 1]
    batch: int


@dataclass
class MotionSource:
    """One stream of motion to sweep: a clip's (with a render target) or synthetic."""

    name: str
    kind: Literal["clip", "synthetic"]
    layout: MotionLayout
    timestamps_ms: list[int]
    params: list[MotionParams]
    keyframe_packets: list[bytes]
    render: RenderTarget | None = None

    @property
    def keyframe_bytes(self) -> int:
        return sum(len(p) for p in self.keyframe_packets)


@dataclass(frozen=True)
class QualityResult:
    """One quality of one source (or the mean over clips)."""

    quality: int
    motion_bits_per_frame: float
    motion_kbps: float
    total_kbps: float
    rmse: dict[str, float]
    encode_us: float
    decode_us: float
    psnr_vs_unquantized_db: float | None = None
    psnr_quantized_vs_crop_db: float | None = None
    psnr_unquantized_vs_crop_db: float | None = None
    psnr_loss_db: float | None = None


@dataclass(frozen=True)
class SourceResult:
    name: str
    kind: str
    frames: int
    layout: MotionLayout
    keyframe_bytes: int
    results: list[QualityResult]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "frames": self.frames,
            "num_kp": self.layout.num_kp,
            "has_scale": self.layout.has_scale,
            "keyframe_bytes": self.keyframe_bytes,
            "results": [asdict(r) for r in self.results],
        }


# -- motion sources -------------------------------------------------------------------------------


def _expand(features: KeyframeFeatures, n: int) -> KeyframeFeatures:
    def grow(t: torch.Tensor) -> torch.Tensor:
        return t.expand(n, *t.shape[1:])

    return KeyframeFeatures(
        volume=grow(features.volume),  # n x C x D x H x W
        canonical=grow(features.canonical),  # n x K x 3
        motion=type(features.motion)(*(grow(f) for f in features.motion)),
        jacobians=None if features.jacobians is None else grow(features.jacobians),
    )


@torch.inference_mode()
def clip_source(loaded: LoadedModel, path: Path, max_frames: int, batch: int) -> MotionSource:
    """The model's motion on a real clip, its JPEG q90 keyframe and the crops to compare with.

    Crops are tracked at the model's input size, as the encoder does; where the output is
    larger the ground truth is that crop resized (bicubic).
    """
    config = loaded.config
    layout = layout_for(config)
    clip = FaceClip(path, config.input_size, max_frames)
    crops, timestamps = [], []
    for crop in tqdm(clip, total=clip.frame_count, unit="frame", desc=path.name, leave=False):
        crops.append(crop.image)
        timestamps.append(crop.timestamp_ms)
    if not crops:
        raise InputError(f"{path} has no frames")
    runtime = TorchRuntime(loaded)
    coding = StreamConfig(image_quality=KEYFRAME_IMAGE_QUALITY)
    encoder = StreamEncoder(runtime, loaded.fingerprint, coding, clip.fps)
    made = encoder.make_keyframe(crops[0])
    params: list[MotionParams] = list(encoder.measure(crops, batch, keyframe=made))
    keyframe = made.keyframe
    size = config.output_size
    if size != config.input_size:
        crops = [cv2.resize(c, (size, size), interpolation=cv2.INTER_CUBIC) for c in crops]
    render = RenderTarget(
        loaded, keyframe_features(runtime, keyframe), frames_to_tensor(crops), batch
    )
    return MotionSource(
        path.name, "clip", layout, timestamps, params, _keyframe_packets(keyframe), render
    )


def synthetic_sources(
    talking_head: TalkingHead, frames: int, key_image: np.ndarray | None
) -> list[MotionSource]:
    """The synthetic talking heads; their keyframe is ``key_image`` (a real 256-px face crop)
    as JPEG q90, or none when no clip is at hand."""
    sources = []
    for name, num_kp, has_scale, output_size in SYNTHETIC:
        layout = MotionLayout(num_kp=num_kp, has_scale=has_scale)
        params = talking_head(layout, frames, FPS, 0)
        packets: list[bytes] = []
        if key_image is not None:
            keyframe = Keyframe(
                fingerprint=bytes(FINGERPRINT_SIZE),
                output_size=output_size,
                kind=AppearanceKind.JPEG,
                appearance=encode_key_image(key_image, AppearanceKind.JPEG, KEYFRAME_IMAGE_QUALITY),
                source_motion=params[0],
            )
            packets = _keyframe_packets(keyframe)
        timestamps = [round(i * 1000.0 / FPS) for i in range(frames)]
        sources.append(MotionSource(name, "synthetic", layout, timestamps, params, packets))
    return sources


def first_crop(path: Path, size: int) -> np.ndarray:
    return next(iter(FaceClip(path, size, 1))).image


def _keyframe_packets(keyframe: Keyframe) -> list[bytes]:
    return split_keyframe(
        encode_keyframe_payload(keyframe),
        stream_id=0,
        first_sequence=0,
        timestamp_ms=0,
        keyframe_id=0,
    )


# -- measurements ---------------------------------------------------------------------------------


def encode_stream(source: MotionSource, quality: int, repeats: int) -> tuple[list[bytes], float]:
    """The motion packets at ``quality`` and the median encoder µs per packet."""
    samples: list[float] = []
    packets: list[bytes] = []
    for _ in range(max(repeats, 1)):
        encoder = MotionEncoder(source.layout, quality=quality, intra_period=INTRA_PERIOD)
        packets = []
        for params, timestamp in zip(source.params, source.timestamps_ms, strict=True):
            start = time.perf_counter_ns()
            packets.append(encoder.encode(params, wire_timestamp(timestamp)))
            samples.append((time.perf_counter_ns() - start) / 1000.0)
    return packets, statistics.median(samples)


def decode_stream(
    layout: MotionLayout, packets: Sequence[bytes], repeats: int
) -> tuple[list[MotionParams], float]:
    """The decoded params and the median decoder µs per packet."""
    samples: list[float] = []
    decoded: list[MotionParams] = []
    for _ in range(max(repeats, 1)):
        decoder = MotionDecoder(layout)
        decoded = []
        for packet in packets:
            start = time.perf_counter_ns()
            decoded.append(decoder.decode(packet).params)
            samples.append((time.perf_counter_ns() - start) / 1000.0)
    return decoded, statistics.median(samples)


def group_rmse(
    layout: MotionLayout, decoded: Sequence[MotionParams], original: Sequence[MotionParams]
) -> dict[str, float]:
    """RMSE per value group (angles in degrees) over all frames."""
    error = np.stack([layout.flatten(d) for d in decoded]) - np.stack(
        [layout.flatten(o) for o in original]
    )  # T x size
    return {
        GROUP_NAMES[Group(g)]: float(np.sqrt(np.mean(error[:, layout.groups == g] ** 2)))
        for g in range(layout.num_groups)
    }


@torch.inference_mode()
def render(target: RenderTarget, params: Sequence[MotionParams]) -> torch.Tensor:
    """N x 3 x S x S frames animated from ``params`` (float RGB in [0, 1], on the CPU)."""
    model = target.loaded.model
    device = target.features.volume.device
    frames = []
    for start in range(0, len(params), target.batch):
        chunk = params[start : start + target.batch]
        driving = params_to_motion(chunk, device)
        image = model.animate(_expand(target.features, len(chunk)), driving)  # B x 3 x S x S
        frames.append(image.float().clamp(0.0, 1.0).cpu())
    return torch.cat(frames)


def mean_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """The mean over frames of each frame's PSNR (peak 1)."""
    mse = (a - b).pow(2).flatten(1).mean(1).clamp_min(PSNR_CAP_MSE)  # N
    return float((-10.0 * torch.log10(mse)).mean())


def sweep(
    sources: Sequence[MotionSource], qualities: Sequence[int], repeats: int = 5
) -> list[SourceResult]:
    """Code, decode (and render) every source at every quality."""
    results = []
    progress = tqdm(total=len(sources) * len(qualities), unit="point", desc="rd sweep")
    for source in sources:
        reference = None
        if source.render is not None:
            reference = render(source.render, source.params)
            reference_psnr = mean_psnr(reference, source.render.truth)
        rows = []
        for quality in qualities:
            progress.set_postfix_str(f"{source.name} q={quality}")
            packets, encode_us = encode_stream(source, quality, repeats)
            decoded, decode_us = decode_stream(source.layout, packets, repeats)
            stats = StreamStats(fps=FPS)
            for packet in [*source.keyframe_packets, *packets]:
                stats.add(packet)
            image: dict[str, float] = {}
            if source.render is not None and reference is not None:
                frames = render(source.render, decoded)
                vs_crop = mean_psnr(frames, source.render.truth)
                image = {
                    "psnr_vs_unquantized_db": mean_psnr(frames, reference),
                    "psnr_quantized_vs_crop_db": vs_crop,
                    "psnr_unquantized_vs_crop_db": reference_psnr,
                    "psnr_loss_db": reference_psnr - vs_crop,
                }
            rows.append(
                QualityResult(
                    quality=quality,
                    motion_bits_per_frame=8.0 * stats.motion_bytes / stats.frames,
                    motion_kbps=stats.motion_kbps,
                    total_kbps=stats.total_kbps,
                    rmse=group_rmse(source.layout, decoded, source.params),
                    encode_us=encode_us,
                    decode_us=decode_us,
                    **image,
                )
            )
            progress.update()
        results.append(
            SourceResult(
                source.name,
                source.kind,
                len(source.params),
                source.layout,
                source.keyframe_bytes,
                rows,
            )
        )
    progress.close()
    return results


def mean_results(sources: Sequence[SourceResult]) -> list[QualityResult]:
    """Per quality, the mean of every figure over ``sources`` (which share the qualities)."""
    if not sources:
        return []
    means = []
    for rows in zip(*(s.results for s in sources), strict=True):

        def mean(name: str, rows: tuple[QualityResult, ...] = rows) -> float | None:
            values = [getattr(r, name) for r in rows]
            return None if None in values else float(np.mean(values))

        groups = rows[0].rmse.keys()
        fields = {
            name: mean(name)
            for name in QualityResult.__dataclass_fields__
            if name not in ("quality", "rmse")
        }
        rmse = {g: float(np.mean([r.rmse[g] for r in rows])) for g in groups}
        means.append(QualityResult(quality=rows[0].quality, rmse=rmse, **fields))  # type: ignore[arg-type]
    return means


def operating_point(mean: Sequence[QualityResult]) -> QualityResult | None:
    """The lowest-rate quality whose PSNR loss is at most the target, if any."""
    fits = [r for r in mean if r.psnr_loss_db is not None and r.psnr_loss_db <= TARGET_LOSS_DB]
    return min(fits, key=lambda r: (r.total_kbps, r.quality)) if fits else None


# -- output ---------------------------------------------------------------------------------------


def _number(value: float | None, digits: int, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def format_table(title: str, rows: Sequence[QualityResult], chosen: int | None = None) -> str:
    head = (
        f"{'q':>5} {'bit/frm':>8} {'motion':>7} {'all-in':>7} {'ang °':>7} {'t':>8} "
        f"{'δ':>8} {'s':>8} {'PSNR/unq':>8} {'loss dB':>8} {'enc µs':>7} {'dec µs':>7}"
    )
    lines = [title, f"{'':>5} {'':>8} {'kbit/s':>7} {'kbit/s':>7} {'RMSE':>7}", head]
    lines.append("-" * len(head))
    for r in rows:
        mark = "*" if r.quality == DEFAULT_QUALITY else " "
        mark += "<" if r.quality == chosen else " "
        lines.append(
            f"{r.quality:>3}{mark} {r.motion_bits_per_frame:>8.1f} {r.motion_kbps:>7.2f} "
            f"{r.total_kbps:>7.2f} {r.rmse['angle_deg']:>7.3f} {r.rmse['translation']:>8.5f} "
            f"{r.rmse['deformation']:>8.5f} {_number(r.rmse.get('scale'), 5, 8)} "
            f"{_number(r.psnr_vs_unquantized_db, 2, 8)} {_number(r.psnr_loss_db, 3, 8)} "
            f"{r.encode_us:>7.1f} {r.decode_us:>7.1f}"
        )
    return "\n".join(lines)


def machine() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def plot(
    path: Path,
    clips: Sequence[SourceResult],
    mean: Sequence[QualityResult],
    synthetic: Sequence[SourceResult],
    chosen: QualityResult | None,
    title: str,
) -> None:
    """Two panels: kbit/s vs motion RMSE per group, kbit/s vs PSNR loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    colours = {"angle_deg": "C0", "translation": "C1", "deformation": "C2", "scale": "C3"}
    styles = ("--", ":", "-.")
    series = [("clips (mean)", mean, "-")] + [
        (s.name, s.results, styles[i % len(styles)]) for i, s in enumerate(synthetic)
    ]
    for label, rows, style in series:
        if not rows:
            continue
        rate = [r.total_kbps for r in rows]
        for group in rows[0].rmse:
            left.plot(
                rate,
                [max(r.rmse[group], 1e-9) for r in rows],
                style,
                color=colours[group],
                marker=".",
                label=f"{group}, {label}",
            )
        default = [r for r in rows if r.quality == DEFAULT_QUALITY]
        for group in rows[0].rmse if default else ():
            left.plot(default[0].total_kbps, default[0].rmse[group], "*", color="k", ms=10)
    left.set(xscale="log", yscale="log", xlabel="all-in kbit/s at 30 fps", ylabel="motion RMSE")
    left.set_title("motion error (° for angles; ★ default quality)")
    for clip in clips:
        right.plot(
            [r.total_kbps for r in clip.results],
            [r.psnr_loss_db for r in clip.results],
            "-",
            lw=0.8,
            alpha=0.5,
            label=clip.name,
        )
    if mean:
        right.plot(
            [r.total_kbps for r in mean],
            [r.psnr_loss_db for r in mean],
            "-o",
            color="k",
            ms=3,
            label="mean",
        )
        for r in mean:
            right.annotate(str(r.quality), (r.total_kbps, r.psnr_loss_db), fontsize=7)
        default = [r for r in mean if r.quality == DEFAULT_QUALITY]
        if default:
            right.plot(
                default[0].total_kbps, default[0].psnr_loss_db, "*", color="k", ms=12,
                label=f"default q={DEFAULT_QUALITY}",
            )  # fmt: skip
    if chosen is not None:
        right.plot(
            chosen.total_kbps, chosen.psnr_loss_db, "o", mfc="none", mec="r", ms=14,
            label=f"operating point q={chosen.quality}",
        )  # fmt: skip
    right.axhline(TARGET_LOSS_DB, color="r", ls=":", label=f"{TARGET_LOSS_DB} dB target")
    right.set(xscale="log", xlabel="all-in kbit/s at 30 fps", ylabel="PSNR loss (dB)")
    if mean:
        twin = right.twinx()
        twin.plot(
            [r.total_kbps for r in mean],
            [r.psnr_vs_unquantized_db for r in mean],
            "s--",
            color="0.5",
            ms=3,
        )
        twin.set_ylabel("PSNR vs unquantized render (dB), grey squares", color="0.4")
    right.set_title("image cost of quantized motion (clips)")
    for axis in (left, right):
        axis.axvline(TARGET_KBPS, color="r", ls="--", label=f"{TARGET_KBPS:g} kbit/s target")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- command line ---------------------------------------------------------------------------------


def parse_qualities(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise ConfigError(f"--qualities must be comma-separated integers, got {text!r}") from None
    if not values or not all(1 <= v <= 100 for v in values):
        raise ConfigError(f"--qualities must be integers in 1..100, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.bench.rd_motion",
        description="Rate-distortion sweep of the motion stream over the quality: kbit/s, motion "
        "RMSE, PSNR loss of the rendered frames, encode/decode µs per packet.",
    )
    parser.add_argument(
        "--clips",
        type=Path,
        nargs="+",
        default=None,
        help=f"real clips (default: {', '.join(DEFAULT_CLIPS)} from {CLIPS}, skipped if absent)",
    )
    add_model_arguments(parser, default_config="tiny")
    parser.add_argument(
        "--frames",
        type=int,
        default=150,
        help="frames per clip, and of each synthetic stream (default: 150)",
    )
    parser.add_argument(
        "--qualities",
        default=",".join(map(str, DEFAULT_QUALITIES)),
        help=f"comma-separated qualities 1..100 (default: {','.join(map(str, DEFAULT_QUALITIES))})",
    )
    parser.add_argument("--batch", type=int, default=16, help="frames per model call (default: 16)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timing passes over each stream (default: 5)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("out/rd_motion.json"),
        help="(default: out/rd_motion.json)",
    )
    parser.add_argument(
        "--png", type=Path, default=Path("out/rd_motion.png"), help="(default: out/rd_motion.png)"
    )
    return parser


def _clip_paths(given: list[Path] | None) -> list[Path]:
    if given is not None:
        for path in given:
            if not path.exists():
                raise InputError(f"clip not found: {path}")
        return given
    paths = [CLIPS / name for name in DEFAULT_CLIPS]
    if not all(p.exists() for p in paths):
        print(f"WARNING: {CLIPS} not found: synthetic motion only", file=sys.stderr)
        return []
    return paths


def run(args: argparse.Namespace) -> dict:
    """Build the sources, sweep, print the tables; returns the JSON document."""
    qualities = parse_qualities(args.qualities)
    if args.frames < 2:
        raise ConfigError(f"--frames must be at least 2, got {args.frames}")
    if args.batch < 1:
        raise ConfigError(f"--batch must be at least 1, got {args.batch}")
    paths = _clip_paths(args.clips)
    loaded = load_weights(args.weights, args.config, device=args.device, announce=False)
    trained = loaded.trained
    weights_note = "trained" if trained else "UNTRAINED (seeded random weights)"
    if not trained:
        print(
            f"WARNING: UNTRAINED weights ({loaded.source}): the renders are not faces and the "
            "model's motion is not a face's; PSNR figures are indicative only.",
            file=sys.stderr,
        )
    clips = [clip_source(loaded, p, args.frames, args.batch) for p in paths]
    key_image = first_crop(paths[0], SYNTHETIC_KEY_SIZE) if paths else None
    synthetic = synthetic_sources(talking_head, args.frames, key_image)
    results = sweep([*clips, *synthetic], qualities, args.repeats)
    clip_results = [r for r in results if r.kind == "clip"]
    synthetic_results = [r for r in results if r.kind == "synthetic"]
    mean = mean_results(clip_results)
    chosen = operating_point(mean)

    title = (
        f"model {loaded.config.name}, {weights_note}; {args.frames} frames; rates at {FPS:g} fps, "
        f"intra every {INTRA_PERIOD}, JPEG q{KEYFRAME_IMAGE_QUALITY} keyframe over "
        f"{AMORTIZE_SECONDS:g} s; * default quality, < operating point"
    )
    print(title)
    if clip_results:
        sizes = ", ".join(f"{c.name} {c.keyframe_bytes} B" for c in clip_results)
        size = loaded.config.input_size
        print(
            format_table(
                f"\nmodel motion on real clips, mean of {len(clip_results)} "
                f"(keyframes {size}x{size}: {sizes})",
                mean,
                chosen.quality if chosen else None,
            )
        )
    for source in synthetic_results:
        print(
            format_table(
                f"\n{source.name} (rate only; keyframe {SYNTHETIC_KEY_SIZE}-px crop, "
                f"{source.keyframe_bytes} B)",
                source.results,
            )
        )
    print()
    if chosen is None:
        print(f"operating point: none (no quality keeps the PSNR loss ≤ {TARGET_LOSS_DB} dB)")
    else:
        verdict = "meets" if chosen.total_kbps <= TARGET_KBPS else "MISSES"
        print(
            f"operating point: quality {chosen.quality}: {chosen.total_kbps:.2f} kbit/s all-in "
            f"({chosen.motion_kbps:.2f} motion), PSNR loss {chosen.psnr_loss_db:.3f} dB, "
            f"{chosen.psnr_vs_unquantized_db:.2f} dB vs unquantized, decode "
            f"{chosen.decode_us:.1f} µs/packet: {verdict} the ≤ {TARGET_KBPS:g} kbit/s target"
            + (
                ""
                if trained
                else f" (UNTRAINED model: its renders are "
                f"{chosen.psnr_unquantized_vs_crop_db:.1f} dB from the crops, so the loss "
                "criterion is not meaningful until trained weights exist)"
            )
        )

    document = {
        "benchmark": "rd_motion",
        "note": "" if trained else "UNTRAINED model: motion and renders are not a face's",
        "machine": machine(),
        "torch": torch.__version__,
        "config": loaded.config.name,
        "weights": loaded.source,
        "weights_trained": trained,
        "fingerprint": loaded.fingerprint,
        "fps": FPS,
        "intra_period": INTRA_PERIOD,
        "keyframe": f"jpeg q{KEYFRAME_IMAGE_QUALITY}",
        "amortize_seconds": AMORTIZE_SECONDS,
        "frames": args.frames,
        "qualities": qualities,
        "default_quality": DEFAULT_QUALITY,
        "targets": {"total_kbps": TARGET_KBPS, "psnr_loss_db": TARGET_LOSS_DB},
        "clips": [r.to_dict() for r in clip_results],
        "clip_mean": [asdict(r) for r in mean],
        "synthetic": [r.to_dict() for r in synthetic_results],
        "operating_point": None
        if chosen is None
        else {**asdict(chosen), "meets_kbps_target": chosen.total_kbps <= TARGET_KBPS},
    }
    plot(
        args.png,
        clip_results,
        mean,
        synthetic_results,
        chosen,
        f"motion rate-distortion: {loaded.config.name}, {weights_note}",
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_finite(document), indent=2, ensure_ascii=False))
    print(f"wrote {args.json} and {args.png}")
    return document


def _finite(value: object) -> object:
    """JSON without NaN/inf (strict parsers reject them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except Vid2VidError as exc:
        print(f"rd_motion: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
