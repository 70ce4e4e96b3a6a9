"""ONNX export of the three graphs, checked in ONNX Runtime against PyTorch (FP32, 1e-4)."""

from __future__ import annotations

import json

import pytest
import torch

from vid2vid.codec.checkpoint import untrained_model
from vid2vid.codec.config import preset
from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.model import seeded_model
from vid2vid.engines import open_runtime
from vid2vid.engines.export import (
    TOLERANCE,
    cpu_session,
    export_graph,
    max_relative_error,
    parity,
)
from vid2vid.engines.graph_version import EXPORT_TAG
from vid2vid.engines.graphs import (
    DECODER_INPUTS,
    example_inputs,
    graph_module,
)
from vid2vid.engines.onnx_runtime import OnnxRuntime
from vid2vid.errors import ConfigError, ModelMismatchError


def test_every_export_matches_pytorch_within_tolerance(exported):
    folder, graphs, real = exported
    assert set(graphs) == {"motion", "keyframe", "decoder", "decoder_planar"}
    for graph in graphs.values():
        assert graph.max_rel_error is not None and graph.max_rel_error <= TOLERANCE, graph
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["opset"] >= 20
    assert manifest["graphs"]["decoder_planar"]["planar"] is True
    if not real:
        pytest.skip("checked on random inputs only: no real portraits in ../shared/data")


def test_real_portraits_through_ort_match_torch(settled, exported, portraits):
    folder, _, _ = exported
    images = portraits
    module = graph_module(settled.model, "decoder")
    session = cpu_session(folder / "decoder.onnx")
    for image in images:
        inputs = example_inputs(settled.model, "decoder", image=image)
        errors = parity(session, module, DECODER_INPUTS, inputs)
        assert max(errors.values()) <= TOLERANCE, errors


def test_exported_batch_axis_is_dynamic(settled, exported):
    folder, _, _ = exported
    session = cpu_session(folder / "motion.onnx")
    module = graph_module(settled.model, "motion")
    for batch in (1, 3):
        errors = parity(session, module, ("image",), example_inputs(settled.model, "motion", batch))
        assert set(errors) == {"yaw", "pitch", "roll", "translation", "deformation", "scale"}
        assert max(errors.values()) <= TOLERANCE


def test_export_leaves_the_model_untouched(tmp_path):
    # The exporter restores the wrapper's training flag; a wrapper left in training mode flips
    # the model to training afterwards (spectral-norm power iterations, BatchNorm batch stats).
    loaded = untrained_model("tiny")
    inputs = example_inputs(loaded.model, "motion")
    module = graph_module(loaded.model, "motion")
    with torch.no_grad():
        before = module(*inputs)
    export_graph(loaded.model, "motion", tmp_path / "motion.onnx")
    assert not loaded.model.training
    with torch.no_grad():
        after = module(*inputs)
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_onnx_runtime_implements_the_protocol(settled, exported, image):
    folder, _, _ = exported
    runtime = OnnxRuntime.from_folder(folder, fingerprint=settled.fingerprint)
    reference = open_runtime(settled, "torch")
    assert runtime.name == "onnxruntime-cpu" and runtime.config == settled.config

    keyframe, expected = runtime.encode_keyframe(image), reference.encode_keyframe(image)
    assert max_relative_error(keyframe.volume.numpy(), expected.volume.numpy()) <= TOLERANCE
    motion = runtime.extract_motion(image.flip(-1))
    expected_motion = reference.extract_motion(image.flip(-1))
    for got, want in zip(motion, expected_motion, strict=True):
        assert got.shape == want.shape
        assert max_relative_error(got.numpy(), want.numpy()) <= TOLERANCE
    source = settled.model.pose(expected.canonical, expected.motion)
    driving = settled.model.pose(expected.canonical, expected_motion)
    frame = runtime.decode(expected.volume, source, driving)
    want = reference.decode(expected.volume, source, driving)
    assert frame.shape == (1, 3, 64, 64)
    assert max_relative_error(frame.numpy(), want.numpy()) <= TOLERANCE


def test_from_folder_refuses_another_model(exported):
    folder, _, _ = exported
    with pytest.raises(ModelMismatchError, match="exported from model"):
        OnnxRuntime.from_folder(folder, fingerprint="0" * 32)


def test_open_runtime_onnx_exports_only_what_is_used(tiny, image, tmp_path, monkeypatch):
    monkeypatch.setenv("VID2VID_CACHE", str(tmp_path))
    runtime = open_runtime(tiny, "onnx")
    assert runtime.name == "onnxruntime-cpu"
    motion = runtime.extract_motion(image)
    expected = open_runtime(tiny, "torch").extract_motion(image)
    assert max_relative_error(motion.deformation.numpy(), expected.deformation.numpy()) <= TOLERANCE
    # The keyframe a driving frame is measured against: a graph family's motion is absolute.
    with_key = runtime.extract_motion(image, reference=image.flip(-1))
    for got, want in zip(with_key, motion, strict=True):
        assert torch.equal(got, want)
    files = sorted(p.name for p in (tmp_path / "onnx" / tiny.fingerprint / EXPORT_TAG).iterdir())
    assert files == ["motion.onnx"]  # a sender never pays for the decoder's export


def test_models_with_jacobians_are_refused():
    config = preset("tiny")
    config = config.replace(
        arch=config.arch.__class__(**{**vars(config.arch), "estimate_jacobian": True})
    )
    assert isinstance(config.arch, FaceVid2VidArch)
    with pytest.raises(ConfigError, match="estimate_jacobian"):
        graph_module(seeded_model(config), "decoder")
