"""The TensorRT path: what runs without TensorRT is tested here; engine runs skip without it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vid2vid.engines.buffers import BufferPlan, TensorSpec, split_batch
from vid2vid.engines.engine_cache import EngineKey, check_entry, slug, write_entry
from vid2vid.engines.graph_version import EXPORT_TAG
from vid2vid.engines.runtime import tensorrt_available
from vid2vid.errors import InputError, ModelMismatchError

NO_TRT = "TensorRT/pycuda not installed"


def _decoder_plan(max_batch: int) -> BufferPlan:
    return BufferPlan(
        (
            TensorSpec("volume", (-1, 4, 4, 16, 16), "float32", True),
            TensorSpec("source_points", (-1, 10, 3), "float32", True),
            TensorSpec("frame", (-1, 3, 64, 64), "float32", False),
        ),
        max_batch,
    )


def test_buffers_are_sized_for_the_largest_batch():
    plan = _decoder_plan(16)
    sizes = plan.allocation_bytes()
    assert sizes == {
        "volume": 16 * 4 * 4 * 16 * 16 * 4,
        "source_points": 16 * 30 * 4,
        "frame": 16 * 3 * 64 * 64 * 4,
    }
    assert [t.name for t in plan.inputs] == ["volume", "source_points"]
    assert plan.outputs[0].shape_at(3) == (3, 3, 64, 64)


def test_calls_are_checked_against_the_profile():
    plan = _decoder_plan(4)
    feeds = {"volume": np.zeros((2, 4, 4, 16, 16)), "source_points": np.zeros((2, 10, 3))}
    assert plan.batch_of(feeds) == 2
    host = plan.host_inputs(feeds)
    assert host["volume"].dtype == np.float32 and host["volume"].flags.c_contiguous
    with pytest.raises(InputError, match="missing engine input 'source_points'"):
        plan.batch_of({"volume": feeds["volume"]})
    with pytest.raises(InputError, match=r"must be \(-1, 10, 3\) \(batch first\), got \(2, 9, 3\)"):
        plan.batch_of({**feeds, "source_points": np.zeros((2, 9, 3))})
    with pytest.raises(InputError, match=r"disagree on the batch size: \[1, 2\]"):
        plan.batch_of({**feeds, "source_points": np.zeros((1, 10, 3))})
    with pytest.raises(InputError, match=r"batch 5 is outside the engine's profile 1..4"):
        plan.batch_of(
            {"volume": np.zeros((5, 4, 4, 16, 16)), "source_points": np.zeros((5, 10, 3))}
        )
    with pytest.raises(InputError, match="only the first"):
        TensorSpec("x", (1, -1), "float32", True)
    assert split_batch(10, 4) == [(0, 4), (4, 8), (8, 10)]


def test_buffer_layout_fits_the_onnx_the_engines_are_built_from(settled, exported):
    import onnx
    import torch

    from vid2vid.engines.graphs import example_inputs, graph_module

    folder, _, _ = exported
    model = onnx.load(str(folder / "decoder_planar.onnx"))
    inputs = example_inputs(settled.model, "decoder", batch=3)
    with torch.no_grad():
        frame = graph_module(settled.model, "decoder")(*inputs)
    # The build's optimization profile varies axis 0 only: every other input axis must be fixed.
    specs = []
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        specs.append(
            TensorSpec(
                value.name, tuple(-1 if d.dim_param else d.dim_value for d in dims), "float32", True
            )
        )
    # TensorRT infers the output's fixed axes at build time; torch says what they are.
    specs.append(TensorSpec("frame", (-1, *frame.shape[1:]), "float32", False))
    plan = BufferPlan(tuple(specs), max_batch=16)
    names = [s.name for s in plan.inputs]
    assert names == [
        "volume",
        "source_points",
        "source_rotation",
        "driving_points",
        "driving_rotation",
    ]
    feeds = {n: t.numpy() for n, t in zip(names, inputs, strict=True)}
    assert plan.batch_of(feeds) == 3
    assert plan.allocation_bytes()["frame"] == 16 * frame[0].numel() * 4


def test_engine_cache_key_names_model_gpu_and_tensorrt(tmp_path):
    key = EngineKey("ab" * 16, "decoder", "NVIDIA H100 80GB HBM3", "10.15.1", True, 16)
    assert key.file_name == "decoder-fp16-b16-nvidia-h100-80gb-hbm3-trt10.15.1.engine"
    assert key.path(tmp_path).parent == tmp_path / "tensorrt" / key.fingerprint / EXPORT_TAG
    older_export = EngineKey(key.fingerprint, "decoder", key.gpu, "10.15.1", True, 16, "old")
    assert older_export.path(tmp_path) != key.path(tmp_path)  # new export code, new engine
    other_gpu = EngineKey(key.fingerprint, "decoder", "NVIDIA A10", "10.15.1", True, 16)
    assert other_gpu.path(tmp_path) != key.path(tmp_path)
    assert not check_entry(key.path(tmp_path), key)
    path = write_entry(tmp_path, key, b"serialized engine")
    assert path.read_bytes() == b"serialized engine" and check_entry(path, key)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["gpu"] == "NVIDIA H100 80GB HBM3" and sidecar["tensorrt"] == "10.15.1"
    stale = EngineKey(key.fingerprint, "decoder", key.gpu, key.tensorrt, True, 16)
    path.with_suffix(".json").write_text(json.dumps({**sidecar, "tensorrt": "10.0.1"}))
    with pytest.raises(
        ModelMismatchError, match="built for tensorrt='10.0.1', this run needs '10.15.1'"
    ):
        check_entry(path, stale)
    assert slug("  Tesla T4 ") == "tesla-t4"


def test_tensorrt_path_imports_without_torch():
    code = (
        "import sys; import vid2vid.engines.tensorrt_runtime, vid2vid.engines.buffers, "
        "vid2vid.engines.engine_cache, vid2vid.engines.trt_ops; "
        "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.trt
@pytest.mark.gpu
@pytest.mark.skipif(not tensorrt_available(), reason=NO_TRT)
def test_tensorrt_runtime_matches_torch(settled, image, tmp_path):  # pragma: no cover - GPU only
    import torch

    from vid2vid.engines import open_runtime
    from vid2vid.engines.tensorrt_runtime import TensorRTRuntime

    runtime = TensorRTRuntime.from_loaded(settled, fp16=False, max_batch=4, cache=tmp_path)
    reference = open_runtime(settled, "torch")
    keyframe = reference.encode_keyframe(image)
    source = settled.model.pose(keyframe.canonical, keyframe.motion)
    frame = runtime.decode(keyframe.volume, source, source)
    torch.testing.assert_close(
        frame, reference.decode(keyframe.volume, source, source), atol=1e-3, rtol=0
    )
    motion = runtime.extract_motion(image, reference=image.flip(-1))  # ignored: absolute motion
    torch.testing.assert_close(motion.yaw, reference.extract_motion(image).yaw, atol=1e-2, rtol=0)


def test_a_larger_batch_engine_serves_a_smaller_batch(tmp_path):
    """vid2vid-engines build --batch 16 makes the engine a batch-1 receiver then opens."""
    from vid2vid.engines.engine_cache import find_covering

    fingerprint, gpu = "cd" * 16, "NVIDIA H100 80GB HBM3"
    wanted = EngineKey(fingerprint, "decoder", gpu, "10.15.1", True, 1)
    assert find_covering(tmp_path, wanted) is None
    fp32 = write_entry(tmp_path, EngineKey(fingerprint, "decoder", gpu, "10.15.1", False, 16), b"x")
    b32 = write_entry(tmp_path, EngineKey(fingerprint, "decoder", gpu, "10.15.1", True, 32), b"x")
    b16 = write_entry(tmp_path, EngineKey(fingerprint, "decoder", gpu, "10.15.1", True, 16), b"x")
    assert find_covering(tmp_path, wanted) == b16  # the smallest covering one, same precision
    assert fp32 != b16 and b32 != b16
    assert (
        find_covering(tmp_path, EngineKey(fingerprint, "decoder", gpu, "10.15.1", True, 64)) is None
    )
    exact = write_entry(tmp_path, wanted, b"x")
    assert find_covering(tmp_path, wanted) == exact


def test_a_keyframe_volume_is_copied_to_the_gpu_once_per_keyframe():
    """TensorRTRuntime.decode copies f_s host->device on a keyframe's first frame only; a new
    keyframe, an in-place change or a chunked batch copies it again. Run with a stand-in for
    the engine, since no GPU is here."""
    import torch

    from vid2vid.codec.config import preset
    from vid2vid.codec.keypoints import Keypoints
    from vid2vid.engines.buffers import ResidentInput
    from vid2vid.engines.tensorrt_runtime import TensorRTRuntime

    class StandIn:
        plan = _decoder_plan(2)

        def __init__(self) -> None:
            self.resident: list[frozenset[str]] = []

        def __call__(self, feeds, resident=frozenset()):
            self.resident.append(resident)
            return {"frame": np.zeros((feeds["volume"].shape[0], 3, 64, 64), np.float32)}

    runtime = TensorRTRuntime({}, preset("tiny"), fp16=True)
    engine = StandIn()
    runtime._engines["decoder"] = engine  # type: ignore[assignment]
    kp = Keypoints(torch.zeros(1, 10, 3), torch.eye(3)[None])
    volume = runtime.place_volume(torch.ones(1, 4, 4, 16, 16))
    for _ in range(3):
        runtime.decode(volume, kp, kp)
    assert engine.resident == [frozenset(), frozenset({"volume"}), frozenset({"volume"})]
    volume.mul_(2)  # changed in place: copied again
    runtime.decode(volume, kp, kp)
    other = runtime.place_volume(torch.ones(1, 4, 4, 16, 16))  # the next keyframe
    runtime.decode(other, kp, kp)
    assert engine.resident[3:] == [frozenset(), frozenset()]
    big = torch.ones(3, 4, 4, 16, 16)  # more than the profile's batch: runs in chunks
    kp3 = Keypoints(torch.zeros(3, 10, 3), torch.eye(3).expand(3, 3, 3))
    runtime.decode(big, kp3, kp3)
    runtime.decode(big, kp3, kp3)
    assert engine.resident[5:] == [frozenset(), frozenset()]
    plain = ResidentInput()
    array = np.ones(3)
    plain.remember(array)
    assert not plain.holds(array)  # no version counter: never taken as resident
