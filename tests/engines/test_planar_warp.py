"""The 3D warp as 4D GridSample equals the 5D reference; TensorRT-bound graphs use only its ops."""

from __future__ import annotations

import onnx
import pytest
import torch
import torch.nn.functional as F

from vid2vid.engines.planar_warp import grid_sample_3d_as_2d, planar_grid_sample, tile_volume
from vid2vid.engines.trt_ops import tensorrt_ops, tensorrt_problems

SHAPES = [(2, 4, 4, 16, 16, (4, 16, 16)), (1, 3, 5, 7, 9, (3, 6, 4)), (1, 2, 1, 4, 4, (2, 3, 3))]


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:5])))
def test_planar_sample_equals_5d_reference(shape, align_corners):
    batch, channels, depth, height, width, out = shape
    generator = torch.Generator().manual_seed(sum(shape[:5]))
    volume = torch.rand(batch, channels, depth, height, width, generator=generator)
    # Beyond [-1, 1] on purpose: zero padding outside the volume must match too.
    grid = torch.rand(batch, *out, 3, generator=generator) * 3.0 - 1.5
    grid[0, 0, 0, :3] = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    grid[0, 0, 1, 0] = torch.tensor([3.0, 0.0, 0.0])  # far outside in x only
    reference = F.grid_sample(volume, grid, align_corners=align_corners)
    planar = grid_sample_3d_as_2d(volume, grid, align_corners)
    torch.testing.assert_close(planar, reference, rtol=0, atol=1e-5)
    assert (reference == 0).any()  # some points fell fully outside


def test_tiles_keep_a_zero_border():
    volume = torch.ones(1, 1, 5, 3, 3)
    tiles = tile_volume(volume)  # 5 slices -> 2 rows x 3 cols of 5 x 5 tiles
    assert tiles.shape == (1, 1, 10, 15)
    assert tiles.sum() == 5 * 9  # every slice once, borders and the spare tile zero
    assert tiles[0, 0, 0].abs().sum() == 0 and tiles[0, 0, :, 0].abs().sum() == 0


def test_mode_rewrites_only_5d_bilinear_zero_padding():
    volume, grid = torch.rand(1, 2, 3, 4, 4), torch.rand(1, 3, 4, 4, 3) * 2 - 1
    image, grid2d = torch.rand(1, 2, 4, 4), torch.rand(1, 4, 4, 2) * 2 - 1
    with planar_grid_sample():
        nearest = F.grid_sample(volume, grid, mode="nearest", align_corners=True)
        border = F.grid_sample(volume, grid, padding_mode="border", align_corners=True)
        planar2d = F.grid_sample(image, grid2d, align_corners=True)
    assert torch.equal(nearest, F.grid_sample(volume, grid, mode="nearest", align_corners=True))
    assert torch.equal(
        border, F.grid_sample(volume, grid, padding_mode="border", align_corners=True)
    )
    assert torch.equal(planar2d, F.grid_sample(image, grid2d, align_corners=True))


def test_planar_decoder_in_ort_equals_the_5d_torch_decoder(exported):
    _, graphs, _ = exported
    # export_all compared decoder_planar.onnx in ORT with the 5D torch model (reference_5d).
    assert graphs["decoder_planar"].planar
    assert graphs["decoder_planar"].max_rel_error <= 1e-5


def test_tensorrt_bound_graphs_use_only_tensorrt_ops(exported):
    folder, _, _ = exported
    for name in ("decoder_planar", "motion", "keyframe"):
        assert tensorrt_problems(folder / f"{name}.onnx") == [], name
    model = onnx.load(str(folder / "decoder_planar.onnx"))
    assert "GridSample" in {node.op_type for node in model.graph.node}


def test_the_op_check_catches_5d_grid_sample_and_unknown_ops(exported):
    folder, _, _ = exported
    problems = tensorrt_problems(folder / "decoder.onnx")
    assert problems and all(
        "input rank 5, TensorRT takes 4D GridSample only" in p for p in problems
    )
    model = onnx.load(str(folder / "motion.onnx"))
    model.graph.node[0].op_type = "SoftmaxCrossEntropyLoss"
    assert any("not supported by TensorRT 10.15" in p for p in tensorrt_problems(model))


def test_op_list_is_the_documented_one():
    ops = tensorrt_ops()
    assert ops.tensorrt == "10.15" and (ops.opset_min, ops.opset_max) == (9, 24)
    assert {"GridSample", "Conv", "Einsum", "Resize"} <= ops.supported
    assert "onnx-tensorrt" in ops.source
    assert not {"Det", "Unique", "SequenceAt", "SoftmaxCrossEntropyLoss"} & ops.supported


def _lp_tiny():
    from support.configs import LIVEPORTRAIT_TINY
    from vid2vid.codec.model import seeded_model
    from vid2vid.engines.export import settle_spectral_norm

    return settle_spectral_norm(
        seeded_model(LIVEPORTRAIT_TINY)
    )  # converged σ, as trained weights have


def test_planar_torch_decoder_equals_the_5d_one(settled):
    from vid2vid.engines.graphs import example_inputs, graph_module

    # face-vid2vid here (align_corners=True); LivePortrait's (False) is checked through ORT below.
    module = graph_module(settled.model, "decoder")
    inputs = example_inputs(settled.model, "decoder", batch=2)
    with torch.no_grad():
        reference = module(*inputs)
        with planar_grid_sample():
            planar = module(*inputs)
    torch.testing.assert_close(planar, reference, rtol=0, atol=1e-5)


def test_liveportrait_planar_decoder_exports_for_tensorrt(tmp_path):
    from vid2vid.engines.export import export_graph, verify_graph

    model = _lp_tiny()
    path = export_graph(model, "decoder", tmp_path / "decoder_planar.onnx", planar=True)
    assert tensorrt_problems(path) == []
    # ORT's run of the planar graph against the 5D torch decoder (align_corners=False warps).
    assert verify_graph(model, "decoder", path, planar=True) <= 1e-5
