"""Where built TensorRT engines live, keyed so that a stale engine is never loaded.

A serialized engine is valid only for the exact weights, GPU model and TensorRT version it was
built with (NVIDIA: engines are not portable across GPU models or TensorRT versions), and for
the precision and batch profile chosen at build time. The key names all of them:

    <cache>/tensorrt/<fingerprint>/<export tag>/<graph>-<fp16|fp32>-b<max batch>-<gpu slug>-trt<version>.engine

(the export tag names the export code, see :mod:`vid2vid.engines.graph_version`)

next to a JSON sidecar with the same facts in full, which :func:`check_entry` compares before
a load. Pure standard library: tested on machines without TensorRT.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from vid2vid.engines.graph_version import EXPORT_TAG
from vid2vid.errors import ModelMismatchError


def slug(text: str) -> str:
    """A file-name-safe, lower-case form: "NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3"."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "unknown"


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialized engine depends on."""

    fingerprint: str
    graph: str  # "motion", "keyframe" or "decoder" (the planar one)
    gpu: str  # the device name, e.g. "NVIDIA H100 80GB HBM3"
    tensorrt: str  # tensorrt.__version__
    fp16: bool
    max_batch: int
    export: str = EXPORT_TAG  # the export code's version: engines of older graphs are rebuilt

    @property
    def file_name(self) -> str:
        precision = "fp16" if self.fp16 else "fp32"
        return (
            f"{self.graph}-{precision}-b{self.max_batch}-{slug(self.gpu)}-trt{slug(self.tensorrt)}"
            ".engine"
        )

    def path(self, cache: str | Path) -> Path:
        return Path(cache) / "tensorrt" / self.fingerprint / self.export / self.file_name


def sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def write_entry(cache: str | Path, key: EngineKey, engine: bytes) -> Path:
    """Store a serialized engine and its sidecar; the engine file appears atomically."""
    path = key.path(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(engine)
    sidecar(path).write_text(json.dumps(asdict(key), indent=2) + "\n")
    partial.replace(path)
    return path


def check_entry(path: Path, key: EngineKey) -> bool:
    """True when ``path`` holds an engine for exactly ``key``; False when absent.

    A present engine whose sidecar disagrees (a renamed or hand-copied file) raises
    :class:`ModelMismatchError` naming the first differing fact.
    """
    if not path.is_file():
        return False
    try:
        recorded = json.loads(sidecar(path).read_text())
    except (OSError, json.JSONDecodeError):
        raise ModelMismatchError(
            f"{path}: engine without a readable {sidecar(path).name}"
        ) from None
    for field, value in asdict(key).items():
        if recorded.get(field) != value:
            raise ModelMismatchError(
                f"{path}: built for {field}={recorded.get(field)!r}, this run needs {value!r}"
            )
    return True


def find_covering(cache: str | Path, key: EngineKey) -> Path | None:
    """A cached engine that serves ``key``: the exact one, else the smallest one built for a
    larger batch with everything else equal (its profile covers batch 1..N, so a receiver that
    opens batch 1 uses the batch-16 engine ``vid2vid-engines build --batch 16`` made).

    Entries whose sidecar is missing or unreadable are passed over here; :func:`check_entry`
    is the strict check for the exact key.
    """
    exact = key.path(cache)
    if check_entry(exact, key):
        return exact
    wanted = {k: v for k, v in asdict(key).items() if k != "max_batch"}
    best: tuple[int, Path] | None = None
    for candidate in sorted(exact.parent.glob("*.json")):
        try:
            recorded = json.loads(candidate.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        engine = candidate.with_suffix(".engine")
        batch = recorded.get("max_batch")
        if (
            engine.is_file()
            and isinstance(batch, int)
            and batch >= key.max_batch
            and all(recorded.get(k) == v for k, v in wanted.items())
            and (best is None or batch < best[0])
        ):
            best = (batch, engine)
    return None if best is None else best[1]
