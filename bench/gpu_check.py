"""The GPU check in one prepared command: ``python -m vid2vid.bench.gpu_check -o DIR``.

On a machine with an NVIDIA GPU and PyTorch (TensorRT not needed), within about 8 minutes:

1. runs the ``gpu``-marked tests (``pytest -m gpu`` in a subprocess; output in DIR);
2. times warp + generate (the receiver's decode) at 512 px, batch 1, 8, 16 and 32, through the
   fast path (:class:`~vid2vid.engines.fast_torch.FastTorchRuntime`: FP16, channels-last, CUDA
   graphs, ``decode_many``) and eager FP32 (:class:`~vid2vid.engines.runtime.TorchRuntime`)
   in the same run, and the keyframe path (``encode_keyframe`` + ``place_volume``, batch 1);
3. for the shipped default model (lite-512) and the paper-size preset ``paper-512`` (untrained:
   speed does not depend on the weights);
4. reports how many 30 fps streams one GPU holds: at batch B a call takes T ms, so one 33.3 ms
   tick fits floor(33.3 / T) calls of B streams; the best B counts (decode only: the receiver's
   keypoint math, jitter buffer and the keyframes it decodes now and then come on top).

It prints a table and writes ``gpu_check.json``, ``gpu_check.png`` and ``pytest_gpu.txt``
under DIR. GPU times are CUDA-event medians after warm-up calls (graph capture happens there).

Without a GPU (or with ``--smoke``) it runs a smoke mode that CI covers in seconds: small
stand-in configurations of the same families (``lite-tiny`` for the default model, ``tiny`` for
``paper-512``), batch 1 and 2, two repeats, the fast path as channels-last FP32 without graphs.
Its figures say only that the command works.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from vid2vid.codec.checkpoint import LoadedModel, load_weights
from vid2vid.codec.keypoints import Keypoints
from vid2vid.engines.batching import DecodeRequest, decode_batch
from vid2vid.engines.fast_torch import FastTorchRuntime
from vid2vid.engines.runtime import Runtime, TorchRuntime
from vid2vid.engines.threads import set_cpu_threads
from vid2vid.errors import Vid2VidError

MODELS = ("default", "paper-512")
GPU_BATCHES = (1, 8, 16, 32)
SMOKE_BATCHES = (1, 2)
#: Small configurations of the same families, standing in for the real models in smoke mode.
SMOKE_STANDINS = {"default": "lite-tiny", "paper-512": "tiny", "lite-512": "lite-tiny"}
TICK_MS = 1000.0 / 30.0
ENGINES = ("fast", "eager-fp32")


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one run measures, and where."""

    device: torch.device
    smoke: bool
    models: tuple[str, ...]
    batches: tuple[int, ...]
    repeats: int
    keyframe_repeats: int
    budget_s: float

    def __post_init__(self) -> None:
        if not self.batches or min(self.batches) < 1:
            raise Vid2VidError(f"batches must be at least 1, got {list(self.batches)}")
        if self.repeats < 1 or self.keyframe_repeats < 1:
            raise Vid2VidError(
                f"repeats must be at least 1, got {self.repeats} and {self.keyframe_repeats}"
            )


# --- timing --------------------------------------------------------------------------------


def time_calls(fn: Callable[[], object], repeats: int, device: torch.device) -> list[float]:
    """Milliseconds of ``repeats`` calls after two warm-up calls.

    On CUDA each call sits between two CUDA events on the current stream, and the end event is
    waited for, so a call's time covers its launches and the GPU work they queue (and the queue
    is empty when the next call starts). On the CPU, wall-clock time.
    """
    cuda = device.type == "cuda"
    for _ in range(2):  # allocator, cuDNN's algorithm choice, CUDA graph capture
        fn()
    if cuda:
        torch.cuda.synchronize(device)
    samples = []
    for _ in range(repeats):
        if cuda:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end))
        else:
            began = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - began) * 1000.0)
    return samples


def streams_at_30fps(ms_per_call: float, batch: int) -> int:
    """Streams one device decodes at 30 fps with calls of ``batch`` frames taking ``ms_per_call``."""
    return batch * math.floor(TICK_MS / ms_per_call) if ms_per_call > 0 else 0


# --- models and engines --------------------------------------------------------------------


def open_model(name: str, smoke: bool) -> LoadedModel:
    """The model ``name`` (``default``: the shipped one), or its small stand-in in smoke mode."""
    used = SMOKE_STANDINS.get(name, name) if smoke else name
    return load_weights(None, used, announce=False)


def open_engines(loaded: LoadedModel, device: torch.device) -> dict[str, Runtime]:
    """The fast path and eager FP32, by label; the fast one copies the model before eager moves it."""
    if device.type == "cuda":
        fast = FastTorchRuntime(loaded, device)
    else:  # the CPU refuses FP16 and CUDA graphs: channels-last FP32 is what is left
        fast = FastTorchRuntime(loaded, device, half=False, cuda_graphs=False)
    return {"fast": fast, "eager-fp32": TorchRuntime(loaded, device)}


def decode_requests(
    runtime: Runtime, loaded: LoadedModel, image: torch.Tensor, batch: int
) -> list[DecodeRequest]:
    """``batch`` streams' frames: one keyframe placed by ``runtime``, a different pose each."""
    keyframe = runtime.encode_keyframe(image)
    volume = runtime.place_volume(keyframe.volume)
    with torch.inference_mode():
        model = loaded.model
        canonical = keyframe.canonical.to(keyframe.motion.yaw.device)
        source = model.pose(canonical, keyframe.motion)
        requests = []
        for i in range(batch):
            turn = (i - batch / 2) * 2.0  # degrees of yaw: every stream looks another way
            motion = keyframe.motion._replace(yaw=keyframe.motion.yaw + turn)
            driving = model.pose(canonical, motion)
            requests.append(
                DecodeRequest(volume, _on(source, volume.device), _on(driving, volume.device))
            )
    return requests


def _on(keypoints: Keypoints, device: torch.device) -> Keypoints:
    return Keypoints(*(None if t is None else t.to(device) for t in keypoints))


def decode_call(runtime: Runtime, requests: list[DecodeRequest]) -> Callable[[], object]:
    """One batched decode the way the receiver makes it: ``decode_many`` where the runtime has it."""
    many = getattr(runtime, "decode_many", None)
    if many is not None:
        return lambda: many(requests)
    return lambda: decode_batch(runtime, requests)


# --- the measurement -----------------------------------------------------------------------


def _row(model: str, loaded: LoadedModel, engine: str, runtime: Runtime, **values) -> dict:
    return {
        "model": model,
        "config": loaded.config.name,
        "trained": loaded.trained,
        "engine": engine,
        "runtime": runtime.name,
        "output_px": loaded.config.output_size,
        **values,
    }


def _cell(fn: Callable[[], list[float]], device: torch.device) -> tuple[list[float], str | None]:
    """Run one timed cell; an out-of-memory or engine failure is recorded, not fatal."""
    try:
        return fn(), None
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return [], "out of memory"
    except (RuntimeError, NotImplementedError, Vid2VidError) as error:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return [], f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"


def time_stage(
    runtime: Runtime, loaded: LoadedModel, image: torch.Tensor, stage: str, batch: int, plan: Plan
) -> list[float]:
    """Milliseconds per call of ``stage``: the keyframe path at batch 1, or a batched decode."""
    if stage == "keyframe":
        return time_calls(
            lambda: runtime.place_volume(runtime.encode_keyframe(image).volume),
            plan.keyframe_repeats,
            plan.device,
        )
    requests = decode_requests(runtime, loaded, image, batch)
    return time_calls(decode_call(runtime, requests), plan.repeats, plan.device)


def measure(plan: Plan, deadline: float, progress: Callable[[str], None]) -> list[dict]:
    """Every cell of ``plan`` until ``deadline`` (time.monotonic()); cells past it are skipped."""
    rows: list[dict] = []
    stages = [("keyframe", 1)] + [("decode", batch) for batch in plan.batches]
    for name in plan.models:
        loaded = open_model(name, plan.smoke)
        if plan.device.type == "cpu":
            set_cpu_threads(loaded.model)
        size = loaded.config.input_size
        image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        engines = open_engines(loaded, plan.device)
        for label, runtime in engines.items():
            for stage, batch in stages:
                base = {"stage": stage, "batch": batch}
                if time.monotonic() > deadline:
                    rows.append(_row(name, loaded, label, runtime, **base, error="time budget"))
                    continue
                progress(f"{name} {label} {stage} batch {batch}")
                cell = functools.partial(time_stage, runtime, loaded, image, stage, batch, plan)
                samples, error = _cell(cell, plan.device)
                if error is not None:
                    rows.append(_row(name, loaded, label, runtime, **base, error=error))
                    continue
                ms = statistics.median(samples)
                streams = streams_at_30fps(ms, batch) if stage == "decode" else None
                rows.append(
                    _row(
                        name,
                        loaded,
                        label,
                        runtime,
                        **base,
                        ms_per_call=round(ms, 3),
                        ms_per_call_min=round(min(samples), 3),
                        ms_per_frame=round(ms / batch, 3),
                        repeats=len(samples),
                        streams_at_30fps=streams,
                    )
                )
        del engines
        if plan.device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per model and engine: the best decode ms per frame, streams at 30 fps, keyframe ms."""
    out = []
    keys = dict.fromkeys((r["model"], r["engine"]) for r in rows)
    for model, engine in keys:
        mine = [
            r for r in rows if (r["model"], r["engine"]) == (model, engine) and "error" not in r
        ]
        decodes = [r for r in mine if r["stage"] == "decode"]
        keyframe = next((r for r in mine if r["stage"] == "keyframe"), None)
        best = min(decodes, key=lambda r: r["ms_per_frame"], default=None)
        most = max(decodes, key=lambda r: r["streams_at_30fps"], default=None)
        out.append(
            {
                "model": model,
                "engine": engine,
                "decode_ms_per_frame_batch1": next(
                    (r["ms_per_frame"] for r in decodes if r["batch"] == 1), None
                ),
                "decode_ms_per_frame_best": best and best["ms_per_frame"],
                "best_batch": best and best["batch"],
                "streams_at_30fps": most["streams_at_30fps"] if most else 0,
                "streams_batch": most and most["batch"],
                "keyframe_ms": keyframe and keyframe["ms_per_call"],
            }
        )
    return out


# --- the gpu-marked tests ------------------------------------------------------------------


def default_tests() -> Path | None:
    """``tests/`` of the checkout: the working directory's, else the one beside this package."""
    for candidate in (Path.cwd() / "tests", Path(__file__).resolve().parents[1] / "tests"):
        if (candidate / "conftest.py").is_file():
            return candidate
    return None


def run_gpu_tests(tests: Path | None, timeout_s: float, log_path: Path) -> dict:
    """``pytest -m gpu`` on ``tests`` in a subprocess: its exit code and counts."""
    if tests is None:
        return {"status": "not run: no tests/ folder here (run from the checkout or pass --tests)"}
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider"]
    command += [str(tests)]
    cwd = next((p for p in [tests, *tests.parents] if (p / "pyproject.toml").is_file()), None)
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=max(timeout_s, 1.0),
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        log_path.write_text(str(expired.stdout or "") + str(expired.stderr or ""))
        return {"status": f"timed out after {timeout_s:.0f} s", "command": command}
    text = done.stdout + done.stderr
    log_path.write_text(text)
    counts = {
        word: int(number)
        for number, word in re.findall(r"(\d+) (passed|failed|skipped|deselected|error)", text)
    }
    # 5: nothing collected (every gpu test deselected or absent) is not a failure of the GPU.
    status = "ok" if done.returncode in (0, 5) else "failed"
    return {"status": status, "exit_code": done.returncode, "counts": counts, "command": command}


# --- output --------------------------------------------------------------------------------


def table(rows: list[dict], totals: list[dict]) -> str:
    header = (
        f"{'model':<10} {'config':<10} {'engine':<11} {'stage':<8} {'batch':>5} "
        f"{'ms/call':>9} {'ms/frame':>9} {'streams@30':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        head = (
            f"{r['model']:<10} {r['config']:<10} {r['engine']:<11} {r['stage']:<8} {r['batch']:>5}"
        )
        if "error" in r:
            lines.append(f"{head}  {r['error']}")
            continue
        streams = "" if r["streams_at_30fps"] is None else str(r["streams_at_30fps"])
        lines.append(f"{head} {r['ms_per_call']:>9.2f} {r['ms_per_frame']:>9.2f} {streams:>10}")
    lines.append("")
    lines.append("one device, decode (warp + generate) only:")
    for t in totals:
        if t["decode_ms_per_frame_best"] is None:
            lines.append(f"  {t['model']} {t['engine']}: no decode measured")
            continue
        lines.append(
            f"  {t['model']} {t['engine']}: batch 1 {t['decode_ms_per_frame_batch1']} ms/frame, "
            f"best {t['decode_ms_per_frame_best']} ms/frame at batch {t['best_batch']}; "
            f"{t['streams_at_30fps']} streams at 30 fps (batch {t['streams_batch']}); "
            f"keyframe {t['keyframe_ms']} ms"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, title: str) -> None:
    """ms per frame and streams at 30 fps against the batch, one line per model and engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=90)
    lines = dict.fromkeys((r["model"], r["engine"]) for r in rows)
    for i, (model, engine) in enumerate(lines):
        points = [
            r
            for r in rows
            if (r["model"], r["engine"]) == (model, engine)
            and r["stage"] == "decode"
            and "error" not in r
        ]
        if not points:
            continue
        batches = [r["batch"] for r in points]
        style = "o-" if engine == "fast" else "s--"
        label = f"{model} ({points[0]['config']}), {engine}"
        left.plot(batches, [r["ms_per_frame"] for r in points], style, color=f"C{i}", label=label)
        right.plot(batches, [r["streams_at_30fps"] for r in points], style, color=f"C{i}")
    batches = sorted({r["batch"] for r in rows if r["stage"] == "decode"})
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.minorticks_off()
        ax.set_xlabel("streams decoded per call (batch)")
        ax.grid(True, alpha=0.3)
    left.set_yscale("log")
    left.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    left.set_ylabel("warp + generate, ms per frame")
    right.set_ylabel("streams at 30 fps on one device")
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def machine(device: torch.device) -> dict:
    cuda = device.type == "cuda"
    return {
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
    }


# --- the command ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.bench.gpu_check", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "-o", "--out", type=Path, required=True, help="folder for JSON, PNG and the test log"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the CPU smoke mode even on a GPU (default: smoke mode only without a GPU)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(MODELS),
        help=f"'default' or presets (default: {' '.join(MODELS)})",
    )
    parser.add_argument(
        "--batches",
        nargs="+",
        type=int,
        default=None,
        help=f"decode batches (default: {' '.join(map(str, GPU_BATCHES))}; smoke: "
        f"{' '.join(map(str, SMOKE_BATCHES))})",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed decode calls per cell (default: 20; smoke: 2)",
    )
    parser.add_argument(
        "--keyframe-repeats",
        type=int,
        default=None,
        help="timed keyframe calls (default: 10; smoke: 2)",
    )
    parser.add_argument(
        "--tests",
        type=Path,
        default=None,
        help="tests to run with -m gpu (default: the checkout's tests/)",
    )
    parser.add_argument("--no-tests", action="store_true", help="skip the gpu-marked tests")
    parser.add_argument(
        "--tests-timeout",
        type=float,
        default=150.0,
        help="seconds the gpu-marked tests may take (default: 150)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=270.0,
        help="seconds for the timings; later cells are skipped and say so (default: 270)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    cuda = torch.cuda.is_available() and not args.smoke
    smoke = not cuda
    try:
        plan = Plan(
            device=torch.device("cuda" if cuda else "cpu"),
            smoke=smoke,
            models=tuple(args.models),
            batches=tuple(args.batches or (SMOKE_BATCHES if smoke else GPU_BATCHES)),
            repeats=args.repeats or (2 if smoke else 20),
            keyframe_repeats=args.keyframe_repeats or (2 if smoke else 10),
            budget_s=args.budget,
        )
        args.out.mkdir(parents=True, exist_ok=True)
    except (Vid2VidError, OSError) as error:
        print(f"gpu_check: error: {error}", file=sys.stderr)
        return 2
    if smoke:
        reason = "--smoke" if torch.cuda.is_available() else "no GPU"
        print(f"smoke mode: {reason} (small stand-in models on the CPU; the figures only "
              "show that the command works)")  # fmt: skip
    else:
        print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")

    if args.no_tests:
        tests = {"status": "not run: --no-tests"}
    else:
        print("running the gpu-marked tests ...", flush=True)
        tests = run_gpu_tests(
            args.tests or default_tests(), args.tests_timeout, args.out / "pytest_gpu.txt"
        )
    print(f"gpu-marked tests: {tests['status']} {tests.get('counts', '')}")

    deadline = time.monotonic() + plan.budget_s
    try:
        rows = measure(plan, deadline, lambda what: print(f"  timing {what}", flush=True))
    except Vid2VidError as error:
        print(f"gpu_check: error: {error}", file=sys.stderr)
        return 2
    totals = summary(rows)
    print(table(rows, totals))

    title = f"vid2vid GPU check: {machine(plan.device)['device']}" + (
        " (smoke mode: stand-in models, no GPU figures)" if smoke else ""
    )
    png = args.out / "gpu_check.png"
    try:
        plot(rows, png, title)
    except ImportError:
        png = None
        print("gpu_check: no PNG: matplotlib is missing (pip install matplotlib)", file=sys.stderr)
    document = {
        "mode": "smoke" if smoke else "gpu",
        "machine": machine(plan.device),
        "plan": {
            "models": list(plan.models),
            "batches": list(plan.batches),
            "repeats": plan.repeats,
            "keyframe_repeats": plan.keyframe_repeats,
            "budget_s": plan.budget_s,
        },
        "note": (
            "ms: medians of timed calls after two warm-up calls (CUDA events on a GPU, wall "
            "clock on the CPU); decode = warp + generate of `batch` streams in one call, "
            "ms_per_frame = ms_per_call / batch; keyframe = encode_keyframe + place_volume, "
            "batch 1; streams_at_30fps = batch * floor(33.33 ms / ms_per_call), decode only"
        ),
        "gpu_tests": tests,
        "rows": rows,
        "summary": totals,
        "seconds": round(time.monotonic() - started, 1),
    }
    (args.out / "gpu_check.json").write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.out / 'gpu_check.json'}" + (f" and {png}" if png else ""))
    failed = tests["status"] == "failed" or any("error" in r for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
