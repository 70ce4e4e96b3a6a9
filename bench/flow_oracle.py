"""Where the lite model's error is, and what more motion would buy: oracle warps of the keyframe.

``python -m vid2vid.bench.flow_oracle CLIP [CLIP ...]`` takes, per clip, the tracker's crops at
256 px (the default framing, up to the first re-framing) and scores against each true frame:

* ``model``: the lite decoder driven by the frame's landmarks (unquantized motion), and by its
  background points' flow where the model has them;
* ``frozen``: the keyframe held;
* ``oracle``: the keyframe warped by the true flow (OpenCV's DIS optical flow from the true frame
  to the keyframe), at the motion network's 64²: what a perfect motion network could reach
  with a warp alone;
* ``oracle_face`` / ``oracle_outside``: the model's frame with the oracle pasted inside / outside
  the face (the landmark hulls of the keyframe and of the frame, dilated by ``FACE_MARGIN``):
  which side of the face the missing motion is on;
* ``points_N``: the model inside the face, and outside it the keyframe warped by the flow of an
  N x N grid of points (the points outside the face only, each the median true flow around
  it, mixed by Gaussian weights): what N² extra keypoints sent by the sender could describe.

The true flow comes from the frame itself, so the oracles are bounds, not codecs: they say where
the model loses and what a richer motion packet could be worth. Prints a table of mean PSNR per
clip and writes ``flow_oracle.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from vid2vid.codec.checkpoint import LoadedModel, load_weights
from vid2vid.codec.cli_args import add_model_arguments
from vid2vid.codec.face import CropConfig, FaceTracker
from vid2vid.codec.lite.landmarks import LandmarkReader
from vid2vid.codec.lite.model import LiteModel
from vid2vid.codec.video import VideoReader
from vid2vid.errors import InputError, Vid2VidError
from vid2vid.training.lite.objective import pair_keypoints

SIDE = 256
FLOW_SIDE = 64  # the lite motion network's resolution
FACE_MARGIN = 12  # pixels at 256 px around the landmark hull that count as face
GRIDS = (3, 4, 6)


@dataclass
class OracleRow:
    """Mean PSNR (dB) of each reconstruction of one clip's frames."""

    clip: str
    frames: int
    scores: dict[str, float] = field(default_factory=dict)


def psnr(test: np.ndarray, truth: np.ndarray) -> float:
    """PSNR of float images in [0, 1]."""
    mse = float(np.mean((np.clip(test, 0.0, 1.0) - truth) ** 2))
    return 10.0 * np.log10(1.0 / max(mse, 1e-10))


def true_flow(key: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """H x W x 2: for every pixel of ``truth``, the offset of where it is in ``key`` (DIS)."""
    grey = [
        cv2.cvtColor((x * 255).round().astype(np.uint8), cv2.COLOR_RGB2GRAY) for x in (key, truth)
    ]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(grey[1], grey[0], None)


def coarse(flow: np.ndarray, side: int) -> np.ndarray:
    """The flow as a network at ``side``² could express it: averaged down, then bilinear up."""
    size = flow.shape[1], flow.shape[0]
    small = cv2.resize(flow, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)


def warp(key: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``key`` sampled at each pixel plus ``flow`` (edges repeated, as the decoder's warp)."""
    ys, xs = np.mgrid[0 : key.shape[0], 0 : key.shape[1]].astype(np.float32)
    return cv2.remap(
        key, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def point_flow(flow: np.ndarray, points: list[tuple[int, int]], sigma: float) -> np.ndarray:
    """A dense flow from a few points: each point's median flow in a 16 px window, mixed by
    Gaussian weights of width ``sigma`` (how a motion network mixes keypoint hypotheses)."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    total = np.zeros_like(flow)
    weight = np.full((height, width), 1e-6, np.float32)
    for x, y in points:
        window = flow[max(y - 8, 0) : y + 8, max(x - 8, 0) : x + 8].reshape(-1, 2)
        w = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2.0 * sigma**2))
        total += w[..., None] * np.median(window, axis=0)
        weight += w
    return total / weight[..., None]


def face_mask(landmarks: np.ndarray, side: int, margin: int = FACE_MARGIN) -> np.ndarray:
    """side x side bool: the convex hull of 68 landmarks (pixels), grown by ``margin``."""
    mask = np.zeros((side, side), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(landmarks.round().astype(np.int32)), 1)
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    return cv2.dilate(mask, kernel).astype(bool)


def grid_points(n: int, side: int, outside: np.ndarray) -> list[tuple[int, int]]:
    """Centres of an n x n grid over the crop that fall where ``outside`` is True."""
    centres = [
        (int((i + 0.5) * side / n), int((j + 0.5) * side / n)) for i in range(n) for j in range(n)
    ]
    return [(x, y) for x, y in centres if outside[y, x]]


def held_crops(path: Path, frames: int, stride: int) -> list[np.ndarray]:
    """RGB float crops (the tracker's default framing) of every ``stride``-th frame, up to the
    first re-framing: one keyframe's stretch of a call."""
    tracker = FaceTracker(CropConfig(output_size=SIDE))
    crops: list[np.ndarray] = []
    with VideoReader(path) as reader:
        for index, frame in enumerate(reader):
            if index >= frames:
                break
            result = tracker.update(frame.image)
            if result.crop is None:
                continue
            if result.reacquired and crops:
                break
            if index % stride == 0:
                crops.append(result.crop[..., ::-1].astype(np.float32) / 255.0)
    if len(crops) < 2:
        raise InputError(f"{path}: fewer than two face crops")
    return crops


def _render(
    model: LiteModel, key: np.ndarray, truth: np.ndarray, key_points: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """The model's frame, driven as a call drives it (background points, if the model has them,
    measured from the keyframe to the true frame)."""
    image, frame = (
        torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None] for x in (key, truth)
    )
    with torch.inference_mode():
        output, _ = model.render(
            image, *pair_keypoints(model, image, frame, key_points[None], points[None])
        )
    return output[0].clamp(0, 1).permute(1, 2, 0).numpy()


def score_clip(model: LiteModel, path: Path, frames: int = 240, stride: int = 4) -> OracleRow:
    """Every reconstruction's mean PSNR over the clip's held stretch (see the module's doc)."""
    crops = held_crops(path, frames, stride)
    reader = LandmarkReader()
    landmarks = [
        reader(cv2.cvtColor((c * 255).round().astype(np.uint8), cv2.COLOR_RGB2GRAY)) for c in crops
    ]
    key, key_face = crops[0], face_mask(landmarks[0], SIDE)
    scores: dict[str, list[float]] = {}
    for truth, points in zip(crops[1:], landmarks[1:], strict=True):
        output = _render(model, key, truth, landmarks[0], points)
        inside = (key_face | face_mask(points, SIDE))[..., None]
        flow = true_flow(key, truth)
        oracle = warp(key, coarse(flow, FLOW_SIDE))
        found = {
            "model": output,
            "frozen": key,
            "oracle": oracle,
            "oracle_face": np.where(inside, oracle, output),
            "oracle_outside": np.where(inside, output, oracle),
        }
        for n in GRIDS:
            grid = grid_points(n, SIDE, ~key_face)
            found[f"points_{n}x{n}"] = np.where(
                inside, output, warp(key, point_flow(flow, grid, SIDE / n / 1.5))
            )
        for name, image in found.items():
            scores.setdefault(name, []).append(psnr(image, truth))
    means = {name: round(float(np.mean(values)), 3) for name, values in scores.items()}
    return OracleRow(path.stem, len(crops) - 1, means)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.bench.flow_oracle",
        description="The lite model against oracle warps of the keyframe (true optical flow), "
        "inside and outside the face, and through a few extra points.",
    )
    parser.add_argument("clips", type=Path, nargs="+", help="video files")
    add_model_arguments(parser)
    parser.add_argument(
        "--frames", type=int, default=240, help="frames read per clip (default: 240)"
    )
    parser.add_argument("--stride", type=int, default=4, help="score every N-th frame (default: 4)")
    parser.add_argument("-o", "--output", type=Path, default=Path("out/flow-oracle"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        loaded: LoadedModel = load_weights(args.weights, args.config, announce=False)
        model = loaded.model.eval()
        if not isinstance(model, LiteModel):
            raise InputError(f"the flow oracle needs a lite model, got {loaded.config.name}")
        torch.set_num_threads(1)
        rows = [score_clip(model, path, args.frames, args.stride) for path in args.clips]
    except Vid2VidError as error:
        print(f"flow_oracle: error: {error}", file=sys.stderr)
        return 1
    names = list(rows[0].scores)
    print(f"{'clip':32s} {'frames':>6s} " + " ".join(f"{n:>14s}" for n in names))
    for row in rows:
        print(
            f"{row.clip[:32]:32s} {row.frames:6d} "
            + " ".join(f"{row.scores[n]:14.2f}" for n in names)
        )
    means = {n: round(float(np.mean([r.scores[n] for r in rows])), 3) for n in names}
    print(f"{'mean':32s} {'':6s} " + " ".join(f"{means[n]:14.2f}" for n in names))
    args.output.mkdir(parents=True, exist_ok=True)
    report = {"model": loaded.fingerprint, "side": SIDE, "flow_side": FLOW_SIDE,
              "face_margin": FACE_MARGIN, "rows": [asdict(r) for r in rows], "mean": means}  # fmt: skip
    (args.output / "flow_oracle.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output / 'flow_oracle.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
