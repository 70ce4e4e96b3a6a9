"""The training loop: Adam on G's side and on D, mixed precision on CUDA, checkpoints, exact resume.

A run folder holds::

    run.json                          the run's settings (model config, data, loss weights, seed…)
    latest.json                       which checkpoint is the newest
    checkpoints/step-NNNNNNNN/        a vid2vid checkpoint (config.json + model.safetensors, usable
                                      as --weights anywhere) plus discriminator.safetensors and
                                      training_state.pt (optimizers, scaler, step; read with
                                      torch.load(weights_only=True))
    log.jsonl                         one JSON line of losses per logged step (always written)
    tensorboard/                      the same scalars and the sample grids, when tensorboard is installed
    samples/step-NNNNNNNN.png         source | driving | prediction rows

Every random draw of a step (the pairs, the equivariance warp) comes from generators seeded by
(seed, step), so ``--resume`` continues exactly as if the run had never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader
from tqdm import tqdm

from vid2vid.codec.checkpoint import load_checkpoint, load_state_dict_strict, save_checkpoint
from vid2vid.codec.config import ModelConfig
from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.facevid2vid.model import FaceVid2VidModel
from vid2vid.codec.facevid2vid.multiscale_discriminator import MultiScaleDiscriminator
from vid2vid.codec.model import seeded_model
from vid2vid.errors import CheckpointError, ConfigError
from vid2vid.training.dataset import Pair, PairDataset, PairSampler, step_rng
from vid2vid.training.objective import (
    LossWeights,
    discriminator_step_loss,
    generator_step_losses,
)
from vid2vid.training.perceptual import MultiScalePerceptualLoss
from vid2vid.training.samples import grid, to_rgb_uint8, write_png
from vid2vid.training.shards import atomic_write_bytes
from vid2vid.training.warp import RandomWarp

log = logging.getLogger(__name__)

Amp = Literal["auto", "off", "bf16", "fp16"]
RUN_FILE = "run.json"
LATEST_FILE = "latest.json"
STATE_FILE = "training_state.pt"
DISCRIMINATOR_FILE = "discriminator.safetensors"


@dataclass(frozen=True)
class TrainConfig:
    """How a run trains; saved in ``run.json`` and fixed for the life of the run (but ``steps``)."""

    steps: int = 100_000
    batch: int = 4
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    seed: int = 0
    weights: LossWeights = field(default_factory=LossWeights)
    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5
    log_every: int = 10
    sample_every: int = 500
    save_every: int = 1000
    keep: int = 3
    amp: Amp = "auto"
    workers: int = 2
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in (
            "steps",
            "batch",
            "log_every",
            "sample_every",
            "save_every",
            "keep",
            "points_tps",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise ConfigError(f"workers must be at least 0, got {self.workers}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.amp not in ("auto", "off", "bf16", "fp16"):
            raise ConfigError(f"amp must be auto, off, bf16 or fp16, got {self.amp!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        values = dict(data)
        values["weights"] = LossWeights(**values.get("weights", {}))
        values["betas"] = tuple(values.get("betas", (0.5, 0.999)))
        values["exclude"] = tuple(values.get("exclude", ()))
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"run settings: {exc}") from None


def check_trainable(config: ModelConfig) -> None:
    if not isinstance(config.arch, FaceVid2VidArch):
        raise ConfigError(
            f"vid2vid-train trains the face-vid2vid family; {config.name!r} is {config.family!r}"
        )


def new_discriminator(config: ModelConfig, seed: int) -> MultiScaleDiscriminator:
    assert isinstance(config.arch, FaceVid2VidArch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        return MultiScaleDiscriminator(config.arch, config.num_kp)


def init_model(config: ModelConfig, seed: int, init_weights: Path | None) -> FaceVid2VidModel:
    """A fresh seeded model, or the weights of a checkpoint to fine-tune (same code path after)."""
    if init_weights is None:
        model = seeded_model(config, seed)
    else:
        model = load_checkpoint(init_weights).model
    assert isinstance(model, FaceVid2VidModel)
    return model.train()


def resolve_amp(amp: Amp, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: none on CPU; bf16 where the GPU has it (no scaler needed), else fp16."""
    if device.type != "cuda" or amp == "off":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


class MetricsLog:
    """JSONL always (machine-readable, what tests and tools read); TensorBoard when installed."""

    def __init__(self, run: Path, step: int = 0) -> None:
        self.path = run / "log.jsonl"
        self._drop_after(step)
        self.board: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step: a resumed run drops the events logged after its checkpoint, as the
            # JSONL log does, so TensorBoard shows one curve, not two overlapping ones.
            self.board = SummaryWriter(
                str(run / "tensorboard"), purge_step=step + 1 if step else None
            )
            log.info("logging to %s and TensorBoard (%s)", self.path, run / "tensorboard")
        except ImportError:
            log.info("tensorboard is not installed (extra 'train'): logging to %s only", self.path)
        self._file = open(self.path, "a")  # noqa: SIM115 - closed in close()

    def _drop_after(self, step: int) -> None:
        """Forget lines past ``step`` (logged after the checkpoint a resumed run restarts from)."""
        if not self.path.is_file():
            return
        lines = self.path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if json.loads(line).get("step", 0) <= step]
        if len(kept) != len(lines):
            atomic_write_bytes(self.path, "".join(kept).encode())

    @property
    def backend(self) -> str:
        return "tensorboard+jsonl" if self.board is not None else "jsonl"

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self._file.write(json.dumps({"step": step, **values}) + "\n")
        self._file.flush()
        if self.board is not None:
            for name, value in values.items():
                self.board.add_scalar(name, value, step)

    def image(self, step: int, name: str, rgb: Any) -> None:
        if self.board is not None:
            self.board.add_image(name, rgb, step, dataformats="HWC")

    def close(self) -> None:
        self._file.close()
        if self.board is not None:
            self.board.close()


class Trainer:
    """Owns the model, D, their optimizers and the run folder; :meth:`fit` runs steps."""

    def __init__(
        self,
        model: FaceVid2VidModel,
        discriminator: MultiScaleDiscriminator,
        dataset: PairDataset,
        config: TrainConfig,
        run: Path,
        *,
        device: torch.device,
        perceptual: MultiScalePerceptualLoss | None = None,
        use_pose: bool = False,
        note: str = "",
    ) -> None:
        self.model = model.to(device).train()
        self.discriminator = discriminator.to(device).train()
        self.dataset, self.config, self.run = dataset, config, run
        self.device = device
        self.perceptual = perceptual.to(device) if perceptual is not None else None
        self.use_pose = use_pose
        self.note = note
        self.opt_g = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=config.betas)
        self.opt_d = torch.optim.Adam(
            self.discriminator.parameters(), lr=config.lr, betas=config.betas
        )
        self.amp_dtype = resolve_amp(config.amp, device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes every step
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.step = 0

    # -- one step -------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _warp(self, step: int, batch: int) -> RandomWarp:
        seed = int(step_rng(self.config.seed, step, stream=1).integers(2**62))
        return RandomWarp(
            batch,
            generator=torch.Generator().manual_seed(seed),
            sigma_affine=self.config.sigma_affine,
            sigma_tps=self.config.sigma_tps,
            points_tps=self.config.points_tps,
            device=self.device,
        )

    def train_step(self, batch: Pair, step: int) -> tuple[dict[str, float], torch.Tensor]:
        """One G update then one D update; returns the logged values and the prediction."""
        batch = Pair(*(t.to(self.device, non_blocking=True) for t in batch))
        weights = self.config.weights
        self.discriminator.requires_grad_(False)
        with self._autocast():
            total, terms, forward = generator_step_losses(
                self.model,
                self.discriminator,
                batch,
                self._warp(step, batch.source.shape[0]),
                weights,
                self.perceptual,
                use_pose=self.use_pose,
            )
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.step(self.opt_g)
        self.discriminator.requires_grad_(True)
        values = {f"loss/{k}": float(v.detach()) for k, v in terms.items()}
        values["loss/generator_total"] = float(total.detach())
        if weights.gan > 0:
            with self._autocast():
                loss_d = discriminator_step_loss(self.discriminator, batch, forward, weights)
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler.scale(loss_d).backward()
            self.scaler.step(self.opt_d)
            values["loss/discriminator"] = float(loss_d.detach())
        self.scaler.update()
        return values, forward.prediction.detach()

    # -- the loop ---------------------------------------------------------------------------
    def _batches(self, start: int, stop: int) -> Iterator[Pair]:
        sampler = PairSampler(self.dataset.clips, self.config.batch, self.config.seed, start, stop)
        loader = DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=self.config.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
        yield from loader

    def fit(self, stop: int, *, show_progress: bool = True) -> dict[str, float]:
        """Train from the current step up to ``stop``; returns the last step's values."""
        metrics = MetricsLog(self.run, self.step)
        bar = tqdm(
            total=stop, initial=self.step, desc="train", unit="step", disable=not show_progress
        )
        last: dict[str, float] = {}
        started, first_step = time.perf_counter(), self.step
        try:
            for batch in self._batches(self.step, stop):
                step, began = self.step, time.perf_counter()
                values, prediction = self.train_step(batch, step)
                self.step = step + 1
                now = time.perf_counter()
                values["time/step_s"] = now - began  # this step, without data loading
                values["time/it_s"] = (self.step - first_step) / max(now - started, 1e-9)
                last = values
                if self.step % self.config.log_every == 0 or self.step == stop:
                    metrics.scalars(self.step, values)
                if self.step % self.config.sample_every == 0 or self.step == stop:
                    self._write_samples(metrics, batch, prediction)
                if self.step % self.config.save_every == 0 or self.step == stop:
                    self.save()
                bar.update(1)
                bar.set_postfix(
                    l1=f"{values['loss/l1']:.4f}",
                    g=f"{values['loss/generator_total']:.3f}",
                    d=f"{values.get('loss/discriminator', 0.0):.3f}",
                )
        finally:
            bar.close()
            metrics.close()
        return last

    def _write_samples(self, metrics: MetricsLog, batch: Pair, prediction: torch.Tensor) -> None:
        count = min(4, prediction.shape[0])
        size = self.model.config.output_size
        rows = list(
            zip(
                to_rgb_uint8(batch.source[:count]),
                to_rgb_uint8(batch.target[:count]),
                to_rgb_uint8(prediction[:count]),
                strict=True,
            )
        )
        image = grid(rows, size)
        write_png(self.run / "samples" / f"step-{self.step:08d}.png", image)
        metrics.image(self.step, "samples/source_driving_prediction", image)

    # -- checkpoints --------------------------------------------------------------------------
    def save(self) -> Path:
        """Write ``checkpoints/step-N`` and point ``latest.json`` at it; prune old ones."""
        folder = self.run / "checkpoints" / f"step-{self.step:08d}"
        note = f"vid2vid-train: {self.step} steps{'; ' + self.note if self.note else ''}"
        save_checkpoint(folder, self.model.config, self.model.state_dict(), trained=True, note=note)
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in self.discriminator.state_dict().items()},
            str(folder / DISCRIMINATOR_FILE),
        )
        state = {
            "step": self.step,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict(),
        }
        tmp = folder / f".{STATE_FILE}.tmp"
        torch.save(state, tmp)
        tmp.replace(folder / STATE_FILE)
        latest = {"step": self.step, "checkpoint": folder.relative_to(self.run).as_posix()}
        atomic_write_bytes(self.run / LATEST_FILE, (json.dumps(latest) + "\n").encode())
        self._prune()
        return folder

    def _prune(self) -> None:
        folders = sorted((self.run / "checkpoints").glob("step-*"))
        for old in folders[: -self.config.keep]:
            for file in old.iterdir():
                file.unlink()
            old.rmdir()

    def load(self, folder: Path) -> None:
        """Restore model, D, optimizers, scaler and step from a checkpoint folder of this run."""
        loaded = load_checkpoint(folder)
        if loaded.config != self.model.config:
            raise CheckpointError(f"{folder}: the checkpoint's model config differs from the run's")
        load_state_dict_strict(self.model, loaded.model.state_dict(), str(folder))
        try:
            disc = load_file(str(folder / DISCRIMINATOR_FILE))
            state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
            raise CheckpointError(
                f"{folder}: cannot resume ({type(exc).__name__}: {exc})"
            ) from None
        load_state_dict_strict(self.discriminator, disc, str(folder / DISCRIMINATOR_FILE))
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.model.to(self.device).train()
        self.discriminator.to(self.device).train()


def latest_checkpoint(run: Path) -> Path:
    path = run / LATEST_FILE
    if not path.is_file():
        raise CheckpointError(f"{run}: nothing to resume (no {LATEST_FILE})")
    try:
        return run / json.loads(path.read_text())["checkpoint"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: malformed ({exc})") from None
