"""Ship a lite run's best weights as the package's default model, with its model card.

``python -m vid2vid.training.lite.ship RUN -o codec/weights/default`` copies ``RUN/best`` into the
shipped config (``lite-512bg`` by default: the networks run at fixed low resolutions, so weights
trained on 256 px crops drive 512 px keyframes and output unchanged), and writes
``MODEL_CARD.md`` from the run's settings, its held-out curve and the training corpus's manifest
(every source repository, commit and licence).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from vid2vid.codec.checkpoint import load_checkpoint, save_checkpoint
from vid2vid.codec.config import ModelConfig, config_from_dict, preset
from vid2vid.codec.lite.background import ring_count
from vid2vid.codec.model import build_model
from vid2vid.errors import ConfigError, Vid2VidError
from vid2vid.training.lite.objective import LossWeights


def changes_until(settings: dict, step: int) -> list[dict]:
    """The run's recorded setting changes that took effect at or before ``step``."""
    return [c for c in settings.get("changes", []) if c["from_step"] <= step]


def setting_at(settings: dict, key: str, step: int) -> object:
    """``key``'s value when the run was at ``step``: a later change records what it replaced
    (``was``; runs before that field say the current value and when it came)."""
    later = [c for c in settings.get("changes", []) if c["key"] == key and c["from_step"] > step]
    if not later:
        return settings[key]
    first = min(later, key=lambda c: c["from_step"])
    if "was" in first:
        return first["was"]
    return f"{settings[key]} (from step {first['from_step']})"


def loss_text(settings: dict, step: int) -> str:
    """The loss the shipped step trained with (runs from before the loss settings: the defaults)."""

    def weight(key: str, default: float) -> float:
        value = setting_at({key: default, **settings}, key, step)
        return default if value in (None, "None") else float(value)  # type: ignore[arg-type]

    expression = weight("expression_weight", LossWeights.expression)
    squared = weight("squared_weight", LossWeights.squared)
    text = (
        f"L1 on a 3-level image pyramid of the output (eyes and mouth weighted {1 + expression:g}x) "
        "plus L1 of the keyframe warped at 64²"
    )
    if squared:
        text += f", plus {squared:g}x the output's mean squared error"
    return text + " (no perceptual or adversarial term)"


def _sources(manifest: Path) -> list[str]:
    if not manifest.is_file():
        return [f"(corpus manifest {manifest} not found when this card was written)"]
    rows = json.loads(manifest.read_text())
    repos = Counter(r["repo"] for r in rows)
    commits: dict[str, set[str]] = {}
    licences: dict[str, str] = {}
    for r in rows:
        commits.setdefault(r["repo"], set()).add(r.get("commit", "")[:10])
        licences[r["repo"]] = r.get("license", "").strip().lstrip("#").strip()[:40]
    return [
        f"| {repo} | {', '.join(sorted(commits[repo]))} | {count} | {licences[repo] or '-'} |"
        for repo, count in sorted(repos.items())
    ]


def architecture_lines(config: ModelConfig) -> list[str]:
    """The card's motion and decoder bullets, from the trained config."""
    grid = config.arch.background_grid
    face_kp = config.num_kp - ring_count(grid)
    params = sum(p.numel() for p in build_model(config).parameters()) / 1e6
    background = (
        f"; and {ring_count(grid)} background points, the border cells of a {grid} x {grid} grid "
        "over the crop, each sent as where that place of the keyframe went (DIS optical flow from "
        "the keyframe image to the frame at 128 px, the median around the point)"
        if grid
        else ""
    )
    return [
        "- **motion (sender)**: dlib's 68-point shape predictor on the tracker's crop, a "
        "weak-perspective pose fit on 15 rigid landmarks (yaw, pitch, roll, scale, translation) "
        f"and the residuals of {face_kp} landmarks (jaw, brows, nose tip, eye lids and corners, lip "
        "corners and midpoints) from a generic 3D face as deformations" + background + f": the "
        f"paper's wire format with K = {config.num_kp}, no learned weights",
        "- **decoder (receiver)**: the keyframe image is warped by a flow that a U-Net mixes at 64² "
        f"from {config.num_kp + 1} hypotheses (identity, and one local first-order motion per "
        f"keypoint{', a plain shift per background point' if grid else ''}); a second U-Net at "
        "128² paints what the "
        "warp cannot bring and says where to trust the warp; the blend runs at the output size "
        f"({params:.2f} M parameters)",
    ]


def model_card(
    run: Path, config_name: str, fingerprint: str, manifest: Path, lineage: str = ""
) -> str:
    settings = json.loads((run / "run.json").read_text())
    curve = json.loads((run / "curve.json").read_text())
    best = max(curve, key=lambda row: row.get("selection", row["mean_psnr"]))
    lines = [
        "# vid2vid default model (lite family)",
        "",
        f"- config `{config_name}`, fingerprint `{fingerprint}`; trained as `{settings['model']['name']}` "
        f"on 256 px crops, step {best['step']}, {best['train_seconds'] / 3600:.2f} h of training "
        "(2-core CPU unless a GPU continuation is noted below)",
        *([f"- started from {settings['init_weights']}"] if settings.get("init_weights") else []),
        *([f"- lineage: {lineage}"] if lineage else []),
        *(
            [
                "- changed on the way: "
                + ", ".join(f"{c['key']} {c['value']} from step {c['from_step']}" for c in changes)
            ]
            if (changes := changes_until(settings, best["step"]))
            else []
        ),
        *(
            [
                f"- every {settings.get('hires_every', 4)}th step a half batch of 512 px crops ({settings['hires_data']})"
            ]
            if settings.get("hires_data")
            else []
        ),
        *architecture_lines(config_from_dict(settings["model"])),
        f"- **loss**: {loss_text(settings, best['step'])}; pairs of frames of one clip, half of "
        f"them mirrored; Adam, lr {setting_at(settings, 'lr', best['step'])}, "
        f"batch {setting_at(settings, 'batch', best['step'])}",
        "",
        "## Data",
        "",
        f"Training: the clips of `../shared/data/train/` (steady face segments, tracked and cropped "
        f"by `vid2vid-prep` at 256 px) except the held-out people: {', '.join(settings['holdout'])}. "
        "Also scored, never trained on: `../shared/data/clips/` (LivePortrait's example drivers). "
        "The footage is for research use; see the corpus README for rights. Sources:",
        "",
        "| repository | commit | clips | licence of the repository |",
        "|---|---|---|---|",
        *_sources(manifest),
        "",
        f"## Held-out figures at step {best['step']} (keyframe = first frame of the clip, driving "
        "frames spread over the clip, 256 px, unquantized motion)",
        "",
        "`best/` is chosen on the shared clips (`../shared/data/clips/`), so the held-out people "
        "do not also pick the checkpoint they are scored with.",
        "",
        "| group | person (clip) | PSNR dB | frozen keyframe PSNR | landmark px | frozen landmark px |",
        "|---|---|---|---|---|---|",
    ]
    for s in sorted(
        best["scores"], key=lambda s: (s.get("group", "held-out") != "held-out", s["identity"])
    ):
        lines.append(
            f"| {s.get('group', 'held-out')} | {s['identity']} | {s['psnr']:.2f} | "
            f"{s['frozen_psnr']:.2f} | {s['landmark_px']:.2f} | {s['frozen_landmark_px']:.2f} |"
        )
    lines += [
        f"| **held-out mean** | | **{best['mean_psnr']:.2f}** | {best['mean_frozen_psnr']:.2f} | "
        f"**{best['mean_landmark_px']:.2f}** | {best['mean_frozen_landmark_px']:.2f} |",
        "",
        "The figures through the real bitstream, with x264 beside them, are in the README "
        "(`vid2vid-bench`).",
        "",
        "## Limits",
        "",
        "- The sender needs dlib (the `face` extra) and a face that dlib's predictor can follow: "
        "profiles beyond about 45° and heavy occlusions break the motion.",
        "- What the keyframe does not show (teeth, the inside of the mouth, a turned-away cheek) is "
        "painted at 128² and upsampled: blurry there, sharpest where the keyframe's pixels move.",
        "- Trained on about 40 people of public research clips, mostly frontal, well lit; "
        "expect worse on other faces, lighting and cameras.",
        "- Trained on 256 px targets; at 512 px the same networks move a 512 px keyframe.",
        "",
    ]
    return "\n".join(lines)


def copy_report(run: Path, report: Path, step: int) -> None:
    """The run's curve (JSON + PNG) and its samples at the shipped step, kept in the repository
    (the run folder itself lives outside git)."""
    import shutil

    report.mkdir(parents=True, exist_ok=True)
    for name in ("curve.json", "curve.png", "run.json"):
        if (run / name).is_file():
            shutil.copy2(run / name, report / f"{run.name}-{name}")
    sample = run / "samples" / f"step-{step:07d}.png"
    if sample.is_file():  # as JPEG: the PNG of a dozen people is about 10 MB
        import cv2

        image = cv2.imread(str(sample))
        target = report / f"{run.name}-samples-step-{step:07d}.jpg"
        cv2.imwrite(str(target), image, [cv2.IMWRITE_JPEG_QUALITY, 85])


def ship(run: Path, output: Path, config_name: str, manifest: Path, lineage: str = "") -> str:
    best = load_checkpoint(run / "best")
    config = preset(config_name)
    if config.family != best.config.family or config.arch != best.config.arch:
        raise ConfigError(f"{config_name} does not have the architecture of {run / 'best'}")
    print_ = save_checkpoint(
        output,
        config,
        best.model.state_dict(),
        trained=True,
        note=f"shipped from {run.name}: {best.source}",
    )
    card = model_card(run, config_name, print_, manifest, lineage)
    (output / "MODEL_CARD.md").write_text(card)
    return print_


def best_step(run: Path) -> int:
    curve = json.loads((run / "curve.json").read_text())
    return int(max(curve, key=lambda row: row.get("selection", row["mean_psnr"]))["step"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.training.lite.ship", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("run", type=Path, help="a vid2vid-train-lite run folder")
    parser.add_argument("-o", "--output", type=Path, default=Path("codec/weights/default"))
    parser.add_argument(
        "--config",
        default="lite-512bg",
        help="the shipped config, the run's networks at 512 px (default: lite-512bg; lite-512 "
        "for a run without background points)",
    )
    parser.add_argument("--manifest", type=Path, default=Path("../shared/data/train/manifest.json"))
    parser.add_argument(
        "--lineage", default="", help="how the run's starting weights were made, for the card"
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=Path("bench/reports/default-model"),
        help="where the curve and samples of the shipped step are copied (in the repository)",
    )
    args = parser.parse_args(argv)
    try:
        print_ = ship(args.run, args.output, args.config, args.manifest, args.lineage)
        copy_report(args.run, args.report, best_step(args.run))
    except Vid2VidError as exc:
        print(f"ship: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({args.config}, fingerprint {print_}) and its MODEL_CARD.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
