"""``vid2vid-model-bench``: parameter counts and milliseconds per stage of each model preset.

Stages follow the paper: F (appearance volume), L (canonical keypoints), H+Δ (pose and
expression), M+warp (motion field and 3D warp) and G (generator). M+warp and G are split by
timing the ``generator`` submodule inside ``decode`` with forward hooks. Random weights: speed
does not depend on them. Prints a table and writes JSON; this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from vid2vid.codec.config import PRESETS, preset
from vid2vid.codec.model import TalkingHeadModel, seeded_model

STAGES = ("F", "L", "H+Δ", "M+warp", "G")


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: allocator, one-time kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


class _GeneratorTimer:
    """Accumulates the wall time spent inside ``model.generator`` during a call."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.samples: list[float] = []
        self._start = 0.0
        module.register_forward_pre_hook(self._before)
        module.register_forward_hook(self._after)

    def _before(self, *_: object) -> None:
        self._start = time.perf_counter()

    def _after(self, *_: object) -> None:
        self.samples.append((time.perf_counter() - self._start) * 1000.0)


def parameter_counts(model: TalkingHeadModel) -> dict[str, int]:
    """Parameters per top-level submodule, plus the total."""
    counts = {
        name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()
    }
    counts["total"] = sum(counts.values())
    return counts


@torch.inference_mode()
def bench_config(name: str, repeats: int, threads: int) -> dict[str, object]:
    torch.set_num_threads(threads)
    config = preset(name)
    model = seeded_model(config)
    image = torch.rand(1, 3, config.input_size, config.input_size)
    keyframe = model.encode_keyframe(image)
    motion = model.extract_motion(image, reference=image)  # driving motion against the keyframe
    source = model.pose(keyframe.canonical, keyframe.motion)
    driving = model.pose(keyframe.canonical, motion)
    timer = _GeneratorTimer(model.generator)
    ms = {
        "F": _median_ms(lambda: model.extract_appearance(image), repeats),
        "L": _median_ms(lambda: model.extract_canonical(image), repeats),
        "H+Δ": _median_ms(lambda: model.extract_motion(image, reference=image), repeats),
    }
    timer.samples.clear()
    decode = _median_ms(lambda: model.decode(keyframe.volume, source, driving), repeats)
    generator = statistics.median(timer.samples[1:] or timer.samples)
    ms["G"] = generator
    ms["M+warp"] = decode - generator
    return {
        "config": name,
        "input_px": config.input_size,
        "output_px": config.output_size,
        "num_kp": config.num_kp,
        "parameters": parameter_counts(model),
        "ms": {stage: round(ms[stage], 2) for stage in STAGES},
        "decode_ms": round(decode, 2),
    }


def format_table(results: list[dict[str, object]]) -> str:
    header = f"{'config':<13} {'in':>4} {'out':>4} {'params (M)':>10} " + " ".join(
        f"{s + ' ms':>10}" for s in STAGES
    )
    lines = [header, "-" * len(header)]
    for r in results:
        params = r["parameters"]["total"] / 1e6  # type: ignore[index]
        stage_ms = " ".join(f"{r['ms'][s]:>10.1f}" for s in STAGES)  # type: ignore[index]
        lines.append(
            f"{r['config']:<13} {r['input_px']:>4} {r['output_px']:>4} {params:>10.2f} {stage_ms}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vid2vid-model-bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--configs",
        default="tiny,paper-256,paper-512,liveportrait",
        help="comma-separated presets (default: tiny,paper-256,paper-512,liveportrait)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per stage (default: 3)")
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch CPU threads (default: all cores)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("out/model_bench.json"),
        help="where to write the results (default: out/model_bench.json)",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        print(f"vid2vid-model-bench: error: unknown config {unknown[0]!r}", file=sys.stderr)
        return 2
    results = [bench_config(n, args.repeats, args.threads) for n in tqdm(names, desc="configs")]
    print(format_table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "threads": args.threads,
        "torch": torch.__version__,
    }
    args.json.write_text(
        json.dumps({"machine": machine, "results": results}, indent=2, ensure_ascii=False)
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
