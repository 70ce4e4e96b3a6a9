"""``vid2vid-reenact``: animate one portrait with the motion of a driving video, offline.

This is the codec's whole path without the network: the portrait plays the keyframe, each
driving frame is reduced to a :class:`Motion` (what a motion packet carries), and the model
rebuilds the frame from the keyframe and that motion, optionally turned by a free view.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vid2vid.codec.checkpoint import LoadedModel, load_weights
from vid2vid.codec.cli_args import add_model_arguments, add_view_arguments
from vid2vid.codec.clip import FaceClip
from vid2vid.codec.face import crop_portrait
from vid2vid.codec.imageio import frames_to_tensor, tensor_to_frames
from vid2vid.codec.keypoints import FreeView, Motion, relative_motion
from vid2vid.codec.model import KeyframeFeatures
from vid2vid.codec.video import VideoWriter, read_image
from vid2vid.errors import InputError, Vid2VidError

log = logging.getLogger(__name__)

UNTRAINED_BANNER = (
    "WARNING: vid2vid is running UNTRAINED weights ({source}); the output shows what the "
    "pipeline does, not a face. Pass --weights with a trained or converted checkpoint."
)


@dataclass(frozen=True)
class ReenactOptions:
    """What to animate and how; built from the command line."""

    source: Path
    driving: Path
    output: Path
    view: FreeView = FreeView()
    relative: bool = True
    max_frames: int | None = None
    compare: bool = False
    batch: int = 4


def _batches(items: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    batch: list[np.ndarray] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _expand(motion: Motion, batch: int) -> Motion:
    return Motion(*(field.expand(batch, *field.shape[1:]) for field in motion))


@torch.inference_mode()
def reenact(loaded: LoadedModel, options: ReenactOptions) -> int:
    """Write the animated video; returns the number of frames written."""
    model, config = loaded.model, loaded.config
    device = next(model.parameters()).device
    portrait = crop_portrait(
        read_image(options.source), config.input_size, what=str(options.source)
    )
    portrait_image = frames_to_tensor([portrait]).to(device)  # 1 x 3 x H x W
    keyframe: KeyframeFeatures = model.encode_keyframe(portrait_image)
    clip = FaceClip(options.driving, config.input_size, options.max_frames)
    fps, total = clip.fps, clip.frame_count
    crops = (crop.image for crop in clip)
    width = config.output_size * (3 if options.compare else 1)
    portrait_out = _resize(portrait, config.output_size)
    # Motion that is measured against an image (the lite family's background points) is
    # measured in the driving video against its first frame, its own keyframe, whose motion is
    # taken without a reference: how the driving scene moved since it began. The portrait shows
    # another scene, so flow from it to a driving frame would mean nothing. Relative motion
    # transfers the change since that first frame; absolute motion takes the frame's own.
    reference: tuple[torch.Tensor, Motion] | None = None
    written = 0
    with VideoWriter(options.output, fps, (width, config.output_size)) as writer:
        for batch in tqdm(
            _batches(crops, options.batch),
            total=_ceil(total, options.batch),
            unit="batch",
            desc="reenact",
        ):
            images = frames_to_tensor(batch).to(device)  # B x 3 x H x W
            if reference is None:
                reference = images[:1], model.extract_motion(images[:1])
            reference_image, reference_motion = reference
            driving = model.extract_motion(images, reference=reference_image)
            if options.relative:
                n = len(batch)
                driving = relative_motion(
                    _expand(keyframe.motion, n),
                    driving,
                    _expand(reference_motion, n),
                    model.convention,
                )
            frames = _animate(model, keyframe, driving, options.view)
            for crop, frame in zip(batch, frames, strict=True):
                if options.compare:
                    frame = np.concatenate(
                        [portrait_out, _resize(crop, config.output_size), frame], axis=1
                    )
                writer.write(frame)
                written += 1
    if written == 0:
        raise InputError(f"{options.driving} has no frames")
    return written


def _animate(
    model, keyframe: KeyframeFeatures, driving: Motion, view: FreeView
) -> list[np.ndarray]:
    n = driving.yaw.shape[0]
    batched = KeyframeFeatures(
        volume=keyframe.volume.expand(n, *keyframe.volume.shape[1:]),
        canonical=keyframe.canonical.expand(n, *keyframe.canonical.shape[1:]),
        motion=_expand(keyframe.motion, n),
        jacobians=None
        if keyframe.jacobians is None
        else keyframe.jacobians.expand(n, *keyframe.jacobians.shape[1:]),
    )
    return tensor_to_frames(model.animate(batched, driving, view))


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if image.shape[0] == size:
        return image
    interpolation = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def _ceil(total: int | None, size: int) -> int | None:
    return None if total is None else -(-total // size)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-reenact",
        description="Animate a portrait with the head motion and expressions of a driving video "
        "(one-shot face-vid2vid), optionally turning the head (free view). Writes H.264 mp4.",
    )
    parser.add_argument("--source", type=Path, required=True, help="portrait image (the keyframe)")
    parser.add_argument("--driving", type=Path, required=True, help="driving video")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .mp4")
    add_model_arguments(parser)
    add_view_arguments(parser)
    parser.add_argument(
        "--frames", type=int, default=None, help="stop after N driving frames (default: all)"
    )
    parser.add_argument(
        "--absolute",
        action="store_true",
        help="use the driving face's absolute pose and expression instead of its "
        "change since the first frame (default: relative, right for another person)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="write portrait | driving | result side by side (default: result only)",
    )
    parser.add_argument("--batch", type=int, default=4, help="frames per model call (default: 4)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.frames is not None and args.frames < 1:
        print("vid2vid-reenact: error: --frames must be at least 1", file=sys.stderr)
        return 2
    options = ReenactOptions(
        source=args.source,
        driving=args.driving,
        output=args.output,
        view=FreeView(yaw=args.yaw, pitch=args.pitch, roll=args.roll),
        relative=not args.absolute,
        max_frames=args.frames,
        compare=args.compare,
        batch=max(1, args.batch),
    )
    try:
        loaded = load_weights(args.weights, args.config, device=args.device, announce=False)
        if not loaded.trained:
            print(UNTRAINED_BANNER.format(source=loaded.source), file=sys.stderr)
        count = reenact(loaded, options)
    except Vid2VidError as exc:
        print(f"vid2vid-reenact: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {count} frames to {options.output} ({loaded.source}, fingerprint {loaded.fingerprint})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
