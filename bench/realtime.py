"""Can a call run on two laptops without GPUs? The sender's and the receiver's per-frame work.

``python -m vid2vid.bench.realtime`` times, frame by frame on a real clip:

* the sender: face tracking on the camera-size frame, motion extraction on the crop, and the
  motion packet's quantization and entropy coding;
* the receiver: the keypoint math and the decoder at the model's output size, batch 1.

for the shipped default model (lite, 512 px) through PyTorch and ONNX Runtime, and beside it the
paper-size preset (``paper-256``, untrained: its speed does not depend on the weights). It prints
a table of median milliseconds and frames per second and writes JSON (and a PNG) under ``out/``.
Absolute times are this machine's; run it on an idle machine (pause a training run first).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vid2vid.codec.bitstream.motion import MotionEncoder
from vid2vid.codec.checkpoint import LoadedModel, load_weights
from vid2vid.codec.face import CropConfig, FaceTracker
from vid2vid.codec.imageio import frames_to_tensor
from vid2vid.codec.video import VideoReader
from vid2vid.codec.wire import layout_for, motion_to_params, params_to_motion
from vid2vid.engines import open_runtime
from vid2vid.errors import Vid2VidError


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: lazy sessions, exports, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        frames = []
        for frame in reader:
            frames.append(frame.image)
            if len(frames) == count:
                break
    return frames


def time_tracking(frames: list[np.ndarray], size: int) -> tuple[float, list[np.ndarray]]:
    """Mean ms of one tracker update (detection every few frames, as live, so the mean and not
    the median is the sustained cost) and the crops."""
    tracker = FaceTracker(CropConfig(output_size=size))
    times, crops = [], []
    for frame in frames:
        start = time.perf_counter()
        result = tracker.update(frame)
        times.append((time.perf_counter() - start) * 1000)
        if result.crop is not None:
            crops.append(result.crop)
    return statistics.fmean(times[1:]), crops  # the first frame searches the whole frame


def measure(loaded: LoadedModel, engine: str, frames: list[np.ndarray], repeats: int) -> dict:
    config = loaded.config
    runtime = open_runtime(loaded, engine)
    track_ms, crops = time_tracking(frames, config.input_size)
    crop = frames_to_tensor(crops[len(crops) // 2 : len(crops) // 2 + 1])
    key_image = frames_to_tensor(crops[:1])  # the keyframe the motion is measured against
    motion_ms = _median_ms(lambda: runtime.extract_motion(crop, reference=key_image), repeats)
    layout = layout_for(config)
    params = motion_to_params(runtime.extract_motion(crop, reference=key_image), layout)[0]
    encoder = MotionEncoder(layout, stream_id=0)
    stamp = iter(range(10**9))
    code_ms = _median_ms(lambda: encoder.encode(params, next(stamp) % (1 << 24)), repeats)
    keyframe = runtime.encode_keyframe(key_image)
    model = loaded.model

    def receive() -> np.ndarray:
        driving = params_to_motion([params])
        source_kp = model.pose(keyframe.canonical, keyframe.motion)
        driving_kp = model.pose(keyframe.canonical, driving)
        frame = runtime.decode(keyframe.volume, source_kp, driving_kp)
        return (frame[0].permute(1, 2, 0).clamp(0, 1) * 255).byte().numpy()

    decode_ms = _median_ms(receive, repeats)
    sender_ms = track_ms + motion_ms + code_ms
    return {
        "model": config.name,
        "trained": loaded.trained,
        "engine": runtime.name,
        "input_px": config.input_size,
        "output_px": config.output_size,
        "track_ms": track_ms,
        "motion_ms": motion_ms,
        "code_ms": code_ms,
        "sender_ms": sender_ms,
        "sender_fps": 1000 / sender_ms,
        "receiver_ms": decode_ms,
        "receiver_fps": 1000 / decode_ms,
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['model']}\n{r['engine']}" for r in rows]
    fig, axis = plt.subplots(figsize=(2.2 * len(rows) + 2, 4))
    x = np.arange(len(rows))
    axis.bar(x - 0.2, [r["sender_fps"] for r in rows], 0.4, label="sender fps")
    axis.bar(x + 0.2, [r["receiver_fps"] for r in rows], 0.4, label="receiver fps")
    axis.axhline(30, color="C0", linestyle="--", linewidth=1, label="sender target 30")
    axis.axhline(10, color="C1", linestyle="--", linewidth=1, label="receiver target 10")
    axis.set_xticks(x, labels, fontsize=8)
    axis.set_yscale("log")
    axis.set_ylabel("frames per second (2-core CPU)")
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.bench.realtime", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--clip", type=Path, default=Path("../shared/data/clips/lp_d10.mp4"))
    parser.add_argument(
        "--frames", type=int, default=60, help="camera frames for the tracker (default: 60)"
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--engines", default="torch,onnx")
    parser.add_argument(
        "--paper", default="paper-256", help="the paper-size preset beside it ('' to skip)"
    )
    parser.add_argument("--paper-repeats", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads (default: 2, the machine's cores)"
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("out/realtime"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    try:
        frames = read_frames(args.clip, args.frames)
        default = load_weights(None, "default")
        for engine in args.engines.split(","):
            rows.append(measure(default, engine, frames, args.repeats))
        if args.paper:
            paper = load_weights(None, args.paper)
            for engine in args.engines.split(","):
                rows.append(measure(paper, engine, frames, args.paper_repeats))
    except Vid2VidError as exc:
        print(f"realtime: error: {exc}", file=sys.stderr)
        return 1
    header = f"{'model':<12}{'engine':<18}{'track':>7}{'motion':>8}{'code':>6}{'sender fps':>12}{'decode ms':>11}{'receiver fps':>14}"
    print(header)
    for r in rows:
        print(
            f"{r['model']:<12}{r['engine']:<18}{r['track_ms']:>7.1f}{r['motion_ms']:>8.1f}{r['code_ms']:>6.2f}"
            f"{r['sender_fps']:>12.1f}{r['receiver_ms']:>11.1f}{r['receiver_fps']:>14.1f}"
        )
    args.output.mkdir(parents=True, exist_ok=True)
    document = {"clip": str(args.clip), "threads": args.threads, "rows": rows}
    (args.output / "realtime.json").write_text(json.dumps(document, indent=1) + "\n")
    plot(rows, args.output / "realtime.png")
    print(f"wrote {args.output}/realtime.json and realtime.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
