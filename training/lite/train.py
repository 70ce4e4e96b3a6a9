"""``vid2vid-train-lite``: train the lite family's decoder on prepared clips, on a CPU or a GPU.

Built to run for hours in the background beside other work and to stop at any moment:

* the whole state (weights, optimizer, step, the sampler's seed) is written atomically every
  ``--save-minutes`` (default 5), so a killed run loses at most that much, and ``--resume``
  (the default when ``RUN/state.pt`` exists) continues it; batches are drawn from a generator
  seeded by (seed, step), so a resumed run sees the batches a straight one would have;
* every ``--eval-minutes`` the model is scored on held-out people (:mod:`.heldout`), the
  scores are appended to ``RUN/curve.json`` and drawn in ``RUN/curve.png``, and the weights are
  written in the codec's checkpoint format to ``RUN/latest/`` and, when the mean held-out PSNR
  is the best so far, to ``RUN/best/`` — the folder to ship;
* ``--minutes`` bounds the run by wall time (the GPU continuation uses it), ``--steps`` by steps.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vid2vid.codec.checkpoint import load_checkpoint, save_checkpoint
from vid2vid.codec.config import ModelConfig, config_from_dict, preset
from vid2vid.codec.lite.model import LiteModel
from vid2vid.codec.model import seeded_model
from vid2vid.errors import ConfigError, Vid2VidError
from vid2vid.training.lite.data import ClipFrames, add_landmarks
from vid2vid.training.lite.grow import grow_state
from vid2vid.training.lite.heldout import HeldOutScore, evaluate, write_samples
from vid2vid.training.lite.objective import LossWeights, lite_loss
from vid2vid.training.shards import read_index

log = logging.getLogger(__name__)
STATE_FILE = "state.pt"
#: run.json settings kept as numbers (the others are paths, kept as strings).
NUMERIC_SETTINGS = ("batch", "lr", "expression_weight", "squared_weight")


def split_clips(
    data: Path, holdout: list[str], *, strict: bool = True
) -> tuple[ClipFrames, ClipFrames | None, Any]:
    """Training clips and held-out clips of one dataset: whole identities go to one side.

    ``strict``: every held-out identity must be in the data (a 512 px dataset may lack some
    people whose faces were too small for it; they are held out all the same).
    """
    index = read_index(data)
    add_landmarks(data, index)
    unknown = sorted(set(holdout) - set(index.identities))
    if unknown and strict:
        raise ConfigError(f"held-out identities not in {data}: {', '.join(unknown)}")
    train = [c for c in index.clips if c.identity not in holdout]
    held = [c for c in index.clips if c.identity in holdout]
    return ClipFrames(data, index, train), (ClipFrames(data, index, held) if held else None), index


def _saved_step(folder: Path) -> int | None:
    """The step a run folder's state was saved at (None before its first save)."""
    if not (folder / STATE_FILE).is_file():
        return None
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    return int(state["step"])


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def plot_curve(curve: list[dict[str, Any]], path: Path) -> None:
    """Held-out PSNR and landmark distance against steps, with the frozen keyframe for scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in curve]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    panels = (("psnr", left, "PSNR (dB)"), ("landmark_px", right, "landmark distance (px at 256)"))
    people = sorted(
        {s["identity"] for row in curve for s in row["scores"] if s.get("group") == HELD_OUT}
    )
    for key, axis, label in panels:
        for identity in people:
            values = [
                next((s[key] for s in row["scores"] if s["identity"] == identity), np.nan)
                for row in curve
            ]
            axis.plot(steps, values, ".-", alpha=0.35, linewidth=1)
        for name, style, text in (
            (f"mean_{key}", "o-k", "vid2vid lite, held-out people"),
            (f"mean_frozen_{key}", "s--r", "frozen keyframe, held-out people"),
            (f"mean_clips_{key}", "^:", "vid2vid lite, shared clips"),
        ):
            values = [row.get(name, np.nan) for row in curve]
            if not all(np.isnan(values)):
                axis.plot(steps, values, style, label=text, markersize=4)
        axis.set_xlabel("step")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle("held-out people (thin lines: each person)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


HELD_OUT, CLIPS = "held-out", "clips"


def curve_row(step: int, seconds: float, groups: dict[str, list[HeldOutScore]]) -> dict[str, Any]:
    """One evaluation: every score with its group, and each group's means.

    ``mean_*`` are the held-out people's (the figures to report); ``mean_clips_*`` those of
    the extra evaluation clips, which choose ``best/`` so that the reported people do not also
    pick the checkpoint.
    """
    row: dict[str, Any] = {
        "step": step,
        "train_seconds": round(seconds, 1),
        "scores": [{**s.to_dict(), "group": g} for g, scores in groups.items() for s in scores],
    }
    for group, prefix in ((HELD_OUT, "mean_"), (CLIPS, "mean_clips_")):
        scores = groups.get(group)
        if not scores:
            continue
        for key in ("psnr", "landmark_px"):
            row[f"{prefix}{key}"] = float(np.mean([getattr(s, key) for s in scores]))
            row[f"{prefix}frozen_{key}"] = float(
                np.mean([getattr(s, f"frozen_{key}") for s in scores])
            )
    row["selection"] = row.get("mean_clips_psnr", row.get("mean_psnr"))
    return row


class Run:
    """The state of one training run on disk (``RUN/``) and in memory."""

    def __init__(
        self, folder: Path, config: ModelConfig, args: dict[str, Any], init: Path | None
    ) -> None:
        self.folder = folder
        self.config = config
        self.args = args
        model = seeded_model(config, seed=int(args["seed"]))
        if init is not None:
            loaded = load_checkpoint(init)
            state = loaded.model.state_dict()
            if loaded.config.num_kp != config.num_kp:  # adding background points
                state = grow_state(state, loaded.config.num_kp, config.num_kp)
            model.load_state_dict(state)
        assert isinstance(model, LiteModel)
        self.model = model.train()
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=float(args["lr"]), betas=(0.9, 0.999)
        )
        self.step = 0
        self.seconds = 0.0
        self.best = -np.inf
        self.curve: list[dict[str, Any]] = []

    def save_state(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "seconds": self.seconds,
            "best": self.best,
        }
        _atomic_torch_save(state, self.folder / STATE_FILE)

    def load_state(self) -> None:
        state = torch.load(self.folder / STATE_FILE, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.seconds, self.best = (
            int(state["step"]),
            float(state["seconds"]),
            float(state["best"]),
        )
        curve = self.folder / "curve.json"
        if curve.is_file():
            self.curve = [r for r in json.loads(curve.read_text()) if r["step"] <= self.step]

    def save_weights(self, name: str, scores: list[HeldOutScore]) -> None:
        note = (
            f"lite decoder, step {self.step}, {self.seconds / 3600:.2f} h of training; held-out: "
            + ", ".join(f"{s.identity} {s.psnr:.2f} dB" for s in scores)
        )
        save_checkpoint(
            self.folder / name, self.config, self.model.state_dict(), trained=True, note=note
        )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def train(args: argparse.Namespace) -> int:
    folder: Path = args.output
    folder.mkdir(parents=True, exist_ok=True)
    settings_file = folder / "run.json"
    if settings_file.is_file():
        settings = json.loads(settings_file.read_text())
        config = config_from_dict(settings["model"])
        # A continuation elsewhere (a GPU machine) reads the same clips from another folder,
        # and may take a larger batch; both changes are recorded in run.json.
        changes = (
            ("data", args.data),
            ("batch", args.batch),
            ("hires_data", args.hires_data),
            ("lr", args.lr),
            ("expression_weight", args.expression_weight),
            ("squared_weight", args.squared_weight),
        )
        for key, value in changes:
            if value is None:
                continue
            value = value if key in NUMERIC_SETTINGS else str(value)
            if value != settings.get(key):
                settings.setdefault("changes", []).append(
                    {
                        "key": key,
                        "value": str(value),
                        "was": str(settings.get(key)),
                        "from_step": _saved_step(folder),
                    }
                )
                settings[key] = value
        for i, path in enumerate(args.eval_data):
            if i < len(settings["eval_data"]) and str(path) != settings["eval_data"][i]:
                settings.setdefault("changes", []).append(
                    {"key": f"eval_data[{i}]", "value": str(path), "from_step": _saved_step(folder)}
                )
                settings["eval_data"][i] = str(path)
        settings_file.write_text(json.dumps(settings, indent=2) + "\n")
    else:
        config = preset(args.config)
        settings = {
            "model": config.to_dict(),
            "data": str(args.data),
            "holdout": args.holdout,
            "eval_data": [str(p) for p in args.eval_data],
            "batch": args.batch or 8,
            "hires_data": None if args.hires_data is None else str(args.hires_data),
            "hires_every": args.hires_every,
            "init_weights": None if args.init_weights is None else str(args.init_weights),
            "lr": args.lr or 5e-4,
            "expression_weight": _or(args.expression_weight, LossWeights.expression),
            "squared_weight": _or(args.squared_weight, LossWeights.squared),
            "seed": args.seed,
        }
        settings_file.write_text(json.dumps(settings, indent=2) + "\n")
    if config.family != "lite":
        raise ConfigError(f"vid2vid-train-lite trains the lite family, got {config.family}")
    # Runs from before these settings trained with the defaults of their time (no squared term).
    loss_weights = LossWeights(
        expression=float(settings.get("expression_weight", LossWeights.expression)),
        squared=float(settings.get("squared_weight", LossWeights.squared)),
    )
    torch.manual_seed(settings["seed"])
    train_frames, held, _ = split_clips(Path(settings["data"]), list(settings["holdout"]))
    hires = None
    if settings.get("hires_data"):
        hires, _, _ = split_clips(
            Path(settings["hires_data"]), list(settings["holdout"]), strict=False
        )
    evaluation: list[tuple[str, ClipFrames]] = [] if held is None else [(HELD_OUT, held)]
    for extra in settings["eval_data"]:
        if not Path(extra).is_dir():  # a continuation elsewhere may not carry it
            log.warning("evaluation data %s is not here; scoring the held-out people only", extra)
            continue
        index = read_index(extra)
        add_landmarks(Path(extra), index)
        evaluation.append((CLIPS, ClipFrames(Path(extra), index, index.clips)))
    run = Run(folder, config, settings, args.init_weights)
    if (folder / STATE_FILE).is_file():
        run.load_state()
        for group in run.optimizer.param_groups:  # a changed --lr applies from here on
            group["lr"] = float(settings["lr"])
        log.info("resumed at step %d", run.step)
    device = torch.device(args.device)
    run.model.to(device)
    for state in run.optimizer.state.values():
        for key, value in state.items():
            if torch.is_tensor(value):
                state[key] = value.to(device)
    started = time.monotonic()
    last_save = last_eval = started
    log_file = (folder / "log.jsonl").open("a")
    bar = tqdm(initial=run.step, total=args.steps, desc="lite", unit="step", dynamic_ncols=True)
    try:
        while run.step < args.steps and (
            args.minutes is None or time.monotonic() - started < args.minutes * 60
        ):
            tick = time.monotonic()
            rng = np.random.default_rng([settings["seed"], run.step])
            if hires is not None and run.step % args.hires_every == args.hires_every - 1:
                batch = hires.batch(hires.sample(rng, max(1, settings["batch"] // 2)))
            else:
                batch = train_frames.batch(train_frames.sample(rng, settings["batch"]))
            loss, parts = lite_loss(
                run.model,
                batch.source.to(device),
                batch.driving.to(device),
                batch.source_points,
                batch.driving_points,
                loss_weights,
            )
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            run.optimizer.step()
            run.step += 1
            run.seconds += time.monotonic() - tick
            bar.update(1)
            if run.step % 20 == 0:
                bar.set_postfix(loss=f"{parts['loss']:.4f}")
                log_file.write(
                    json.dumps({"step": run.step, "seconds": round(run.seconds, 1), **parts}) + "\n"
                )
                log_file.flush()
            now = time.monotonic()
            if evaluation and now - last_eval >= args.eval_minutes * 60:
                evaluate_and_keep(run, evaluation, device)
                last_eval = time.monotonic()
            if now - last_save >= args.save_minutes * 60:
                run.save_state()
                last_save = now
    finally:
        bar.close()
        log_file.close()
    run.save_state()
    if evaluation:
        evaluate_and_keep(run, evaluation, device)
    print(f"{folder}: step {run.step}, {run.seconds / 3600:.2f} h of training")
    return 0


def evaluate_and_keep(
    run: Run, evaluation: list[tuple[str, ClipFrames]], device: torch.device
) -> None:
    run.model.to("cpu")
    groups: dict[str, list[HeldOutScore]] = {}
    for group, frames in evaluation:
        groups.setdefault(group, []).extend(evaluate(run.model, frames))
    scores = [s for group in groups.values() for s in group]
    run.model.to(device)
    row = curve_row(run.step, run.seconds, groups)
    run.curve.append(row)
    (run.folder / "curve.json").write_text(json.dumps(run.curve, indent=1) + "\n")
    plot_curve(run.curve, run.folder / "curve.png")
    samples = run.folder / "samples"
    samples.mkdir(exist_ok=True)
    write_samples(run.model, [f for _, f in evaluation], samples / f"step-{run.step:07d}.png")
    run.save_weights("latest", scores)
    if row["selection"] > run.best:
        run.best = row["selection"]
        run.save_weights("best", scores)
    run.save_state()
    log.warning(
        "step %d: held-out PSNR %.2f dB (frozen %.2f), landmarks %.2f px (frozen %.2f)",
        run.step,
        row.get("mean_psnr", float("nan")),
        row.get("mean_frozen_psnr", float("nan")),
        row.get("mean_landmark_px", float("nan")),
        row.get("mean_frozen_landmark_px", float("nan")),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2vid-train-lite", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--data", type=Path, help="a vid2vid-prep dataset (landmarks are added if missing)"
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="run folder; an existing one is resumed"
    )
    parser.add_argument("--config", default="lite-256", help="a lite preset (default: lite-256)")
    parser.add_argument(
        "--holdout",
        action="append",
        default=[],
        help="identity never trained on, scored instead (repeatable)",
    )
    parser.add_argument(
        "--eval-data",
        type=Path,
        action="append",
        default=[],
        help="another dataset scored whole (repeatable)",
    )
    parser.add_argument(
        "--batch", type=int, default=None, help="pairs per step (default: 8, or the run's)"
    )
    parser.add_argument(
        "--hires-data",
        type=Path,
        default=None,
        help="a 512 px dataset of the same corpus: every --hires-every-th step trains on half a "
        "batch of it, so the decoder sees 512 px targets (held-out people stay out)",
    )
    parser.add_argument("--hires-every", type=int, default=4)
    parser.add_argument(
        "--lr", type=float, default=None, help="Adam's step size (default: 5e-4, or the run's)"
    )
    parser.add_argument(
        "--expression-weight",
        type=float,
        default=None,
        help=f"extra L1 weight on the eyes and mouth (default: {LossWeights.expression}, or the run's)",
    )
    parser.add_argument(
        "--squared-weight",
        type=float,
        default=None,
        help=f"weight of the output's mean squared error (default: {LossWeights.squared}, or the run's)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--steps",
        type=int,
        default=1_000_000,
        help="stop at this step (default: practically never)",
    )
    parser.add_argument(
        "--minutes", type=float, default=None, help="stop after this much wall time"
    )
    parser.add_argument("--save-minutes", type=float, default=5.0)
    parser.add_argument("--eval-minutes", type=float, default=15.0)
    parser.add_argument(
        "--init-weights", type=Path, default=None, help="start from these lite weights"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.data is None and not (args.output / "run.json").is_file():
        print("vid2vid-train-lite: error: --data is needed for a new run", file=sys.stderr)
        return 2
    try:
        return train(args)
    except Vid2VidError as exc:
        print(f"vid2vid-train-lite: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
