"""Build TensorRT engines from the exported ONNX graphs (the ``trt`` extra).

Written against TensorRT 10's documented Python API: ``trt.Builder`` → an explicit-batch
network filled by ``trt.OnnxParser`` → a builder config with the FP16 flag and one
optimization profile (batch 1 / opt / N on axis 0 of every input) →
``build_serialized_network``. NOT run on the machines this project is developed on (no GPU,
no TensorRT there); the ONNX it consumes, the op list and the cache keys are tested there.

Engines land in the cache (:mod:`vid2vid.engines.engine_cache`), keyed by model fingerprint,
GPU name, TensorRT version, precision and the profile's largest batch.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.engines.engine_cache import EngineKey, find_covering, write_entry
from vid2vid.engines.export import export_graph
from vid2vid.engines.graph_version import EXPORT_TAG
from vid2vid.engines.graphs import GRAPHS
from vid2vid.engines.tensorrt_env import gpu_name, import_tensorrt
from vid2vid.engines.trt_ops import tensorrt_problems
from vid2vid.errors import EngineUnavailableError

log = logging.getLogger(__name__)

WORKSPACE_BYTES = 4 << 30
#: The ONNX each engine is built from: the decoder is the planar one (4D GridSample only).
ONNX_FOR_GRAPH = {"motion": "motion", "keyframe": "keyframe", "decoder": "decoder_planar"}


def engine_key(loaded: LoadedModel, graph: str, *, fp16: bool, max_batch: int) -> EngineKey:
    trt, _ = import_tensorrt()
    return EngineKey(loaded.fingerprint, graph, gpu_name(), trt.__version__, fp16, max_batch)


def build_serialized(
    onnx_path: str | Path, *, fp16: bool, max_batch: int, opt_batch: int | None = None
) -> bytes:
    """Parse ``onnx_path`` and build one engine with a batch profile 1..``max_batch``."""
    problems = tensorrt_problems(onnx_path)
    if problems:
        raise EngineUnavailableError(f"{onnx_path}: TensorRT cannot parse it: {problems[0]}")
    trt, _ = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineUnavailableError(f"{onnx_path}: TensorRT's ONNX parser failed: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if fp16:
        if not builder.platform_has_fast_fp16:
            log.warning("this GPU has no fast FP16; building FP16 anyway")
        config.set_flag(trt.BuilderFlag.FP16)
    opt = opt_batch or max_batch
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        rest = tuple(tensor.shape)[1:]  # every axis but the batch is fixed in our graphs
        profile.set_shape(tensor.name, (1, *rest), (opt, *rest), (max_batch, *rest))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineUnavailableError(f"{onnx_path}: TensorRT failed to build an engine")
    return bytes(serialized)


def build_engines(
    loaded: LoadedModel,
    cache: str | Path,
    *,
    fp16: bool = True,
    max_batch: int = 1,
    graphs: tuple[str, ...] = GRAPHS,
    force: bool = False,
) -> dict[str, Path]:
    """Export (if needed) and build each graph's engine into ``cache``; cached ones are reused."""
    built: dict[str, Path] = {}
    for graph in graphs:
        key = engine_key(loaded, graph, fp16=fp16, max_batch=max_batch)
        cached = None if force else find_covering(cache, key)
        if cached is not None:
            log.info("engine cache hit: %s", cached)
            built[graph] = cached
            continue
        onnx_name = ONNX_FOR_GRAPH[graph]
        onnx_path = Path(cache) / "onnx" / loaded.fingerprint / EXPORT_TAG / f"{onnx_name}.onnx"
        if not onnx_path.is_file():
            onnx_path.parent.mkdir(parents=True, exist_ok=True)
            partial = onnx_path.with_suffix(f".{os.getpid()}.partial")
            export_graph(loaded.model, graph, partial, planar=onnx_name == "decoder_planar")  # type: ignore[arg-type]
            os.replace(partial, onnx_path)  # an interrupted export leaves no truncated .onnx
        log.info(
            "building %s engine (fp16=%s, batch 1..%d); this takes minutes", graph, fp16, max_batch
        )
        built[graph] = write_entry(
            cache, key, build_serialized(onnx_path, fp16=fp16, max_batch=max_batch)
        )
    return built
