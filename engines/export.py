"""ONNX export of the three graphs, each checked in ONNX Runtime against PyTorch.

Exports use the TorchScript-based exporter (``dynamo=False``): it needs only ``onnx`` (the
torch.export-based one also needs onnxscript), traces these feed-forward graphs exactly, and
takes about a second for the tiny model. The batch axis is dynamic in every graph.

An export folder holds ``motion.onnx``, ``keyframe.onnx``, ``decoder.onnx`` (5D GridSample, for
ONNX Runtime on CPU), ``decoder_planar.onnx`` (the 3D warp as 4D GridSample: what TensorRT and
ONNX Runtime's CUDA provider get) and ``manifest.json`` (fingerprint, config, opset, names and
the measured parity of each file).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vid2vid.codec.checkpoint import LoadedModel, fingerprint
from vid2vid.codec.model import TalkingHeadModel
from vid2vid.engines.graph_version import OPSET
from vid2vid.engines.graphs import (
    GRAPHS,
    GraphName,
    example_inputs,
    graph_module,
    graphs_of,
    input_names,
    output_names,
)
from vid2vid.engines.planar_warp import planar_grid_sample
from vid2vid.errors import EngineUnavailableError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: File stem of each exported graph; the planar decoder is the TensorRT-bound one.
FILES = {
    "motion": "motion",
    "keyframe": "keyframe",
    "decoder": "decoder",
    "decoder_planar": "decoder_planar",
}
#: FP32 parity every export must meet: max |ort − torch| / max |torch| per output.
TOLERANCE = 1e-4


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise EngineUnavailableError(
            "ONNX export needs onnx and onnxruntime: pip install 'vid2vid[onnx]'"
        ) from None


@dataclass(frozen=True)
class GraphFile:
    """One exported graph as recorded in the manifest."""

    name: str  # key of FILES
    file: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    planar: bool
    max_rel_error: float | None = None


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """The TorchScript exporter warns about itself and about traced Python ints; both expected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def export_graph(
    model: TalkingHeadModel,
    name: GraphName,
    path: str | Path,
    *,
    planar: bool = False,
    opset: int = OPSET,
) -> Path:
    """Trace graph ``name`` of ``model`` to an ONNX file at ``path`` (dynamic batch).

    ``planar`` traces the 5D warps as 4D GridSample (:mod:`vid2vid.engines.planar_warp`).
    """
    require_onnx()
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = graph_module(model, name)
    inputs = example_inputs(model, name, batch=2)
    names_in, names_out = input_names(name), output_names(name)
    dynamic = {n: {0: "batch"} for n in (*names_in, *names_out)}
    warp = planar_grid_sample() if planar else contextlib.nullcontext()
    with _quiet_export(), torch.no_grad(), warp:
        torch.onnx.export(
            module,
            inputs,
            str(path),
            opset_version=opset,
            dynamo=False,
            input_names=list(names_in),
            output_names=list(names_out),
            dynamic_axes=dynamic,
            do_constant_folding=True,
        )
    onnx.checker.check_model(str(path))
    log.info("exported %s to %s", name, path)
    return path


def settle_spectral_norm(model: torch.nn.Module, iterations: int = 50) -> torch.nn.Module:
    """Converge the power-iteration vectors (u, v) of every spectral-normalized conv, in place.

    A trained checkpoint's u and v have converged, so σ is W's largest singular value. A freshly
    seeded model's are random: σ is underestimated and G's activations reach 10^5, where float32
    cannot reproduce the same number twice through different kernels (ORT vs torch differ by
    ~1e-2 on the tiny preset, 1e-6 once settled). Exports of untrained presets settle first.
    """
    with torch.no_grad():
        for module in model.modules():
            if not (hasattr(module, "weight_orig") and hasattr(module, "weight_u")):
                continue
            weight = module.weight_orig.reshape(module.weight_orig.shape[0], -1)  # out x rest
            u, v = module.weight_u, module.weight_v
            for _ in range(iterations):
                v = torch.nn.functional.normalize(weight.t() @ u, dim=0)
                u = torch.nn.functional.normalize(weight @ v, dim=0)
            module.weight_u.copy_(u)
            module.weight_v.copy_(v)
    return model


def settled_untrained(loaded: LoadedModel) -> LoadedModel:
    """``loaded`` itself when trained; else a copy with settled spectral norms and its fingerprint."""
    if loaded.trained:
        return loaded
    model = settle_spectral_norm(copy.deepcopy(loaded.model))
    print_ = fingerprint(loaded.config, model.state_dict())
    log.warning("untrained weights: spectral-norm vectors settled for export (%s)", print_)
    return replace(loaded, model=model, fingerprint=print_, source=f"{loaded.source}, settled")


def max_relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got − want| / max |want| (the denominator floored at 1e-12)."""
    want = np.asarray(want, dtype=np.float64)
    diff = np.abs(np.asarray(got, dtype=np.float64) - want).max(initial=0.0)
    return float(diff / max(float(np.abs(want).max(initial=0.0)), 1e-12))


def cpu_session(path: str | Path, threads: int | None = None):  # -> onnxruntime.InferenceSession
    """An ONNX Runtime session on the CPU provider (``threads`` intra-op threads, default all)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def parity(
    session,
    module: torch.nn.Module,
    names: Sequence[str],
    inputs: Sequence[Tensor],
    *,
    planar: bool = False,
) -> dict[str, float]:
    """Max relative error of each output of ``session`` against ``module`` on ``inputs``.

    ``names`` are the graph's declared input names in ``inputs`` order; the session is fed by
    name, because the exporter drops inputs a graph never reads (LivePortrait's rotations).
    """
    fed = {meta.name for meta in session.get_inputs()}
    feeds = {n: t.detach().cpu().numpy() for n, t in zip(names, inputs, strict=True) if n in fed}
    got = session.run(None, feeds)
    warp = planar_grid_sample() if planar else contextlib.nullcontext()
    with torch.no_grad(), warp:
        want = module(*inputs)
    want = want if isinstance(want, tuple) else (want,)
    outputs = [meta.name for meta in session.get_outputs()]
    return {
        n: max_relative_error(g, w.cpu().numpy())
        for n, g, w in zip(outputs, got, want, strict=True)
    }


def verify_graph(
    model: TalkingHeadModel,
    name: GraphName,
    path: str | Path,
    *,
    planar: bool = False,
    images: Sequence[Tensor] = (),
    reference_5d: bool = True,
) -> float:
    """The worst relative error of ``path`` in ONNX Runtime against PyTorch.

    Checked on a random batch of 2 and on each of ``images`` (real portraits, 1 x 3 x H x W).
    The planar decoder is compared with the 5D reference model when ``reference_5d`` (the
    proof that the rewrite changes nothing), else with the planar torch trace.
    """
    session = cpu_session(path)
    module = graph_module(model, name)
    worst = 0.0
    cases = [example_inputs(model, name, batch=2)]
    cases += [example_inputs(model, name, image=image) for image in images]
    for inputs in cases:
        errors = parity(
            session, module, input_names(name), inputs, planar=planar and not reference_5d
        )
        worst = max(worst, *errors.values())
    return worst


def export_all(
    loaded: LoadedModel,
    folder: str | Path,
    *,
    images: Sequence[Tensor] = (),
    verify: bool = True,
    graphs: Sequence[str] | None = None,
) -> dict[str, GraphFile]:
    """Export ``graphs`` (default: all four files) of ``loaded`` into ``folder`` with a manifest.

    With ``verify`` each file is checked in ONNX Runtime against PyTorch (random and ``images``)
    and an error above :data:`TOLERANCE` raises :class:`EngineUnavailableError`.
    """
    folder = Path(folder)
    model = loaded.model.eval()
    if graphs is None:
        own = graphs_of(loaded.config)
        graphs = [key for key in FILES if (key if key != "decoder_planar" else "decoder") in own]
    done: dict[str, GraphFile] = {}
    for key in graphs:
        planar = key == "decoder_planar"
        name: GraphName = "decoder" if planar else key  # type: ignore[assignment]
        assert name in GRAPHS, key
        path = export_graph(model, name, folder / f"{FILES[key]}.onnx", planar=planar)
        error = verify_graph(model, name, path, planar=planar, images=images) if verify else None
        if error is not None and error > TOLERANCE:
            raise EngineUnavailableError(
                f"{path.name}: ONNX Runtime differs from PyTorch by {error:.2e} (relative), "
                f"above the {TOLERANCE:.0e} tolerance"
            )
        done[key] = GraphFile(key, path.name, input_names(name), output_names(name), planar, error)
    write_manifest(folder, loaded, done)
    return done


def write_manifest(folder: Path, loaded: LoadedModel, graphs: dict[str, GraphFile]) -> Path:
    document = {
        "fingerprint": loaded.fingerprint,
        "trained": loaded.trained,
        "opset": OPSET,
        "torch": torch.__version__,
        "model": loaded.config.to_dict(),
        "graphs": {key: asdict(graph) for key, graph in graphs.items()},
    }
    path = folder / MANIFEST
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EngineUnavailableError(f"{path}: no readable export manifest ({exc})") from None
