"""``vid2vid-engines``: export ONNX graphs, check them against TensorRT's op list, build engines.

vid2vid-engines export (--weights DIR | --config NAME) -o DIR [--no-verify] [--images JPG...]
vid2vid-engines check DIR_OR_ONNX...
vid2vid-engines build  (--weights DIR | --config NAME) [--fp16] [--batch N] [--cache DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vid2vid.errors import Vid2VidError

log = logging.getLogger(__name__)


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--weights", type=Path, help="checkpoint folder (config.json + model.safetensors)"
    )
    group.add_argument(
        "--config",
        default="tiny",
        help="preset to use with untrained seeded weights when no --weights (default: tiny)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vid2vid-engines", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export", help="export the ONNX graphs and check them in ORT")
    _model_arguments(export)
    export.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    export.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the ONNX Runtime vs PyTorch check (default: check)",
    )
    export.add_argument(
        "--images",
        type=Path,
        nargs="*",
        default=[],
        help="real images (JPEG/PNG) to check the exports on, besides random inputs (default: none)",
    )

    check = commands.add_parser("check", help="list what TensorRT's ONNX parser would refuse")
    check.add_argument("paths", type=Path, nargs="+", help="ONNX files or export folders")

    build = commands.add_parser(
        "build", help="build TensorRT engines (needs the trt extra and a GPU)"
    )
    _model_arguments(build)
    build.add_argument("--fp16", action="store_true", help="allow FP16 kernels (default: FP32)")
    build.add_argument(
        "--batch",
        type=int,
        default=1,
        help="largest batch of the optimization profile (default: 1)",
    )
    build.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="engine cache folder (default: $VID2VID_CACHE or ~/.cache/vid2vid)",
    )
    build.add_argument(
        "--force", action="store_true", help="rebuild even when cached (default: reuse)"
    )
    return parser


def _load(args: argparse.Namespace):
    from vid2vid.codec.checkpoint import load_weights

    loaded = load_weights(args.weights, args.config, announce=False)
    if not loaded.trained:
        print(
            f"note: UNTRAINED weights ({loaded.source}): the output is not a face", file=sys.stderr
        )
    return loaded


def _images(paths: list[Path], size: int):
    import cv2

    from vid2vid.codec.imageio import frames_to_tensor
    from vid2vid.errors import InputError

    images = []
    for path in paths:
        image = cv2.imread(str(path))
        if image is None:
            raise InputError(f"{path}: not a readable image")
        side = min(image.shape[:2])
        images.append(frames_to_tensor([cv2.resize(image[:side, :side], (size, size))]))
    return images


def _export(args: argparse.Namespace) -> int:
    from vid2vid.engines.export import export_all, settled_untrained

    loaded = settled_untrained(_load(args))
    graphs = export_all(
        loaded,
        args.out,
        images=_images(args.images, loaded.config.input_size),
        verify=not args.no_verify,
    )
    for graph in graphs.values():
        error = (
            "unchecked"
            if graph.max_rel_error is None
            else f"max rel. error {graph.max_rel_error:.1e}"
        )
        print(f"{args.out / graph.file}  ({error})")
    return 0


def _check(args: argparse.Namespace) -> int:
    from vid2vid.engines.trt_ops import tensorrt_ops, tensorrt_problems

    files = []
    for path in args.paths:
        files += sorted(path.glob("*.onnx")) if path.is_dir() else [path]
    bad = 0
    for file in files:
        problems = tensorrt_problems(file)
        bad += bool(problems)
        status = "ok" if not problems else f"{len(problems)} problem(s)"
        print(f"{file}: {status} for TensorRT {tensorrt_ops().tensorrt}")
        for problem in problems:
            print(f"  {problem}")
    return 1 if bad else 0


def _build(args: argparse.Namespace) -> int:
    from vid2vid.engines.onnx_runtime import cache_root
    from vid2vid.engines.tensorrt_build import build_engines
    from vid2vid.errors import ConfigError

    if args.batch < 1:
        raise ConfigError(f"--batch must be at least 1, got {args.batch}")
    loaded = _load(args)
    paths = build_engines(
        loaded, args.cache or cache_root(), fp16=args.fp16, max_batch=args.batch, force=args.force
    )
    for graph, path in paths.items():
        print(f"{graph}: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return {"export": _export, "check": _check, "build": _build}[args.command](args)
    except (Vid2VidError, OSError) as exc:
        print(f"vid2vid-engines: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
