"""Command-line flags that several commands share, spelled once.

The model (``--weights``/``--config``), the coding of a stream (``--quality``, ``--keyframe``,
``--intra-period``) and the free view (``--yaw``/``--pitch``/``--roll``) mean the same in the
offline tools, the live call, the benchmarks and training; one definition keeps their names,
defaults and help from drifting apart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vid2vid.codec.bitstream.motion import DEFAULT_QUALITY
from vid2vid.codec.checkpoint import DEFAULT_MODEL
from vid2vid.codec.config import PRESETS
from vid2vid.codec.stream.keyframes import DEFAULT_KEYFRAME, KEYFRAME_KINDS


def add_model_arguments(
    parser: argparse.ArgumentParser, *, default_config: str = DEFAULT_MODEL
) -> None:
    """``--weights`` and ``--config``, spelled the same in every command that runs the model.

    The pair feeds :func:`vid2vid.codec.checkpoint.load_weights`: a checkpoint folder when
    given, else the shipped trained model (``default``) or the untrained preset named by
    ``--config``.
    """
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="vid2vid checkpoint folder (default: none — the model named by --config)",
    )
    parser.add_argument(
        "--config",
        choices=[DEFAULT_MODEL, *sorted(PRESETS)],
        default=default_config,
        help=f"'{DEFAULT_MODEL}': the trained model shipped in the package; a preset name: "
        f"its UNTRAINED seeded weights, for tests and GPU training (default: {default_config})",
    )


def add_coding_arguments(
    parser: argparse.ArgumentParser, *, quality_to: argparse._ActionsContainer | None = None
) -> None:
    """``--quality``, ``--keyframe`` and ``--intra-period``, spelled the same by every command
    that codes a stream (``vid2vid-encode`` offline, ``vid2vid-send`` live).

    ``quality_to`` takes ``--quality`` instead of ``parser`` (encode puts it in a mutually
    exclusive group with ``--kbps``).
    """
    (quality_to or parser).add_argument(
        "--quality",
        type=int,
        default=DEFAULT_QUALITY,
        help=f"motion quantizer, 1 (coarse) .. 100 (fine) (default: {DEFAULT_QUALITY})",
    )
    parser.add_argument(
        "--keyframe",
        choices=sorted(KEYFRAME_KINDS),
        default=DEFAULT_KEYFRAME,
        help=f"keyframe form: a coded image, or the appearance volume (default: {DEFAULT_KEYFRAME})",
    )
    parser.add_argument(
        "--intra-period",
        type=float,
        default=1.0,
        help="seconds between intra motion packets (default: 1)",
    )


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """``--yaw``, ``--pitch``, ``--roll``: the free view, extra head rotation in degrees."""
    for angle in ("yaw", "pitch", "roll"):
        parser.add_argument(
            f"--{angle}",
            type=float,
            default=0.0,
            help=f"free view: extra {angle} in degrees (default: 0)",
        )
