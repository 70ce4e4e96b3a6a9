"""``vid2vid-engines-bench``: ms per stage and fps of every available engine (a benchmark, not a test).

Stages: ``motion`` (H + Δ, the sender's per-frame work), ``keyframe`` (F + L + source pose, once
per keyframe) and ``decode`` (M + warp + G, the receiver's per-frame work). Sizes are the
output side (256 or 512 px; the networks' input stays 256 px). Batch 1 and batch N; with batch N
the per-frame figure is the call's time / N. Engines: PyTorch eager (the reference), ONNX
Runtime, and where a GPU is present PyTorch's fast path (FP16, channels-last, CUDA graphs) and
TensorRT (FP16, when installed). Medians of ``--repeats`` calls after a warm-up call; random
(untrained) weights, since speed does not depend on them. Prints a table and writes JSON.

Configurations: ``tiny`` is the test architecture at 256 px in (a stand-in for a light
sender-side extractor), ``paper`` the paper's networks (paper-256 / paper-512),
``liveportrait`` LivePortrait's (512 px only; GPU-sized).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from vid2vid.codec.checkpoint import LoadedModel, fingerprint
from vid2vid.codec.config import ModelConfig, preset
from vid2vid.codec.model import seeded_model
from vid2vid.errors import Vid2VidError

STAGES = ("motion", "keyframe", "decode")
CONFIGS = ("tiny", "paper", "liveportrait")


def bench_config(name: str, size: int) -> ModelConfig:
    """The configuration ``name`` with ``size`` px output and 256 px input."""
    if name == "tiny":
        config = preset("tiny")
        arch = dataclasses.replace(config.arch, generator_extra_up=1 if size == 512 else 0)
        return config.replace(name=f"tiny-{size}", input_size=256, output_size=size, arch=arch)
    if name == "paper":
        return preset("paper-512" if size == 512 else "paper-256")
    if name == "liveportrait":
        if size != 512:
            raise Vid2VidError("liveportrait renders 512 px only")
        return preset("liveportrait")
    raise Vid2VidError(f"unknown benchmark config {name!r}; choose from {', '.join(CONFIGS)}")


def seeded(config: ModelConfig) -> LoadedModel:
    model = seeded_model(config)
    return LoadedModel(model, config, fingerprint(config, model.state_dict()), False, "bench")


def timed_ms(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> dict[str, float]:
    """Median and minimum wall ms of ``repeats`` calls after a warm-up, and median CPU ms.

    On a shared machine the minimum is the closest to an idle machine's figure; the process
    CPU time (all threads) shows the work itself.
    """
    fn()  # warm-up: allocator, kernel selection, graph capture, ORT's first-run planning
    sync()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    return {
        "median": statistics.median(wall),
        "min": min(wall),
        "cpu": statistics.median(cpu),
    }


def open_engines(loaded: LoadedModel, wanted: list[str], device: str, workdir: Path) -> dict:
    """The runtimes to compare, by label; engines whose libraries are missing are skipped."""
    from vid2vid.engines.runtime import TorchRuntime, onnx_available, tensorrt_available

    engines: dict = {}
    if "torch" in wanted:
        engines["torch-" + device] = TorchRuntime(loaded, device)
    if "onnx" in wanted and onnx_available():
        from vid2vid.engines.onnx_runtime import OnnxRuntime

        folder = workdir / loaded.config.name
        runtime = OnnxRuntime(folder, loaded.config, device=device, loaded=loaded)
        engines[runtime.name] = runtime
    if device == "cuda" and "torch-fast" in wanted:
        from vid2vid.engines.fast_torch import FastTorchRuntime

        runtime = FastTorchRuntime(loaded, device)
        engines[runtime.name] = runtime
    if device == "cuda" and "trt" in wanted and tensorrt_available():
        from vid2vid.engines.tensorrt_runtime import TensorRTRuntime

        runtime = TensorRTRuntime.from_loaded(loaded, fp16=True, max_batch=64, cache=workdir)
        engines[runtime.name] = runtime
    return engines


def stage_call(
    runtime, loaded: LoadedModel, stage: str, batch: int, device: str
) -> Callable[[], object]:
    """A closure running ``stage`` of ``runtime`` on a batch of fixed random inputs."""
    size = loaded.config.input_size
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, size, size, generator=generator).to(device)
    if stage == "motion":
        return lambda: runtime.extract_motion(images, reference=images[:1])
    if stage == "keyframe":
        return lambda: runtime.encode_keyframe(images)
    with torch.inference_mode():
        model = loaded.model
        keyframe = model.encode_keyframe(images)
        source = model.pose(keyframe.canonical, keyframe.motion)
        driving = model.pose(keyframe.canonical, model.extract_motion(images.flip(-1), images))
    return lambda: runtime.decode(keyframe.volume, source, driving)


def run(args: argparse.Namespace) -> list[dict]:
    device = args.device
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rows: list[dict] = []
    plan = [
        (c, s) for c in args.configs for s in args.sizes if not (c == "liveportrait" and s != 512)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for config_name, size in tqdm(plan, desc="configs", disable=args.quiet):
            config = bench_config(config_name, size)
            loaded = seeded(config)
            loaded.model.to(device)
            engines = open_engines(loaded, args.engines, device, Path(tmp))
            for stage in args.stages:
                if stage == "motion" and size != args.sizes[0]:
                    continue  # H + Δ sees the 256 px input whatever the output size
                for label, runtime in engines.items():
                    for batch in sorted({1, args.batch}):
                        if stage != "decode" and batch != 1 and not args.batch_all:
                            continue
                        fn = stage_call(runtime, loaded, stage, batch, device)
                        repeats = args.repeats if stage == "motion" else args.heavy_repeats
                        times = timed_ms(fn, repeats, sync)
                        ms = times["median"]
                        per_frame = ms / batch
                        rows.append(
                            {
                                "config": config.name,
                                "output_px": size if stage == "decode" else None,
                                "input_px": config.input_size,
                                "stage": stage,
                                "engine": label,
                                "batch": batch,
                                "ms_per_call": round(ms, 3),
                                "ms_per_frame": round(per_frame, 3),
                                "fps": round(1000.0 / per_frame, 2),
                                "ms_per_call_min": round(times["min"], 3),
                                "fps_best": round(1000.0 * batch / times["min"], 2),
                                "cpu_ms_per_call": round(times["cpu"], 3),
                                "repeats": repeats,
                            }
                        )
    return rows


def table(rows: list[dict]) -> str:
    header = (
        f"{'config':<12} {'stage':<9} {'px':>4} {'engine':<24} {'batch':>5} {'ms/call':>10} "
        f"{'ms/frame':>10} {'fps':>8} {'min ms':>10} {'best fps':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        px = r["output_px"] or r["input_px"]
        lines.append(
            f"{r['config']:<12} {r['stage']:<9} {px:>4} {r['engine']:<24} {r['batch']:>5} "
            f"{r['ms_per_call']:>10.2f} {r['ms_per_frame']:>10.2f} {r['fps']:>8.2f} "
            f"{r['ms_per_call_min']:>10.2f} {r['fps_best']:>9.2f}"
        )
    return "\n".join(lines)


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-engines-bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=CONFIGS,
        default=["tiny", "paper"],
        help="default: tiny paper",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        choices=(256, 512),
        default=[256, 512],
        help="output px (default: 256 512)",
    )
    parser.add_argument(
        "--stages", nargs="+", choices=STAGES, default=list(STAGES), help="default: all"
    )
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=("torch", "onnx", "torch-fast", "trt"),
        default=["torch", "onnx", "torch-fast", "trt"],
        help="default: every one available here",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="default: cuda when present",
    )
    parser.add_argument(
        "--batch", type=int, default=4, help="batch N besides 1 (default: 4; use 16+ on a GPU)"
    )
    parser.add_argument(
        "--batch-all",
        action="store_true",
        help="also batch motion and keyframe (default: decode only)",
    )
    parser.add_argument(
        "--repeats", type=int, default=20, help="timed calls of the motion stage (default: 20)"
    )
    parser.add_argument(
        "--heavy-repeats", type=int, default=3, help="timed calls of keyframe/decode (default: 3)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("out/engines_bench.json"),
        help="JSON file (default: out/engines_bench.json)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.batch < 1:
            raise Vid2VidError(f"--batch must be at least 1, got {args.batch}")
        if args.threads:
            torch.set_num_threads(args.threads)
        load_at_start = os.getloadavg()
        rows = run(args)
    except (Vid2VidError, OSError) as exc:
        print(f"vid2vid-engines-bench: error: {exc}", file=sys.stderr)
        return 2
    print(table(rows))
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else None
    document = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_at_end": os.getloadavg(),
            "gpu": gpu,
            "torch": torch.__version__,
            "onnxruntime": _version("onnxruntime"),
            "load_average_at_start": load_at_start,
        },
        "note": (
            "untrained seeded weights; wall-clock medians (and minima) after one warm-up call; "
            "ms_per_frame = ms_per_call / batch; cpu_ms_per_call = process CPU time, all threads"
        ),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
