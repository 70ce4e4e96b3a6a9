"""``vid2vid-convert``: import a public face-vid2vid-family checkpoint into vid2vid's format.

Two families are understood (see ``shared/interop``):
``liveportrait``  LivePortrait's ``pretrained_weights/liveportrait`` folder (base_models/*.pth
                  and, when present, retargeting_models/stitching_retargeting_module.pth)
``face-vid2vid``  zhengkw18/face-vid2vid's ``NNNNNNNN-checkpoint.pth.tar``

The original files are read with ``torch.load(weights_only=True)``: no code from them runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from vid2vid.codec.checkpoint import save_checkpoint
from vid2vid.codec.config import ModelConfig
from vid2vid.errors import Vid2VidError

Converter = Callable[[Path], tuple[ModelConfig, dict[str, torch.Tensor]]]


def _converter(family: str) -> Converter:
    if family == "liveportrait":
        from vid2vid.codec.liveportrait.convert import convert_liveportrait

        return convert_liveportrait
    from vid2vid.codec.facevid2vid.convert import convert_facevid2vid

    return convert_facevid2vid


def guess_family(source: Path) -> str:
    """LivePortrait ships a folder of modules, face-vid2vid one training checkpoint file."""
    return "liveportrait" if source.is_dir() else "face-vid2vid"


def convert(source: str | Path, output: str | Path, family: str = "auto") -> str:
    """Convert ``source`` and write a vid2vid checkpoint folder; returns its fingerprint."""
    source = Path(source)
    family = guess_family(source) if family == "auto" else family
    config, state = _converter(family)(source)
    note = f"converted from {family} checkpoint {source.name}"
    return save_checkpoint(output, config, state, trained=True, note=note)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-convert",
        description="Convert a LivePortrait or zhengkw18/face-vid2vid checkpoint to vid2vid's "
        "format (a folder with config.json and model.safetensors).",
    )
    parser.add_argument(
        "source", type=Path, help="LivePortrait weights folder or face-vid2vid .pth.tar"
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="checkpoint folder to write"
    )
    parser.add_argument(
        "--family",
        choices=("auto", "liveportrait", "face-vid2vid"),
        default="auto",
        help="which public family SOURCE belongs to (default: auto — a folder is LivePortrait, "
        "a file face-vid2vid)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print_ = convert(args.source, args.output, args.family)
    except Vid2VidError as exc:
        print(f"vid2vid-convert: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} (fingerprint {print_})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
