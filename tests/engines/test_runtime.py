"""The runtime protocol: TorchRuntime is the model under inference_mode; open_runtime picks."""

from __future__ import annotations

import logging

import pytest
import torch

from vid2vid.codec.keypoints import Keypoints
from vid2vid.engines import Runtime, TorchRuntime, open_runtime
from vid2vid.engines.runtime import tensorrt_available
from vid2vid.errors import EngineUnavailableError


def test_torch_runtime_matches_the_model_and_clamps(tiny, image):
    runtime = open_runtime(tiny, "torch", "cpu")
    assert isinstance(runtime, TorchRuntime)
    assert isinstance(runtime, Runtime)
    assert runtime.name == "torch-cpu"
    assert runtime.config == tiny.config

    keyframe = runtime.encode_keyframe(image)
    motion = runtime.extract_motion(image * 0.5)
    with torch.no_grad():
        expected = tiny.model.encode_keyframe(image)
        expected_motion = tiny.model.extract_motion(image * 0.5)
    torch.testing.assert_close(keyframe.volume, expected.volume)
    torch.testing.assert_close(keyframe.canonical, expected.canonical)
    for got, want in zip(motion, expected_motion, strict=True):
        torch.testing.assert_close(got, want)
    assert keyframe.volume.is_inference()  # ran under inference_mode

    source = tiny.model.pose(keyframe.canonical, keyframe.motion)
    driving = tiny.model.pose(keyframe.canonical, motion)
    frame = runtime.decode(keyframe.volume, source, driving)
    assert frame.shape == (1, 3, 64, 64)
    assert frame.min() >= 0.0 and frame.max() <= 1.0
    with torch.no_grad():
        raw = tiny.model.decode(keyframe.volume, source, driving)
    torch.testing.assert_close(frame, raw.clamp(0, 1))
    assert (raw < 0).any() or (raw > 1).any()  # untrained G leaves [0, 1]: the clamp matters


def test_decode_moves_inputs_and_accepts_batches(tiny):
    runtime = open_runtime(tiny, "torch")
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    keyframe = runtime.encode_keyframe(images)
    source = tiny.model.pose(keyframe.canonical, keyframe.motion)
    frames = runtime.decode(
        keyframe.volume.double(), Keypoints(source.points.double(), source.rotation), source
    )
    assert frames.shape == (3, 3, 64, 64) and frames.dtype == torch.float32


def test_auto_picks_torch_on_cpu_and_says_so(tiny, caplog):
    with caplog.at_level(logging.INFO, logger="vid2vid.engines.runtime"):
        runtime = open_runtime(tiny)
    assert runtime.name == "torch-cpu"
    assert "engine auto picked torch-cpu" in caplog.text


def test_unknown_engine_and_device_are_clear_errors(tiny):
    with pytest.raises(EngineUnavailableError, match="unknown engine 'tvm'"):
        open_runtime(tiny, "tvm")
    with pytest.raises(EngineUnavailableError, match="unknown device 'gpu0'"):
        open_runtime(tiny, "torch", "gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_refused(tiny):
    with pytest.raises(EngineUnavailableError, match="torch sees no CUDA GPU"):
        open_runtime(tiny, "torch", "cuda")


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT and pycuda are installed here")
def test_trt_without_tensorrt_names_the_extra(tiny):
    with pytest.raises(EngineUnavailableError, match=r"pip install 'vid2vid\[trt\]'"):
        open_runtime(tiny, "trt", "cpu")


def test_the_torch_runtimes_take_the_keyframe_reference_and_graph_families_ignore_it(tiny):
    """Every runtime takes ``reference`` (the keyframe image a driving frame's motion is
    measured against); the paper's family measures absolute motion, so it changes nothing."""
    from vid2vid.engines.fast_torch import FastTorchRuntime

    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    key = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4)).double()
    for runtime in (
        TorchRuntime(tiny),
        FastTorchRuntime(tiny, "cpu", half=False, channels_last=False, cuda_graphs=False),
    ):
        plain = runtime.extract_motion(images)
        for reference in (key, key.expand(2, -1, -1, -1)):
            measured = runtime.extract_motion(images, reference=reference)
            for got, want in zip(measured, plain, strict=True):
                assert torch.equal(got, want), runtime.name
