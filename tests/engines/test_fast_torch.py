"""Batched decoding equals per-stream decoding; the fast PyTorch path equals the reference."""

from __future__ import annotations

import pytest
import torch

from vid2vid.codec.checkpoint import untrained_model
from vid2vid.engines import open_runtime
from vid2vid.engines.batching import DecodeRequest, decode_batch
from vid2vid.engines.fast_torch import FastTorchRuntime
from vid2vid.errors import EngineUnavailableError

NO_CUDA = "needs an NVIDIA GPU with CUDA"


def _requests(runtime, loaded, count: int) -> list[DecodeRequest]:
    """``count`` streams, each with its own keyframe and its own driving motion."""
    generator = torch.Generator().manual_seed(3)
    requests = []
    for _ in range(count):
        images = torch.rand(2, 3, 64, 64, generator=generator)
        keyframe = runtime.encode_keyframe(images[:1])
        motion = runtime.extract_motion(images[1:])
        source = loaded.model.pose(keyframe.canonical, keyframe.motion)
        driving = loaded.model.pose(keyframe.canonical, motion)
        requests.append(DecodeRequest(keyframe.volume, source, driving))
    return requests


def test_batched_decode_equals_decoding_each_stream(settled):
    tiny = settled  # converged spectral norms: untrained ones amplify float rounding 1000x
    runtime = open_runtime(tiny, "torch")
    requests = _requests(runtime, tiny, 3)
    alone = [runtime.decode(*r) for r in requests]
    for max_batch in (None, 2):
        together = decode_batch(runtime, requests, max_batch)
        assert len(together) == 3
        for got, want in zip(together, alone, strict=True):
            assert got.shape == (1, 3, 64, 64)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert not torch.allclose(alone[0], alone[1])  # the streams really differ
    assert decode_batch(runtime, []) == []


def test_channels_last_on_cpu_equals_the_reference_and_leaves_the_model(settled):
    tiny = settled
    fast = FastTorchRuntime(tiny, "cpu", half=False, cuda_graphs=False, channels_last=True)
    assert fast.name == "torch-cpu-fp32-channels-last"
    conv = next(m for m in fast.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    original = next(m for m in tiny.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert original.weight.is_contiguous()  # the caller's model is not converted
    reference = open_runtime(tiny, "torch")
    requests = _requests(reference, tiny, 2)
    frames = fast.decode_many(requests)
    for got, request in zip(frames, requests, strict=True):
        torch.testing.assert_close(got, reference.decode(*request), atol=1e-5, rtol=0)


def test_gpu_options_are_refused_on_cpu(tiny):
    with pytest.raises(EngineUnavailableError, match="FP16 and CUDA graphs need a CUDA device"):
        FastTorchRuntime(tiny, "cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_fp16_cuda_graphs_match_the_fp32_reference():  # pragma: no cover - GPU only
    from vid2vid.engines.export import settled_untrained

    loaded = settled_untrained(untrained_model("tiny"))
    fast = open_runtime(loaded, "auto", "cuda")
    assert fast.name.startswith(("torch-cuda-fp16", "tensorrt"))
    reference = open_runtime(loaded, "torch", "cuda")
    requests = _requests(reference, loaded, 4)
    batched = fast.decode_many(requests) if isinstance(fast, FastTorchRuntime) else None
    for i, request in enumerate(requests):
        want = reference.decode(*request)
        got = fast.decode(*request)  # first call captures, later calls replay
        torch.testing.assert_close(got.to(want.device), want, atol=2e-2, rtol=0)
        torch.testing.assert_close(fast.decode(*request).to(want.device), got.to(want.device))
        if batched is not None:
            torch.testing.assert_close(batched[i].to(want.device), want, atol=2e-2, rtol=0)
