"""Does an ONNX graph stay inside what TensorRT's ONNX parser accepts? Checked without TensorRT.

The supported-operator list is data (``tensorrt_onnx_ops.json``), transcribed from onnx-tensorrt's
``docs/operators.md`` for TensorRT 10.15 (opset 9 to 24). Besides op names, the restrictions
that bite this project are checked on the graph itself:

- GridSample's input must be 4D (the whole reason for :mod:`vid2vid.engines.planar_warp`);
- Reduce* ``axes`` and (Un)squeeze ``axes`` must be constants (initializers or Constant nodes);
- the model's opset must be in the documented range.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

OPS_FILE = Path(__file__).with_name("tensorrt_onnx_ops.json")
_CONSTANT_AXES = {
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "Squeeze",
    "Unsqueeze",
}


@dataclass(frozen=True)
class OpList:
    """The documented operator support of one TensorRT version."""

    tensorrt: str
    opset_min: int
    opset_max: int
    supported: frozenset[str]
    source: str


@cache
def tensorrt_ops() -> OpList:
    document = json.loads(OPS_FILE.read_text())
    return OpList(
        tensorrt=document["tensorrt"],
        opset_min=document["opset_min"],
        opset_max=document["opset_max"],
        supported=frozenset(document["supported"]),
        source=document["source"],
    )


def _ranks(model: Any) -> dict[str, int]:
    """Rank of every value ONNX shape inference can type (inputs, outputs, intermediates)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    ranks: dict[str, int] = {}
    graph = inferred.graph
    for value in (*graph.input, *graph.value_info, *graph.output):
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            ranks[value.name] = len(tensor.shape.dim)
    return ranks


def tensorrt_problems(model_or_path: Any, ops: OpList | None = None) -> list[str]:
    """Every reason TensorRT's parser would refuse this ONNX model; empty when it fits.

    ``model_or_path`` is an ``onnx.ModelProto`` or a path to one.
    """
    import onnx

    ops = ops or tensorrt_ops()
    model = model_or_path
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model_or_path))
    problems: list[str] = []
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and not ops.opset_min <= opset.version <= ops.opset_max:
            problems.append(
                f"opset {opset.version} outside TensorRT {ops.tensorrt}'s {ops.opset_min}..{ops.opset_max}"
            )
    ranks = _ranks(model)
    constants = {init.name for init in model.graph.initializer}
    constants |= {
        out for node in model.graph.node if node.op_type == "Constant" for out in node.output
    }
    for node in model.graph.node:
        where = f"{node.op_type} node {node.name or node.output[0]!r}"
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{where}: custom domain {node.domain!r}")
            continue
        if node.op_type not in ops.supported:
            problems.append(f"{where}: not supported by TensorRT {ops.tensorrt}")
            continue
        if node.op_type == "GridSample":
            rank = ranks.get(node.input[0])
            if rank != 4:
                problems.append(f"{where}: input rank {rank}, TensorRT takes 4D GridSample only")
        axes = node.input[1] if node.op_type in _CONSTANT_AXES and len(node.input) > 1 else ""
        if axes and axes not in constants:
            problems.append(f"{where}: axes are computed, TensorRT needs them constant")
    return problems
